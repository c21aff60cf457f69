import { describe, expect, it } from 'vitest';
import { RecyclingDrafter, RecyclingStateError } from '../../src/draft/recycling';
import { buildTemplate, checkTemplate } from '../../src/draft/recycling-template';
import { OptionsError } from '../../src/errors';
import type { DraftTree } from '../../src/tree/types';
import { draftCtx, treePaths, treeViolations } from './drafters-tree-check';

const ctx = draftCtx;
const tree = (tokens: number[], parents: number[]): DraftTree => ({
  tokens: Int32Array.from(tokens),
  parents: Int32Array.from(parents),
  draft: { kind: 'deterministic' },
});
/** An observation of `t` with the given (rows, k) top-k and accepted nodes. */
const obs = (t: DraftTree, topK: number[][], accepted: number[], bonus: number) => ({
  tree: t,
  acceptedNodes: Int32Array.from(accepted),
  committed: Int32Array.from([...accepted.map((i) => t.tokens[i]), bonus]),
  topK: Int32Array.from(topK.flat()),
  k: topK[0].length,
});

describe('Token Recycling template', () => {
  it('default template: 80 valid BFS nodes, widest at the root, rank-0 chain deepest', () => {
    const t = buildTemplate();
    expect(t.length).toBe(160);
    expect(() => checkTemplate(t, 8)).not.toThrow();
    const depth: number[] = [];
    let rootKids = 0;
    for (let i = 0; i < 80; i++) {
      depth.push(t[2 * i] === -1 ? 1 : depth[t[2 * i]] + 1);
      if (t[2 * i] === -1) rootKids++;
    }
    expect(rootKids).toBeGreaterThanOrEqual(4);
    expect(Math.max(...depth)).toBeGreaterThanOrEqual(6);
    // the deepest node is reached by rank-0 steps only
    const deepest = depth.indexOf(Math.max(...depth));
    for (let v = deepest; v !== -1; v = t[2 * v]) expect(t[2 * v + 1]).toBe(0);
  });

  it('picks the nodes of highest path prior', () => {
    const t = buildTemplate({ nodes: 3, k: 2, rankPrior: Float64Array.from([0.6, 0.3]) });
    // scores: r0 .6, r0.r0 .36, r1 .3
    expect(Array.from(t)).toEqual([-1, 0, -1, 1, 0, 0]);
  });

  it('rejects malformed templates', () => {
    expect(() => checkTemplate(Int32Array.from([0, 0]), 8)).toThrow(OptionsError); // parent not earlier
    expect(() => checkTemplate(Int32Array.from([-1, 8]), 8)).toThrow(OptionsError); // rank >= k
    expect(() => checkTemplate(Int32Array.from([-1, 0, -1, 0]), 8)).toThrow(OptionsError); // repeat
    expect(() => checkTemplate(Int32Array.from([-1, 0, 0, 0, -1, 1]), 8)).toThrow(OptionsError); // not BFS
    expect(() => new RecyclingDrafter({ vocabSize: 0 })).toThrow(OptionsError);
  });
});

