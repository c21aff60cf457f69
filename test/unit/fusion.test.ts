/** RASD fusion: longest-prefix merging of retrieved paths into a draft tree, and draft-model pruning. */
import { describe, expect, it } from 'vitest';
import { fuseTrees, prunePaths } from '../../src/draft/fusion';
import { validateTree } from '../../src/tree/validate';
import { layoutTree } from '../../src/tree/layout';
import type { DraftTree } from '../../src/tree/types';

const V = 100;
/** Draft tree: 10 -> 11 -> 12, 10 -> 13, and 20 (BFS: 10, 20, 11, 13, 12). */
const base: DraftTree = { tokens: Int32Array.of(10, 20, 11, 13, 12), parents: Int32Array.of(-1, -1, 0, 0, 2), draft: { kind: 'deterministic' } };

/** Every root-to-node path of a tree as a comma-joined string. */
function paths(t: DraftTree): string[] {
  const out: string[] = [];
  for (let i = 0; i < t.tokens.length; i++) {
    const p: number[] = [];
    for (let u = i; u >= 0; u = t.parents[u]) p.unshift(t.tokens[u]);
    out.push(p.join(','));
  }
  return out.sort();
}

describe('fuseTrees', () => {
  it('merges shared prefixes once and appends only the new suffix', () => {
    const fused = fuseTrees(base, [Int32Array.of(10, 11, 12, 50, 51), Int32Array.of(10, 13, 60), Int32Array.of(20)], 20);
    validateTree(fused, V);
    layoutTree(fused, V);
    expect(paths(fused)).toEqual(['10', '10,11', '10,11,12', '10,11,12,50', '10,11,12,50,51', '10,13', '10,13,60', '20'].sort());
    expect(new Set(paths(fused)).size).toBe(fused.tokens.length); // no duplicated path
  });

  it('respects the budget: retrieved suffixes stop at it, base nodes beyond it are dropped from the BFS end', () => {
    const fused = fuseTrees(base, [Int32Array.of(30, 31, 32, 33)], 7);
    expect(fused.tokens.length).toBe(7);
    validateTree(fused, V);
    expect(paths(fused)).toEqual(['10', '10,11', '10,11,12', '10,13', '20', '30', '30,31'].sort());
    const small = fuseTrees(base, [Int32Array.of(30)], 3);
    validateTree(small, V);
    expect(paths(small)).toEqual(['10', '10,11', '20'].sort());
    for (let budget = 0; budget <= 12; budget++) {
      const t = fuseTrees(base, [Int32Array.of(10, 11, 40, 41), Int32Array.of(42, 43), Int32Array.of(20, 44)], budget);
      expect(t.tokens.length).toBeLessThanOrEqual(budget);
      validateTree(t, V);
    }
  });

  it('emits BFS order (depth non-decreasing) with distinct siblings even when paths add deep nodes first', () => {
    const fused = fuseTrees(base, [Int32Array.of(10, 11, 12, 70, 71, 72), Int32Array.of(80), Int32Array.of(10, 81)], 30);
    const depth = validateTree(fused, V);
    for (let r = 2; r < depth.length; r++) expect(depth[r]).toBeGreaterThanOrEqual(depth[r - 1]);
    expect(fused.draft.kind).toBe('deterministic');
  });

  it('an empty base gives the retrieval trie', () => {
    const empty: DraftTree = { tokens: new Int32Array(0), parents: new Int32Array(0), draft: { kind: 'deterministic' } };
    const t = fuseTrees(empty, [Int32Array.of(1, 2, 3), Int32Array.of(1, 2, 4), Int32Array.of(5)], 10);
    expect(paths(t)).toEqual(['1', '1,2', '1,2,3', '1,2,4', '5'].sort());
  });
});

describe('prunePaths', () => {
  it('cuts each path at its first token outside the draft top-k and drops empty ones', () => {
    // The draft's top-k after a prefix: {1, 2} at the root, {3} after [1], {9} elsewhere.
    const topK = (p: Int32Array, d: number) => (d === 0 ? [1, 2] : d === 1 && p[0] === 1 ? [3] : [9]);
    const out = prunePaths([Int32Array.of(1, 3, 9, 4), Int32Array.of(2, 5), Int32Array.of(7, 1)], topK);
    expect(out.map((p) => Array.from(p))).toEqual([[1, 3, 9], [2]]);
  });
});
