/**
 * The kernels that grow a greedy draft tree on the GPU (shaders/draft_level_f32.wgsl,
 * draft_tree_u32.wgsl, draft_commit_u32.wgsl) against their CPU oracle (src/draft/tree-select.ts,
 * the rule ModelDrafter grows its trees by), on seeded logits quantised to quarters so that ties
 * within and across rows are common (a duplicated row ties whole candidate lists): every level's
 * nodes (token, parent, depth) and the next pass's inputs (tokens, positions, slot masks), the
 * reranked tree written into the target's inputs and the walk's tree (padding rows never
 * accepted), and both caches' commit paths for an accepted path, with what a step encoded ahead
 * writes for the next one (its prefix and root, into the Step words and the draft's first input).
 */
import { describe, expect, it } from 'vitest';
import { DraftGrowOps } from '../../src/ops/draft-grow';
import { createStorage } from '../../src/gpu/buffers';
import { greedyLevel, rerank, topIndices, type GrowNode } from '../../src/draft/tree-select';
import { bits, destroyGrowBuffers, growBuffers, NONE, runOne, STATE_WORDS as S } from './grow-kernels';
import { readU32, rng, testGpu } from './util';

const V = 50;
const K = 8;
const W = 3;
const MAX_DEPTH = 5;
const PREFIX = 11;
const ROOT = 5;
/** (W, V) logits in quarters over [-3, 3]; row 1 repeats row 0 when `dup`. */
function levelLogits(seed: number, dup: boolean): Float32Array<ArrayBuffer> {
  const r = rng(seed);
  const x = Float32Array.from({ length: W * V }, () => Math.round((r() * 6 - 3) * 4) / 4);
  if (dup) x.copyWithin(V, 0, V);
  return x;
}

