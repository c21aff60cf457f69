/**
 * DiffuSpec's causal-consistency path search (Li et al. 2025): a block drafter gives, for each
 * of K future positions, its top candidates with probabilities (the lattice); any choice of one
 * candidate per position 1..d is a path, but positions were predicted independently, so a path
 * can be incoherent. Each path is scored by the drafter's probabilities and a causal score
 * (how plausible each token is after the context and the path before it, here the online n-gram
 * cache), and the best paths are merged into one draft tree under the node budget.
 *
 * Score of a node (a path prefix t_1..t_d): sum over j <= d of log p_j(t_j) + w log c(t_j | ...),
 * with p_j <= 1 and c in (0, 1], so a node never outscores its parent. The tree is the `budget`
 * best nodes in the order (score desc, depth asc, candidate ranks lexicographic asc), which is
 * prefix-closed because every node follows its parent in that order; best-first expansion from
 * the root finds exactly that set. Adaptive draft length: nodes whose path probability
 * exp(score) falls under `minScore` are not drafted, so a confident lattice drafts deep and
 * an unsure one stops early (and may draft fewer nodes than the budget).
 */

/** Per-position candidates of a block drafter: (depth, width) tokens and probabilities, each row best first. */
export interface Lattice {
  depth: number;
  width: number;
  /** (depth, width) token ids; -1 = no candidate. */
  tokens: Int32Array;
  /** (depth, width) the drafter's probability of each candidate at its position. */
  probs: Float32Array;
}

/**
 * Causal score of `token` following the context and the path tokens path[0..len): in (0, 1],
 * 1 = fully consistent. Must be deterministic within one search.
 */
export type CausalScore = (path: Int32Array, len: number, token: number) => number;

export interface PathSearchOptions {
  /** Nodes at most. */
  budget: number;
  /** Weight w of the causal score's log. */
  causalWeight: number;
  /** Nodes whose exp(score) is below this are not drafted (adaptive length); 0 drafts to the budget. */
  minScore: number;
}

/** A searched tree in BFS order (parent before child), with each node's candidate rank and score. */
export interface SearchedTree {
  tokens: Int32Array;
  parents: Int32Array;
  /** (m) the node's candidate index in its lattice row (its depth - 1). */
  ranks: Int32Array;
  /** (m) the node's path score (natural log). */
  scores: Float64Array;
}

interface Node {
  parent: number;
  depth: number;
  rank: number;
  token: number;
  score: number;
  /** Candidate ranks root..node, for the order's last key. */
  ranks: number[];
}

/** True when a comes before b in the selection order (score desc, depth asc, ranks lexicographic). */
export function before(a: { score: number; ranks: number[] }, b: { score: number; ranks: number[] }): boolean {
  if (a.score !== b.score) return a.score > b.score;
  if (a.ranks.length !== b.ranks.length) return a.ranks.length < b.ranks.length;
  for (let i = 0; i < a.ranks.length; i++) if (a.ranks[i] !== b.ranks[i]) return a.ranks[i] < b.ranks[i];
  return false;
}

/** The term a candidate adds to its parent's score; -Infinity when it cannot be drafted. */
export function stepScore(lattice: Lattice, causal: CausalScore, w: number, path: Int32Array, depth: number, rank: number): number {
  const i = depth * lattice.width + rank;
  const tok = lattice.tokens[i];
  const p = lattice.probs[i];
  if (tok < 0 || !(p > 0)) return -Infinity;
  const c = causal(path, depth, tok);
  return Math.log(p) + (w === 0 ? 0 : w * Math.log(c));
}

export function searchPaths(lattice: Lattice, causal: CausalScore, opts: PathSearchOptions): SearchedTree {
  const floor = opts.minScore > 0 ? Math.log(opts.minScore) : -Infinity;
  const chosen: Node[] = [];
  const frontier: Node[] = [];
  const path = new Int32Array(lattice.depth);
  const expand = (parent: number): void => {
    const d = parent < 0 ? 0 : chosen[parent].depth;
    if (d >= lattice.depth) return;
    // The path root..parent, for the causal score.
    for (let u = parent; u >= 0; u = chosen[u].parent) path[chosen[u].depth - 1] = chosen[u].token;
    const base = parent < 0 ? 0 : chosen[parent].score;
    const ranks = parent < 0 ? [] : chosen[parent].ranks;
    for (let r = 0; r < lattice.width; r++) {
      const score = base + stepScore(lattice, causal, opts.causalWeight, path, d, r);
      if (!(score >= floor) || score === -Infinity) continue;
      frontier.push({ parent, depth: d + 1, rank: r, token: lattice.tokens[d * lattice.width + r], score, ranks: [...ranks, r] });
    }
  };
  expand(-1);
  while (chosen.length < opts.budget && frontier.length > 0) {
    let best = 0;
    for (let i = 1; i < frontier.length; i++) if (before(frontier[i], frontier[best])) best = i;
    const node = frontier[best];
    frontier[best] = frontier[frontier.length - 1];
    frontier.pop();
    chosen.push(node);
    expand(chosen.length - 1);
  }
  return toBfs(chosen);
}

/** The chosen nodes (each after its parent) reordered breadth first, parents remapped. */
function toBfs(nodes: Node[]): SearchedTree {
  const order = nodes.map((_, i) => i).sort((a, b) => nodes[a].depth - nodes[b].depth || a - b);
  const at = new Int32Array(nodes.length);
  order.forEach((old, i) => (at[old] = i));
  const m = nodes.length;
  const out: SearchedTree = { tokens: new Int32Array(m), parents: new Int32Array(m), ranks: new Int32Array(m), scores: new Float64Array(m) };
  order.forEach((old, i) => {
    const n = nodes[old];
    out.tokens[i] = n.token;
    out.parents[i] = n.parent < 0 ? -1 : at[n.parent];
    out.ranks[i] = n.rank;
    out.scores[i] = n.score;
  });
  return out;
}
