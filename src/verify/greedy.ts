import type { TreeLayout } from '../tree/layout';
import type { DraftTree } from '../tree/types';
import { TreeError } from '../tree/validate';
import type { AcceptResult } from './accept';

/**
 * Greedy (temperature 0) tree acceptance, DESIGN section 5: walk from the root; at row u the
 * child whose token equals the target's argmax at u is accepted and becomes the current row;
 * when no child matches, the argmax at u is the bonus token. Ties inside the argmax are broken
 * by the lowest token id by whoever computes rowArgmax, exactly as the plain decoder does.
 *
 * Invariant: every accepted token equals what plain greedy decoding would emit after the same
 * prefix, because row u's logits are the target's given the root-to-u path (tree attention),
 * and the bonus is that same argmax. So the committed tokens equal plain greedy's.
 *
 * Siblings hold distinct tokens (validateTree), so at most one child matches; in a tree sampled
 * with replacement repeats are allowed and the first match in node order is taken.
 *
 * rowArgmax: (rows) the target's argmax at each verify row (row 0 = root, row i+1 = node i).
 */
export function acceptGreedy(tree: DraftTree, layout: TreeLayout, rowArgmax: Int32Array): AcceptResult {
  if (layout.rows !== tree.tokens.length + 1) {
    throw new TreeError(`layout.rows = ${layout.rows}, expected tree nodes + 1 = ${tree.tokens.length + 1} (layout of another tree?)`);
  }
  if (rowArgmax.length < layout.rows) throw new TreeError(`rowArgmax.length = ${rowArgmax.length}, expected at least rows = ${layout.rows}`);
  const path: number[] = [];
  let row = 0;
  for (;;) {
    const want = rowArgmax[row];
    const kids = layout.children[row];
    let next = -1;
    for (let c = 0; c < kids.length; c++) {
      if (tree.tokens[kids[c] - 1] === want) {
        next = kids[c];
        break;
      }
    }
    if (next < 0) return { nodes: Int32Array.from(path), bonus: want };
    path.push(next - 1);
    row = next;
  }
}
