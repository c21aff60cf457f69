import { describe, expect, it } from 'vitest';
import { MASK_WORDS, isAncestorRow, layoutTree, treePositions } from '../../src/tree/layout';
import type { DraftTree } from '../../src/tree/types';
import { TreeError } from '../../src/tree/validate';
import { RandomDrafter } from '../../src/draft/random';
import type { DraftContext } from '../../src/draft/drafter';

const V = 1000;

function tree(tokens: number[], parents: number[]): DraftTree {
  return { tokens: Int32Array.from(tokens), parents: Int32Array.from(parents), draft: { kind: 'deterministic' } };
}

/** Mask rows as explicit sets of row indices, from the bit layout documented in TreeLayout. */
function maskSets(mask: Uint32Array, rows: number): number[][] {
  const sets: number[][] = [];
  for (let r = 0; r < rows; r++) {
    const s: number[] = [];
    for (let j = 0; j < 128; j++) if ((mask[r * MASK_WORDS + (j >> 5)] >>> (j & 31)) & 1) s.push(j);
    sets.push(s);
  }
  return sets;
}

/** Independent oracle: ancestors of row r by walking parents, r itself included, sorted. */
function ancestorsByWalk(parents: Int32Array, r: number): number[] {
  const out: number[] = [];
  for (let row = r; ; row = parents[row - 1] + 1) {
    out.push(row);
    if (row === 0) break;
  }
  return out.sort((a, b) => a - b);
}

describe('layoutTree', () => {
  it('lays out the empty tree as the root alone', () => {
    const l = layoutTree(tree([], []), V);
    expect(l.rows).toBe(1);
    expect([...l.depth]).toEqual([0]);
    expect(maskSets(l.mask, 1)).toEqual([[0]]);
    expect(l.children.map((c) => [...c])).toEqual([[]]);
  });

  it('lays out a single node', () => {
    const l = layoutTree(tree([7], [-1]), V);
    expect(l.rows).toBe(2);
    expect([...l.depth]).toEqual([0, 1]);
    expect(maskSets(l.mask, 2)).toEqual([[0], [0, 1]]);
    expect(l.children.map((c) => [...c])).toEqual([[1], []]);
    expect([...treePositions(l, 41)]).toEqual([41, 42]);
  });

  it('lays out a chain', () => {
    const l = layoutTree(tree([5, 6, 7, 8], [-1, 0, 1, 2]), V);
    expect([...l.depth]).toEqual([0, 1, 2, 3, 4]);
    expect(maskSets(l.mask, 5)).toEqual([[0], [0, 1], [0, 1, 2], [0, 1, 2, 3], [0, 1, 2, 3, 4]]);
    expect(l.children.map((c) => [...c])).toEqual([[1], [2], [3], [4], []]);
    expect([...treePositions(l, 0)]).toEqual([0, 1, 2, 3, 4]);
  });

  it('lays out a star', () => {
    const l = layoutTree(tree([3, 1, 2], [-1, -1, -1]), V);
    expect([...l.depth]).toEqual([0, 1, 1, 1]);
    expect(maskSets(l.mask, 4)).toEqual([[0], [0, 1], [0, 2], [0, 3]]);
    expect(l.children.map((c) => [...c])).toEqual([[1, 2, 3], [], [], []]);
  });

  it('lays out a mixed tree with children in node order', () => {
    // root -> a(0), b(1); a -> c(2), d(3); b -> e(4); d -> f(5)
    const l = layoutTree(tree([10, 11, 12, 13, 14, 15], [-1, -1, 0, 0, 1, 3]), V);
    expect([...l.depth]).toEqual([0, 1, 1, 2, 2, 2, 3]);
    expect(l.children.map((c) => [...c])).toEqual([[1, 2], [3, 4], [5], [], [6], [], []]);
    expect(maskSets(l.mask, 7)[6]).toEqual([0, 1, 4, 6]);
    expect(isAncestorRow(l, 4, 6)).toBe(true);
    expect(isAncestorRow(l, 2, 6)).toBe(false);
  });

  it('lays out a full 127-node binary tree (128 rows, every mask word used)', () => {
    const tokens: number[] = [];
    const parents: number[] = [];
    // Heap numbering over rows: row r >= 1 has parent row (r - 1) >> 1, so node i = r - 1.
    for (let r = 1; r < 128; r++) {
      parents.push(((r - 1) >> 1) - 1);
      tokens.push(r % 2);
    }
    const t = tree(tokens, parents);
    const l = layoutTree(t, V);
    expect(l.rows).toBe(128);
    const sets = maskSets(l.mask, 128);
    for (let r = 0; r < 128; r++) {
      expect(sets[r]).toEqual(ancestorsByWalk(t.parents, r));
      expect(l.depth[r]).toBe(Math.floor(Math.log2(r + 1)));
    }
    expect(l.depth[127]).toBe(7);
    expect(l.mask[127 * MASK_WORDS + 3] >>> 31).toBe(1); // bit 127 of the last row
    expect(l.children[0].length).toBe(2);
    expect([...l.children[63]]).toEqual([127]); // row 63 keeps only its left child
    expect(l.children[64].length).toBe(0);
  });

  it('matches walk-the-parents oracles on 300 random trees up to 127 nodes', () => {
    const drafter = new RandomDrafter({ vocabSize: 5, seed: 11 });
    const ctx = {} as DraftContext; // the random drafter reads nothing from its context
    for (let k = 0; k < 300; k++) {
      const t = drafter.propose(ctx, 1 + (k % 127));
      const l = layoutTree(t, 5);
      const sets = maskSets(l.mask, l.rows);
      for (let r = 0; r < l.rows; r++) {
        const anc = ancestorsByWalk(t.parents, r);
        expect(sets[r]).toEqual(anc);
        expect(l.depth[r]).toBe(anc.length - 1);
        const kids = [...t.parents].flatMap((p, i) => (p + 1 === r ? [i + 1] : []));
        expect([...l.children[r]]).toEqual(kids);
      }
    }
  });

  it('rejects a 128-node tree and honours a smaller maxRows', () => {
    const big = tree(Array.from({ length: 128 }, (_, i) => i), new Array(128).fill(-1));
    expect(() => layoutTree(big, V)).toThrow(/128 nodes, expected at most 127/);
    const star = tree([1, 2, 3, 4], [-1, -1, -1, -1]);
    expect(() => layoutTree(star, V, 4)).toThrow(TreeError);
    expect(layoutTree(star, V, 5).rows).toBe(5);
    expect(() => layoutTree(star, V, 129)).toThrow(/maxRows = 129/);
  });
});

