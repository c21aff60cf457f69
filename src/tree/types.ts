/**
 * A draft tree below the root (the last committed token, not yet run through the target).
 * Nodes are in BFS order: a parent always precedes its children, so node i's verify row is
 * i + 1 (row 0 is the root).
 */
export interface DraftTree {
  /** (m) token id of each node. */
  tokens: Int32Array;
  /** (m) parent node index; -1 means the root. */
  parents: Int32Array;
  /** What stochastic verification needs of how the children were chosen (DESIGN section 5). */
  draft: DraftProbabilities;
}

export type DraftProbabilities =
  /** Children chosen deterministically (lookup, retrieval, recycling, top-k): q is one-hot. */
  | { kind: 'deterministic' }
  /**
   * Children of row r were sampled from q[r] (a distribution over the vocabulary; null for
   * rows without children), with or without replacement, in node order. Empty in the tree
   * a step grown on the GPU reports (src/draft/gpu-grow.ts): q stayed on the GPU, where its
   * acceptance walk read it.
   */
  | { kind: 'sampled'; withReplacement: boolean; q: (Float32Array | null)[] };

/** The empty tree (plain decoding). */
export function emptyTree(): DraftTree {
  return { tokens: new Int32Array(0), parents: new Int32Array(0), draft: { kind: 'deterministic' } };
}
