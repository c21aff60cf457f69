import { TreespecError } from '../errors';
import type { DraftTree } from './types';

/**
 * A draft tree breaks the DraftTree contract (src/tree/types.ts). The message names the node,
 * the field, the value found and what was expected. A drafter that produces one has a bug;
 * the engine never verifies an invalid tree, because the ancestor masks, RoPE positions and
 * the acceptance walk all assume the contract.
 */
export class TreeError extends TreespecError {
  override name = 'TreeError';
}

/** Rows one ancestor bitmask can describe: four u32 words per row (DESIGN section 3, step 2). */
export const MAX_TREE_ROWS = 128;

/**
 * Checks a tree and returns each row's depth, (m+1) Int32Array, row 0 = the root at depth 0,
 * row i+1 = node i. Throws TreeError on the first violation of:
 *  - tokens and parents have the same length m, and m <= maxRows - 1 (the root takes a row);
 *  - parents[i] is -1 (the root) or a node index below i (a parent precedes its children);
 *  - depth never decreases in node order (BFS order);
 *  - tokens are integers in [0, vocabSize);
 *  - siblings hold distinct tokens, except in trees sampled WITH replacement, where i.i.d.
 *    draws repeat tokens legitimately (SpecInfer's multi-step sampling): the verifier rejects
 *    a repeated token with certainty, because after the first rejection of t the residual has
 *    p(t) = 0, so a repeat costs a row but never biases the output;
 *  - a sampled tree carries q for every row with children: (vocabSize) Float32Array with
 *    q[row][t] > 0 for every child token t (a child drawn from q cannot have q(t) = 0; the
 *    acceptance ratio p/q would be undefined).
 */
export function validateTree(tree: DraftTree, vocabSize: number, maxRows = MAX_TREE_ROWS): Int32Array {
  if (!Number.isInteger(maxRows) || maxRows < 1 || maxRows > MAX_TREE_ROWS) {
    throw new TreeError(`maxRows = ${maxRows}, expected an integer in [1, ${MAX_TREE_ROWS}] (four u32 mask words per row)`);
  }
  if (!Number.isInteger(vocabSize) || vocabSize < 1) throw new TreeError(`vocabSize = ${vocabSize}, expected a positive integer`);
  const m = tree.tokens.length;
  if (tree.parents.length !== m) {
    throw new TreeError(`parents.length = ${tree.parents.length}, expected tokens.length = ${m} (one parent per node)`);
  }
  if (m > maxRows - 1) throw new TreeError(`tree has ${m} nodes, expected at most ${maxRows - 1} (maxRows ${maxRows} includes the root row)`);

  const depth = new Int32Array(m + 1); // (rows) row 0 = root
  for (let i = 0; i < m; i++) {
    const parent = tree.parents[i];
    if (!Number.isInteger(parent) || parent < -1 || parent >= i) {
      throw new TreeError(`node ${i}: parents[${i}] = ${parent}, expected -1 (the root) or a node index in [0, ${i})`);
    }
    depth[i + 1] = depth[parent + 1] + 1;
    if (i > 0 && depth[i + 1] < depth[i]) {
      throw new TreeError(`node ${i}: depth ${depth[i + 1]} after node ${i - 1} at depth ${depth[i]}, expected non-decreasing depth (BFS order)`);
    }
    const t = tree.tokens[i];
    if (!Number.isInteger(t) || t < 0 || t >= vocabSize) {
      throw new TreeError(`node ${i}: tokens[${i}] = ${t}, expected an integer in [0, ${vocabSize})`);
    }
  }
  const draft = tree.draft;
  const allowRepeats = draft.kind === 'sampled' && draft.withReplacement;
  if (!allowRepeats) checkDistinctSiblings(tree, vocabSize);
  if (draft.kind === 'sampled') checkSampledQ(tree, draft.q, vocabSize);
  return depth;
}

/** Siblings (children of one row) hold distinct tokens. */
function checkDistinctSiblings(tree: DraftTree, vocabSize: number): void {
  const seen = new Set<number>(); // key: parentRow * vocabSize + token, exact below 2^53
  for (let i = 0; i < tree.tokens.length; i++) {
    const key = (tree.parents[i] + 1) * vocabSize + tree.tokens[i];
    if (seen.has(key)) {
      const parent = tree.parents[i];
      const where = parent === -1 ? 'the root' : `node ${parent}`;
      throw new TreeError(`node ${i}: token ${tree.tokens[i]} repeats a sibling under ${where}, expected distinct sibling tokens`);
    }
    seen.add(key);
  }
}

/** q has one entry per row, a (vocabSize) distribution for every row with children, q(t) > 0 for its children. */
function checkSampledQ(tree: DraftTree, q: (Float32Array | null)[], vocabSize: number): void {
  const rows = tree.tokens.length + 1;
  if (q.length !== rows) throw new TreeError(`draft.q.length = ${q.length}, expected ${rows} (one entry per row, root included)`);
  for (let i = 0; i < tree.tokens.length; i++) {
    const row = tree.parents[i] + 1;
    const qr = q[row];
    if (qr === null || qr === undefined) {
      throw new TreeError(`draft.q[${row}] is null but row ${row} has child node ${i}, expected its draft distribution`);
    }
    if (qr.length !== vocabSize) throw new TreeError(`draft.q[${row}].length = ${qr.length}, expected vocabSize = ${vocabSize}`);
    const qt = qr[tree.tokens[i]];
    if (!(qt > 0) || !Number.isFinite(qt)) {
      throw new TreeError(`node ${i}: draft.q[${row}][${tree.tokens[i]}] = ${qt}, expected > 0 (a sampled child must have positive draft probability)`);
    }
  }
}