describe('RecyclingDrafter', () => {
  it('refreshes the matrix from every verify row and expands the template through it', () => {
    const d = new RecyclingDrafter({ vocabSize: 100, k: 2, template: Int32Array.from([-1, 0, -1, 1, 0, 0, 0, 1, 2, 0]) });
    expect(d.propose(ctx([1, 5]), 10).tokens.length).toBe(0); // nothing known yet
    const t = tree([10, 11], [-1, 0]);
    d.observe(obs(t, [[10, 12], [11, 13], [7, 8]], [0], 11));
    expect(Array.from(d.successors(5))).toEqual([10, 12]);
    expect(Array.from(d.successors(10))).toEqual([11, 13]);
    expect(Array.from(d.successors(11))).toEqual([7, 8]); // a rejected row is recycled too
    const out = d.propose(ctx([3, 5]), 10);
    expect(treeViolations(out, 10, 100)).toEqual([]);
    // 12 has no row yet: its subtree is dropped
    expect(treePaths(out)).toEqual(['10', '12', '10,11', '10,13', '10,11,7']);
    // the budget keeps the higher path priors: .55 (10), .3025 (10,11), .2475 (12), ...
    expect(treePaths(d.propose(ctx([5]), 2))).toEqual(['10', '10,11']);
    expect(treePaths(d.propose(ctx([5]), 3))).toEqual(['10', '12', '10,11']);
  });

  it('pads short top-k rows and lets the committed path win a token seen on several rows', () => {
    const d = new RecyclingDrafter({ vocabSize: 50, k: 3 });
    // node 1 (token 20) is the child of node 0 (token 20): two rows for token 20
    const t = tree([20, 20], [-1, 0]);
    d.observe(obs(t, [[20, 1], [20, 2], [30, 3]], [0, 1], 30));
    // row 2 (node 1) is also committed and written after row 1: its top-k win
    expect(Array.from(d.successors(20))).toEqual([30, 3, -1]);
    d.observe(obs(tree([20, 40], [-1, -1]), [[40, 4], [5, 6], [7, 8]], [], 40));
    // root is now 30 (last committed); row 1 (token 20) rejected but recycled
    expect(Array.from(d.successors(30))).toEqual([40, 4, -1]);
    expect(Array.from(d.successors(20))).toEqual([5, 6, -1]);
  });

  it('ignores out-of-vocabulary tokens and never throws', () => {
    const d = new RecyclingDrafter({ vocabSize: 10, k: 2 });
    d.observe(obs(tree([99, -3], [-1, -1]), [[1, 2], [3, 4], [5, 6]], [], 9));
    expect(Array.from(d.successors(9))).toEqual([-1, -1]);
    d.begin(Int32Array.from([4]));
    d.observe(obs(tree([1], [-1]), [[77, 2], [3, 4]], [0], 1));
    // successor 77 is stored but never proposed (outside the vocabulary)
    expect(Array.from(d.propose(ctx([4]), 5).tokens)).toEqual([2]);
    expect(d.propose(ctx([]), 5).tokens.length).toBe(0);
    expect(d.propose(ctx([123456]), 5).tokens.length).toBe(0);
    expect(d.propose(ctx([4]), 0).tokens.length).toBe(0);
  });

  it('save/load round-trips under 2 MB at a 32k vocabulary; reset clears', () => {
    const d = new RecyclingDrafter({ vocabSize: 32000, k: 8 });
    const rows = Array.from({ length: 4 }, (_, r) => Array.from({ length: 8 }, (_, j) => 31000 + 8 * r + j));
    d.begin(Int32Array.from([31999]));
    d.observe(obs(tree([0, 1, 2], [-1, 0, 1]), rows, [0], 1));
    const bytes = d.save();
    expect(bytes.length).toBeLessThan(2 * 1024 * 1024);
    const e = RecyclingDrafter.load(bytes);
    expect(e.vocabSize).toBe(32000);
    for (const tok of [31999, 0, 1, 2, 3]) expect(Array.from(e.successors(tok))).toEqual(Array.from(d.successors(tok)));
    expect(Array.from(e.propose(ctx([31999]), 80).tokens)).toEqual(Array.from(d.propose(ctx([31999]), 80).tokens));
    d.reset();
    expect(Array.from(d.successors(0))).toEqual(new Array(8).fill(-1));
  });

  it('load rejects corrupted bytes with a named error', () => {
    const bytes = new RecyclingDrafter({ vocabSize: 4, k: 2 }).save();
    expect(() => RecyclingDrafter.load(bytes.subarray(0, 10))).toThrow(RecyclingStateError);
    expect(() => RecyclingDrafter.load(bytes.subarray(0, bytes.length - 4))).toThrow(RecyclingStateError);
    const bad = bytes.slice();
    bad[0] ^= 1;
    expect(() => RecyclingDrafter.load(bad)).toThrow(RecyclingStateError);
    const big = bytes.slice();
    new DataView(big.buffer).setInt32(16, 4, true);
    expect(() => RecyclingDrafter.load(big)).toThrow(RecyclingStateError);
  });
});
