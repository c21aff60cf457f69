import { describe, expect, it } from 'vitest';
import { layoutTree } from '../../src/tree/layout';
import type { DraftTree } from '../../src/tree/types';
import { TreeError } from '../../src/tree/validate';
import { acceptGreedy } from '../../src/verify/greedy';

const V = 50;

function tree(tokens: number[], parents: number[]): DraftTree {
  return { tokens: Int32Array.from(tokens), parents: Int32Array.from(parents), draft: { kind: 'deterministic' } };
}

function run(t: DraftTree, argmax: number[]): { nodes: number[]; bonus: number } {
  const r = acceptGreedy(t, layoutTree(t, V), Int32Array.from(argmax));
  return { nodes: [...r.nodes], bonus: r.bonus };
}

// Tree used below: root -> a=10 (node 0), b=11 (node 1); a -> c=12 (2), d=13 (3); b -> e=12 (4); d -> f=14 (5)
// rows: root 0, a 1, b 2, c 3, d 4, e 5, f 6
const T = tree([10, 11, 12, 13, 12, 14], [-1, -1, 0, 0, 1, 3]);

describe('acceptGreedy', () => {
  it('emits only the bonus for the empty tree (plain decoding)', () => {
    expect(run(tree([], []), [7])).toEqual({ nodes: [], bonus: 7 });
  });

  it('rejects everything when the root argmax matches no child', () => {
    expect(run(T, [9, 12, 12, 0, 14, 0, 0])).toEqual({ nodes: [], bonus: 9 });
  });

  it('follows the second root child and stops at a leaf with its argmax as bonus', () => {
    // root argmax 11 -> b (row 2); b's argmax 12 -> e (row 5, node 4); e is a leaf, argmax 33
    expect(run(T, [11, 0, 12, 0, 0, 33, 0])).toEqual({ nodes: [1, 4], bonus: 33 });
  });

  it('accepts the full deepest path', () => {
    expect(run(T, [10, 13, 0, 0, 14, 0, 21])).toEqual({ nodes: [0, 3, 5], bonus: 21 });
  });

  it('stops mid-tree when the argmax differs from every child', () => {
    // root -> a (row 1); a's argmax 40 matches neither c=12 nor d=13
    expect(run(T, [10, 40, 12, 13, 14, 0, 0])).toEqual({ nodes: [0], bonus: 40 });
  });

  it('reads rows, not nodes: an argmax at an unvisited row is ignored', () => {
    // rows 2..6 disagree with everything; only rows 0 and 1 are visited
    expect(run(T, [10, 12, 1, 1, 1, 1, 1])).toEqual({ nodes: [0, 2], bonus: 1 });
  });

  it('takes the first matching child in node order when a sampled tree repeats a token', () => {
    const q = new Float32Array(V).fill(1 / V);
    const t: DraftTree = { tokens: Int32Array.from([5, 5]), parents: Int32Array.from([-1, -1]), draft: { kind: 'sampled', withReplacement: true, q: [q, null, null] } };
    const r = acceptGreedy(t, layoutTree(t, V), Int32Array.from([5, 8, 9]));
    expect([...r.nodes]).toEqual([0]);
    expect(r.bonus).toBe(8);
  });

  it('throws TreeError on a layout of another tree or a short argmax array', () => {
    const small = tree([1], [-1]);
    expect(() => acceptGreedy(T, layoutTree(small, V), new Int32Array(7))).toThrow(TreeError);
    expect(() => acceptGreedy(T, layoutTree(T, V), new Int32Array(3))).toThrow(/rowArgmax.length = 3/);
  });
});
