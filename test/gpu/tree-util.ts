/**
 * Random draft trees for the kernel tests: parents in BFS order (row 0 is the root, parent of
 * row i < i), their ancestor bitmasks (bit j of row r set iff row j is r or an ancestor of r)
 * and depths, so that the CPU oracle's visibility is derived independently of the kernels.
 */
import { rng } from './util.ts';

export interface TestTree {
  /** (rows) parent row, -1 for the root. */
  parents: Int32Array;
  /** (rows) depth, root = 0. */
  depths: Int32Array;
  /** (rows, 4) u32 ancestor bitmask. */
  mask: Uint32Array;
}

/** A tree from parents (parent of row i < i, row 0 the root). */
export function treeFromParents(parents: Int32Array): TestTree {
  const rows = parents.length;
  const depths = new Int32Array(rows);
  const mask = new Uint32Array(rows * 4);
  for (let r = 0; r < rows; r++) {
    for (let a = r; a >= 0; a = parents[a]) mask[r * 4 + (a >> 5)] |= 1 << (a & 31);
    depths[r] = r === 0 ? 0 : depths[parents[r]] + 1;
  }
  return { parents, depths, mask };
}

/** A random tree of `rows` rows. */
export function randomTree(rows: number, seed: number): TestTree {
  const r = rng(seed);
  return treeFromParents(Int32Array.from({ length: rows }, (_, i) => (i === 0 ? -1 : Math.floor(r() * i))));
}

/** A chain (causal chunk): row r's parent is r - 1. */
export function chain(rows: number): TestTree {
  return treeFromParents(Int32Array.from({ length: rows }, (_, i) => i - 1));
}

/** Whether row r sees slot s of a pass at `prefix`. */
export function sees(tree: TestTree, prefix: number, r: number, s: number): boolean {
  if (s < prefix) return true;
  const j = s - prefix;
  return j < tree.parents.length && ((tree.mask[r * 4 + (j >> 5)] >>> (j & 31)) & 1) === 1;
}
