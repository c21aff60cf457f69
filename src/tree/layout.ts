import type { DraftTree } from './types';
import { MAX_TREE_ROWS, validateTree } from './validate';

/** u32 words of one row's ancestor bitmask: 4 x 32 = 128 rows (DESIGN section 3, step 2). */
export const MASK_WORDS = 4;

/**
 * How a draft tree is laid out as verify rows (DESIGN section 3): row 0 is the root (the last
 * committed token), row i+1 is node i. Row r has RoPE position `prefix + depth[r]` (prefix =
 * n-1, the root's position), writes its K/V into cache slot `prefix + r`, and attends to the
 * committed cache plus the rows whose bits are set in its mask.
 */
export interface TreeLayout {
  /** m + 1: the root and the m nodes. */
  rows: number;
  /** (rows) depth of each row; the root is 0, a child of the root 1. */
  depth: Int32Array;
  /**
   * (rows * MASK_WORDS) ancestor bitmask: bit j of row r (word r*4 + (j >> 5), bit j & 31) is
   * set iff row j is row r itself or one of its ancestors. Invariant: every row has bit 0
   * (the root) and its own bit set; a row's bits are a superset of its parent's.
   */
  mask: Uint32Array;
  /** Per row: the ROW indices of its children, in node order (the order verification tries them). */
  children: Int32Array[];
}

/**
 * Validates `tree` (throws TreeError, see validateTree) and computes its verify layout.
 * maxRows caps the rows, root included; at most 128, the rows a four-word mask can describe.
 */
export function layoutTree(tree: DraftTree, vocabSize: number, maxRows = MAX_TREE_ROWS): TreeLayout {
  const depth = validateTree(tree, vocabSize, maxRows);
  const rows = tree.tokens.length + 1;
  const mask = new Uint32Array(rows * MASK_WORDS); // (rows, MASK_WORDS)
  const childCount = new Int32Array(rows); // (rows)
  mask[0] = 1; // the root sees only itself
  for (let r = 1; r < rows; r++) {
    const parentRow = tree.parents[r - 1] + 1;
    childCount[parentRow]++;
    // BFS order puts the parent's row before r, so its mask is complete: inherit it, add r.
    for (let w = 0; w < MASK_WORDS; w++) mask[r * MASK_WORDS + w] = mask[parentRow * MASK_WORDS + w];
    mask[r * MASK_WORDS + (r >>> 5)] |= 1 << (r & 31);
  }
  const children: Int32Array[] = [];
  for (let r = 0; r < rows; r++) children.push(new Int32Array(childCount[r]));
  const filled = new Int32Array(rows); // (rows) children placed so far
  for (let r = 1; r < rows; r++) {
    const parentRow = tree.parents[r - 1] + 1;
    children[parentRow][filled[parentRow]++] = r;
  }
  return { rows, depth, mask, children };
}

/**
 * (rows) RoPE position of each row: prefix + depth, where prefix is the root's position (n-1
 * with n committed tokens). A row at depth j is rotated as position prefix + j, which is where
 * it lands after compaction if accepted, so accepted K/V never needs re-rotation.
 */
export function treePositions(layout: TreeLayout, prefix: number, out = new Int32Array(layout.rows)): Int32Array {
  for (let r = 0; r < layout.rows; r++) out[r] = prefix + layout.depth[r];
  return out;
}

/** True iff row j is row r or an ancestor of row r. */
export function isAncestorRow(layout: TreeLayout, j: number, r: number): boolean {
  return ((layout.mask[r * MASK_WORDS + (j >>> 5)] >>> (j & 31)) & 1) === 1;
}