describe('draft tree kernels', () => {
  it('exact ties: a candidate equal to the budget-th best stays out; reranking breaks ties by depth, then growth order', async () => {
    const gpu = await testGpu();
    const { device } = gpu;
    // One logit per row: every child's log-probability equals its parent's exactly (logsumexp = the logit).
    const b = growBuffers(device, V, K, W);
    const ops = new DraftGrowOps(gpu.pipelines, 'test.ties', b, K, 1);
    await gpu.pipelines.checkCompilation();
    for (const budget of [1, 2, 3]) {
      device.queue.writeBuffer(b.params, 0, new Uint32Array([W, budget, MAX_DEPTH, PREFIX, ROOT, 1 + budget, 0, 0]));
      device.queue.writeBuffer(b.state, 0, new Uint32Array([0, 0, 1, 1]));
      device.queue.writeBuffer(b.state, 260 * 4, new Uint32Array([NONE]));
      device.queue.writeBuffer(b.draftLogits, 0, new Float32Array(W).fill(0.25));
      device.queue.writeBuffer(b.draftTopKIds, 0, Uint32Array.from({ length: W * K }, (_, i) => (i % K === 0 ? 0 : NONE)));
      device.queue.writeBuffer(b.draftTopKValues, 0, new Float32Array(W * K).fill(0.25));
      const nodes: GrowNode[] = [];
      let frontier = [-1];
      for (let level = 1; level <= MAX_DEPTH; level++) {
        runOne(device, (p) => ops.encodeLevel(p));
        if (frontier.length > 0) frontier = greedyLevel(nodes, frontier, new Float32Array(frontier.length).fill(0.25), 1, W, W, budget, (j) => j);
      }
      expect(nodes.length).toBe(budget); // growth stops at the budget: the next child only ties the floor
      const st = await readU32(device, b.state, 4);
      expect({ budget, count: st[1] }).toEqual({ budget, count: budget });
    }
    // Reranking on a hand-made grown tree: equal log-probabilities across depths and among siblings.
    const logp = [-1, -1, -1.5, -1, -1.5, -1.5, -2, -1.5, -2, -2, -2];
    const parent = [-1, -1, -1, 0, 0, 1, 2, 3, 3, 5, 7];
    const depth = parent.map(function d(p: number): number { return p < 0 ? 1 : d(parent[p]) + 1; });
    const grown: GrowNode[] = logp.map((l, i) => ({ token: 20 + i, parent: parent[i], depth: depth[i], logp: l }));
    for (const budget of [4, 5, 7, 9]) {
      const n = grown.length;
      device.queue.writeBuffer(b.params, 0, new Uint32Array([W, budget, MAX_DEPTH, PREFIX, ROOT, 1 + budget, 0, 0]));
      device.queue.writeBuffer(b.state, 0, new Uint32Array([0, n, 0, MAX_DEPTH + 1]));
      device.queue.writeBuffer(b.state, S.token * 4, Uint32Array.from(grown, (x) => x.token));
      device.queue.writeBuffer(b.state, S.parent * 4, Uint32Array.from(grown, (x) => (x.parent < 0 ? NONE : x.parent)));
      device.queue.writeBuffer(b.state, S.depth * 4, Uint32Array.from(grown, (x) => x.depth));
      device.queue.writeBuffer(b.state, S.logp * 4, Float32Array.from(grown, (x) => x.logp));
      runOne(device, (p) => ops.encodeTree(p));
      const kept = rerank(grown, budget);
      const st = await readU32(device, b.state, 260);
      const got = { m: st[0], tokens: Array.from(st.subarray(S.treeToken, S.treeToken + st[0])), parents: Array.from(st.subarray(S.treeParent, S.treeParent + st[0]), (x) => x | 0) };
      expect({ budget, ...got }).toEqual({ budget, m: kept.length, tokens: kept.map((x) => x.token), parents: kept.map((x) => x.parent) });
    }
    destroyGrowBuffers(b);
  });


  it('a sampled step encoded ahead loads its uniforms from the ring of draws at the stream position the step before left, wrapping', async () => {
    const gpu = await testGpu();
    const { device } = gpu;
    const b = growBuffers(device, V, K, W);
    const R = 300; // ring length: positions 200..455 wrap past its end
    const pool = createStorage(device, 'test.pool', R * 4);
    const ops = new DraftGrowOps(gpu.pipelines, 'test.uniforms', { ...b, pool }, K, V);
    await gpu.pipelines.checkCompilation();
    device.queue.writeBuffer(pool, 0, Uint32Array.from({ length: R }, (_, i) => 1000 + i));
    device.queue.writeBuffer(b.commit, (2 * 132 + 2) * 4, Uint32Array.of(200));
    device.queue.writeBuffer(b.state, S.draws * 4, Uint32Array.of(9));
    runOne(device, (p) => ops.encodeUniforms(p));
    const st = await readU32(device, b.state, S.draws + 1 + 256);
    expect(st[S.draws]).toBe(0);
    expect(Array.from(st.subarray(S.draws + 1))).toEqual(Array.from({ length: 256 }, (_, i) => 1000 + ((200 + i) % R)));
    pool.destroy();
    destroyGrowBuffers(b);
  });

  for (const budget of [7, 40]) {
    it(`grow, rerank and commit as the CPU rule does (budget ${budget})`, async () => {
      const gpu = await testGpu();
      const { device } = gpu;
      const b = growBuffers(device, V, K, W);
      const ops = new DraftGrowOps(gpu.pipelines, 'test.grow', b, K, V);
      await gpu.pipelines.checkCompilation();
      const targetRows = 1 + Math.min(budget, W * MAX_DEPTH);
      device.queue.writeBuffer(b.params, 0, new Uint32Array([W, budget, MAX_DEPTH, PREFIX, ROOT, targetRows, 0, 0]));
      device.queue.writeBuffer(b.state, 0, new Uint32Array([0, 0, 1, 1]));
      device.queue.writeBuffer(b.state, 260 * 4, new Uint32Array([NONE]));
      const run = (encode: (pass: GPUComputePassEncoder) => void) => runOne(device, encode);

      const nodes: GrowNode[] = [];
      const slot: number[] = [];
      const maskOf = (i: number): number[] => (i < 0 ? [0] : [...maskOf(nodes[i].parent), slot[i]]);
      let frontier = [-1];
      for (let level = 1; level <= MAX_DEPTH; level++) {
        const logits = levelLogits(budget * 100 + level, level === 2);
        const ids = new Uint32Array(W * K);
        const values = new Float32Array(W * K);
        for (let r = 0; r < W; r++) {
          const row = logits.subarray(r * V, (r + 1) * V);
          topIndices(row, K).forEach((j, c) => { ids[r * K + c] = j; values[r * K + c] = row[j]; });
        }
        device.queue.writeBuffer(b.draftLogits, 0, logits);
        device.queue.writeBuffer(b.draftTopKIds, 0, ids);
        device.queue.writeBuffer(b.draftTopKValues, 0, values);
        run((p) => ops.encodeLevel(p));
        if (frontier.length > 0) frontier = greedyLevel(nodes, frontier, logits.subarray(0, frontier.length * V), V, W, W, budget, (j) => j);
        frontier.forEach((i, a) => (slot[i] = 1 + W * (level - 1) + a));

        const st = await readU32(device, b.state, 1044);
        expect({ level, count: st[1], frontier: st[2] }).toEqual({ level, count: nodes.length, frontier: frontier.length });
        const got = Array.from({ length: nodes.length }, (_, i) => [st[S.token + i], st[S.parent + i] | 0, st[S.depth + i]]);
        expect({ level, nodes: got }).toEqual({ level, nodes: nodes.map((x) => [x.token, x.parent, x.depth]) });
        const next = await Promise.all([readU32(device, b.draftInputs.tokens, W), readU32(device, b.draftInputs.positions, W), readU32(device, b.draftInputs.mask, 4 * W)]);
        const want = [[], [], []] as number[][];
        for (let r = 0; r < W; r++) {
          const i = frontier[r];
          want[0].push(i === undefined ? 0 : nodes[i].token);
          want[1].push(PREFIX + (i === undefined ? 0 : level));
          want[2].push(...(i === undefined ? bits(1 + W * (level - 1) + r) : bits(...maskOf(i))));
        }
        expect({ level, next: next.map((x) => Array.from(x)) }).toEqual({ level, next: want });
      }

      // EAGLE-2's reranking into the target's verify inputs and the walk's tree
      run((p) => ops.encodeTree(p));
      const kept = rerank(nodes, budget);
      if (budget === 7) expect(kept.length).toBeLessThan(nodes.length); // the reranking dropped nodes
      const st = await readU32(device, b.state, 260);
      expect(st[0]).toBe(kept.length);
      expect(Array.from(st.subarray(S.treeToken, S.treeToken + kept.length))).toEqual(kept.map((x) => x.token));
      expect(Array.from(st.subarray(S.treeParent, S.treeParent + kept.length), (x) => x | 0)).toEqual(kept.map((x) => x.parent));
      const rowMask = (t: number): number[] => (t < 0 ? [0] : [...rowMask(kept[t].parent), t + 1]);
      const [tTokens, tPositions, tMask, walkTree] = await Promise.all([
        readU32(device, b.targetInputs.tokens, targetRows), readU32(device, b.targetInputs.positions, targetRows),
        readU32(device, b.targetInputs.mask, 4 * targetRows), readU32(device, b.walkTree, 256),
      ]);
      const pad = targetRows - 1 - kept.length;
      expect(Array.from(tTokens)).toEqual([ROOT, ...kept.map((x) => x.token), ...Array(pad).fill(ROOT)]);
      expect(Array.from(tPositions)).toEqual([PREFIX, ...kept.map((x) => PREFIX + x.depth), ...Array(pad).fill(PREFIX)]);
      expect(Array.from(tMask)).toEqual([...bits(0), ...kept.flatMap((_, t) => bits(...rowMask(t))), ...Array.from({ length: pad }, (_, p) => bits(kept.length + 1 + p)).flat()]);
      expect(Array.from(walkTree.subarray(0, kept.length))).toEqual(kept.map((x) => x.token));
      expect(Array.from(walkTree.subarray(128, 128 + targetRows - 1))).toEqual([...kept.map((x) => x.parent + 1), ...Array(pad).fill(NONE)]);

      // Commit paths for the path root .. deepest kept node
      let deepest = 0;
      kept.forEach((x, t) => { if (x.depth > kept[deepest].depth) deepest = t; });
      const path: number[] = [];
      for (let t = deepest; t >= 0; t = kept[t].parent) path.unshift(t);
      device.queue.writeBuffer(b.walkResult, 0, new Uint32Array([path.length, 7, 0, 0, ...path]));
      run((p) => ops.encodeCommit(p));
      const commit = await readU32(device, b.commit, 2 * 132);
      const grown = path.map((t) => nodes.findIndex((x) => x.token === kept[t].token && x.depth === kept[t].depth && x.logp === kept[t].logp));
      const ran = Math.min(path.length, MAX_DEPTH - 1);
      expect(Array.from(commit.subarray(0, 4 + path.length + 1))).toEqual([PREFIX, path.length + 1, 0, 0, 0, ...path.map((t) => t + 1)]);
      expect(Array.from(commit.subarray(132, 132 + 4 + ran + 1))).toEqual([PREFIX, ran + 1, 0, 0, 0, ...grown.slice(0, ran).map((i) => slot[i])]);

      // A step encoded ahead (GrowParams.ahead) ran its deepest level: the draft keeps every
      // accepted node, and the next step's prefix and root go where the next step reads them.
      const stepWords = b.steps.size / 4;
      device.queue.writeBuffer(b.steps, 0, Uint32Array.from({ length: stepWords }, (_, i) => (i % 4 === 1 ? 99 : i)));
      device.queue.writeBuffer(b.params, 28, Uint32Array.of(1));
      // the uniforms' stream position (5) moves past the draws of the levels (3) and the walk (2)
      device.queue.writeBuffer(b.commit, (2 * 132 + 2) * 4, Uint32Array.of(5));
      device.queue.writeBuffer(b.state, S.draws * 4, Uint32Array.of(3));
      device.queue.writeBuffer(b.walkResult, 8, Uint32Array.of(2));
      run((p) => ops.encodeCommit(p));
      const [ahead, steps, dTokens, dPositions] = await Promise.all([
        readU32(device, b.commit, 2 * 132 + 3), readU32(device, b.steps, stepWords), readU32(device, b.draftInputs.tokens, 1), readU32(device, b.draftInputs.positions, 1),
      ]);
      const next = PREFIX + path.length + 1;
      expect(Array.from(ahead.subarray(0, 4 + path.length + 1))).toEqual([PREFIX, path.length + 1, 0, 0, 0, ...path.map((t) => t + 1)]);
      expect(Array.from(ahead.subarray(132, 132 + 4 + path.length + 1))).toEqual([PREFIX, path.length + 1, 0, 0, 0, ...grown.map((i) => slot[i])]);
      expect(Array.from(ahead.subarray(264))).toEqual([next, 7, 10]);
      expect(Array.from(steps)).toEqual(Array.from({ length: stepWords }, (_, i) => (i % 4 === 1 ? next : i)));
      expect([dTokens[0], dPositions[0]]).toEqual([7, next]);
      destroyGrowBuffers(b);
    });
  }
});
