/**
 * The kernels of a Hydra step encoded ahead (shaders/hydra_tree_u32.wgsl,
 * shaders/hydra_commit_u32.wgsl, src/draft/hydra-ahead.ts) against their CPU oracle: on seeded
 * tree shapes (buildShape over random acceptance tables) and seeded drafted ids, the tree kernel
 * writes the tokens decodeTree (src/draft/hydra-gpu.ts) decodes from the same words, at
 * positions prefix + depth, into the target's inputs and the walk's tree, and the verify pass's
 * Step words; the commit kernel writes the compaction path of an accepted path (verify rows 0,
 * a1 + 1, ..) and the next step's prefix (prefix + accepted + 1) and root (the bonus).
 */
import { describe, expect, it } from 'vitest';
import { createStorage } from '../../src/gpu/buffers';
import { HYDRA_COMMIT_BYTES, HydraAheadOps, PLAN_BYTES } from '../../src/ops/hydra-ahead';
import { buildShape } from '../../src/draft/hydra-shape';
import { decodeTree, nodeWords } from '../../src/draft/hydra-gpu';
import { readU32, rng, testGpu } from './util';
import { runOne } from './grow-kernels';

const K = 4;
const TRIM = 50;
const VOCAB = 500;

describe('Hydra steps encoded ahead: tree and commit kernels', () => {
  for (const [seed, budget, prefix] of [[1, 12, 7], [2, 30, 40], [3, 5, 0]]) {
    it(`write the drafted tree and, after the walk, the commit path and the next step (seed ${seed}, ${budget} nodes)`, async () => {
      const gpu = await testGpu();
      const { device } = gpu;
      const r = rng(seed);
      const table = Array.from({ length: 3 }, () => Float64Array.from({ length: K }, () => r()));
      const shape = buildShape(table, { budget, depth: 3, k: K, frontier: 8 });
      const m = shape.parents.length;
      const wordCount = shape.frontier.reduce((n, f) => n + f.length, 0) * K;
      const words = Int32Array.from({ length: wordCount }, () => Math.floor(r() * TRIM));
      const vocabIds = Int32Array.from({ length: TRIM }, () => Math.floor(r() * VOCAB));
      const root = 321;
      const storage = (label: string, bytes: number) => createStorage(device, `test.${label}`, bytes);
      const b = {
        plan: storage('plan', PLAN_BYTES), next: storage('next', 16), drafted: storage('drafted', wordCount * 4), vocabIds: storage('vocabIds', TRIM * 4),
        tokens: storage('tokens', 512), positions: storage('positions', 512), walkTree: storage('walkTree', 4 * 128 * 4), walkResult: storage('walkResult', 512),
        step: storage('step', 16), commit: storage('commit', HYDRA_COMMIT_BYTES),
      };
      const ops = new HydraAheadOps(gpu.pipelines, 'test.hydraAhead', b);
      await gpu.pipelines.checkCompilation();
      // the plan as HydraAhead writes it: rows, then each node's word and depth
      const plan = new Uint32Array(PLAN_BYTES / 4);
      plan[0] = m + 1;
      nodeWords(shape, K).forEach((w, i) => plan.set([w, shape.depth[i]], 4 + 2 * i));
      device.queue.writeBuffer(b.plan, 0, plan);
      device.queue.writeBuffer(b.next, 0, Uint32Array.of(prefix, root, 0, 0));
      device.queue.writeBuffer(b.drafted, 0, words);
      device.queue.writeBuffer(b.vocabIds, 0, vocabIds);
      runOne(device, (p) => ops.encodeTree(p));
      const [tokens, positions, walkTree, step] = await Promise.all([readU32(device, b.tokens, m + 1), readU32(device, b.positions, m + 1), readU32(device, b.walkTree, m), readU32(device, b.step, 4)]);
      const tree = decodeTree(shape, words, K, vocabIds);
      expect(Array.from(tokens)).toEqual([root, ...tree.tokens]);
      expect(Array.from(positions)).toEqual([prefix, ...Array.from(shape.depth, (d) => prefix + d)]);
      expect(Array.from(walkTree)).toEqual(Array.from(tree.tokens));
      expect(Array.from(step)).toEqual([m + 1, prefix, 0, 0]);

      // an accepted path: the root's chain to the deepest node
      let deepest = 0;
      shape.depth.forEach((d, i) => { if (d > shape.depth[deepest]) deepest = i; });
      const path: number[] = [];
      for (let i = deepest; i >= 0; i = shape.parents[i]) path.unshift(i);
      const bonus = 77;
      device.queue.writeBuffer(b.walkResult, 0, Uint32Array.from([path.length, bonus, 0, 0, ...path]));
      runOne(device, (p) => ops.encodeCommit(p));
      const [commit, next] = await Promise.all([readU32(device, b.commit, 5 + path.length), readU32(device, b.next, 2)]);
      expect(Array.from(commit)).toEqual([prefix, path.length + 1, 0, 0, 0, ...path.map((i) => i + 1)]);
      expect(Array.from(next)).toEqual([prefix + path.length + 1, bonus]);
      for (const buf of Object.values(b)) buf.destroy();
    });
  }
});
