import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TokenTrie } from '../../src/tree/trie';
import { OptionsError } from '../../src/errors';
import { treePaths, treeViolations } from './drafters-tree-check';

describe('TokenTrie', () => {
  it('merges shared prefixes, sums weights and emits BFS order with best child first', () => {
    const t = new TokenTrie(64);
    t.insert([5, 6, 7], 1);
    t.insert([5, 6, 8], 2);
    t.insert([9], 1);
    t.insert([5, 1], 1);
    // nodes: 5(4) 6(3) 7(1) 8(2) 9(1) 1(1)
    expect(t.size).toBe(6);
    const tree = t.toDraftTree(10);
    expect(treeViolations(tree, 10)).toEqual([]);
    expect(Array.from(tree.tokens)).toEqual([5, 9, 6, 1, 8, 7]);
    expect(Array.from(tree.parents)).toEqual([-1, -1, 0, 0, 2, 2]);
  });

  it('keeps the best nodes under the budget, never a node without its parent', () => {
    const t = new TokenTrie(64);
    t.insert([1, 2, 3, 4], 10);
    t.insert([7], 3);
    t.insert([1, 5], 4);
    // scores: 1:14 2:10 3:10 4:10 5:4 7:3
    expect(treePaths(t.toDraftTree(3))).toEqual(['1', '1,2', '1,2,3']);
    expect(treePaths(t.toDraftTree(4))).toEqual(['1', '1,2', '1,2,3', '1,2,3,4']);
    expect(treePaths(t.toDraftTree(5))).toEqual(['1', '1,2', '1,5', '1,2,3', '1,2,3,4']);
  });

  it('handles budgets 0, 1, negative, NaN and an empty trie', () => {
    const t = new TokenTrie(16);
    expect(t.toDraftTree(5).tokens.length).toBe(0);
    t.insert([3, 4], 1);
    t.insert([2], 5);
    expect(t.toDraftTree(0).tokens.length).toBe(0);
    expect(t.toDraftTree(-3).tokens.length).toBe(0);
    expect(t.toDraftTree(NaN).tokens.length).toBe(0);
    const one = t.toDraftTree(1);
    expect(Array.from(one.tokens)).toEqual([2]);
    expect(Array.from(one.parents)).toEqual([-1]);
  });

  it('drops nodes at or below minScore', () => {
    const t = new TokenTrie(16);
    t.insertScored([1, 2, 3], [0.9, 0.5, 0.05]);
    t.insertScored([4], [0.01]);
    expect(treePaths(t.toDraftTree(10, 0.1))).toEqual(['1', '1,2']);
  });

  it('insertScored keeps the max score per node', () => {
    const t = new TokenTrie(16);
    t.insertScored([1, 2], [0.5, 0.2]);
    t.insertScored([1, 3], [0.4, 0.3]);
    expect(t.score(t.findChild(0, 1))).toBe(0.5);
    expect(treePaths(t.toDraftTree(2))).toEqual(['1', '1,3']);
  });

  it('truncates inserts at capacity instead of growing', () => {
    const t = new TokenTrie(4); // root + 3 nodes
    expect(t.insert([1, 2, 3, 4, 5], 1)).toBe(3);
    expect(t.insert([1, 9], 1)).toBe(1);
    expect(t.size).toBe(3);
    expect(treeViolations(t.toDraftTree(10), 10)).toEqual([]);
    t.clear();
    expect(t.size).toBe(0);
    expect(t.insert([8, 9], 1)).toBe(2);
  });

  it('rejects a bad capacity with a named error', () => {
    expect(() => new TokenTrie(0)).toThrow(OptionsError);
  });

  it('selects exactly the top-budget nodes of a brute-force ranking (random paths)', () => {
    const path = fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 6 });
    const entry = fc.record({ path, w: fc.integer({ min: 0, max: 9 }) });
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 30 }), fc.integer({ min: -1, max: 70 }), (entries, budget) => {
        const t = new TokenTrie(1024);
        // Brute force: node = path prefix; score = sum of weights through it; created in order.
        const nodes = new Map<string, { score: number; order: number; depth: number }>();
        for (const { path, w } of entries) {
          t.insert(path, w);
          for (let d = 1; d <= path.length; d++) {
            const key = path.slice(0, d).join(',');
            const n = nodes.get(key) ?? { score: 0, order: nodes.size, depth: d };
            n.score += w;
            nodes.set(key, n);
          }
        }
        const ranked = [...nodes.entries()].sort(
          ([, a], [, b]) => b.score - a.score || a.depth - b.depth || a.order - b.order,
        );
        const want = ranked.slice(0, Math.max(0, budget)).map(([k]) => k).sort();
        const tree = t.toDraftTree(budget);
        expect(treeViolations(tree, budget)).toEqual([]);
        expect(treePaths(tree).sort()).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });
});