describe('validateTree errors', () => {
  const cases: [string, DraftTree, RegExp][] = [
    ['parent after its child', tree([1, 2], [1, -1]), /node 0: parents\[0\] = 1, expected -1 \(the root\) or a node index in \[0, 0\)/],
    ['self parent', tree([1, 2], [-1, 1]), /node 1: parents\[1\] = 1/],
    ['parent below -1', tree([1], [-2]), /node 0: parents\[0\] = -2/],
    ['depth decreasing (not BFS)', tree([1, 2, 3], [-1, 0, -1]), /node 2: depth 1 after node 1 at depth 2/],
    ['token too large', tree([1, V], [-1, -1]), new RegExp(`node 1: tokens\\[1\\] = ${V}, expected an integer in \\[0, ${V}\\)`)],
    ['negative token', tree([-3], [-1]), /node 0: tokens\[0\] = -3/],
    ['duplicate root children', tree([4, 4], [-1, -1]), /node 1: token 4 repeats a sibling under the root/],
    ['duplicate deeper siblings', tree([4, 5, 6, 6], [-1, -1, 0, 0]), /node 3: token 6 repeats a sibling under node 0/],
    ['unequal lengths', { tokens: Int32Array.from([1, 2]), parents: Int32Array.from([-1]), draft: { kind: 'deterministic' } }, /parents.length = 1, expected tokens.length = 2/],
  ];
  for (const [name, t, msg] of cases) {
    it(`throws TreeError: ${name}`, () => {
      let err: unknown;
      try {
        layoutTree(t, V);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TreeError);
      expect((err as Error).name).toBe('TreeError');
      expect((err as Error).message).toMatch(msg);
    });
  }

  it('accepts equal tokens under different parents (cousins)', () => {
    expect(layoutTree(tree([4, 5, 6, 6], [-1, -1, 0, 1]), V).rows).toBe(5);
  });

  it('checks sampled q: length, presence, positivity; repeats allowed only with replacement', () => {
    const q = new Float32Array(V).fill(1 / V);
    const sampled = (withReplacement: boolean, qs: (Float32Array | null)[], tokens = [4, 4]): DraftTree => ({
      tokens: Int32Array.from(tokens),
      parents: Int32Array.from(tokens.map(() => -1)),
      draft: { kind: 'sampled', withReplacement, q: qs },
    });
    expect(layoutTree(sampled(true, [q, null, null]), V).rows).toBe(3);
    expect(() => layoutTree(sampled(false, [q, null, null]), V)).toThrow(/repeats a sibling/);
    expect(() => layoutTree(sampled(true, [q, null]), V)).toThrow(/draft.q.length = 2, expected 3/);
    expect(() => layoutTree(sampled(true, [null, null, null]), V)).toThrow(/draft.q\[0\] is null/);
    expect(() => layoutTree(sampled(true, [new Float32Array(3), null, null]), V)).toThrow(/draft.q\[0\].length = 3/);
    const zero = new Float32Array(V).fill(1 / V);
    zero[4] = 0;
    expect(() => layoutTree(sampled(true, [zero, null, null]), V)).toThrow(/node 0: draft.q\[0\]\[4\] = 0, expected > 0/);
  });
});
