/**
 * Sampled draft trees grown on the GPU (src/draft/gpu-grow.ts, shaders/draft_sample_f32.wgsl):
 *  - the level kernel against its CPU oracle (sampleLevel in src/draft/tree-select.ts, the rule
 *    ModelDrafter.propose() samples by) on seeded logits, with the same uniforms: every level's
 *    nodes (tokens drawn, parents, depths), each parent row's q in the walk's q buffer, the
 *    uniforms used and the next pass's inputs; then the finished tree's q slots and the walk's
 *    uniforms (those after the levels') in the walk's tree. Cases cover temperature alone; top-k,
 *    top-p and the repetition penalty over the committed tokens and each node's path; and a q
 *    with less support than the children allotted (draws stop without using a uniform); each
 *    with the vocabulary as the draft's rows and with a VocabTrim head (a shuffled subset of a
 *    300-token vocabulary: q spread over the vocabulary, zero at every token not kept).
 *  - engine level: the first two tokens of sampled `draft` generations, every step grown on the
 *    GPU (no draft readback), follow the target's exact distribution (chi-square); the same
 *    steps walked as if drawn WITH replacement (q not renormalised without rejected children)
 *    fail that test; a seed reproduces a sampled generation; greedy with a repetition penalty
 *    (the greedy tree, the sampling walk) gives `ar`'s tokens.
 *  - the same chi-square with a VocabTrim draft (one of the target's likely first tokens not
 *    kept), every step on the GPU; the root's q handed to the walk over the head's rows instead
 *    of the vocabulary (unmapped, the bug the spread prevents) fails it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStorage, createUniform } from '../../src/gpu/buffers';
import { DraftGrowOps, GROW_DRAWS_OFFSET, GROW_UNIFORMS, GROW_UNIFORMS_OFFSET } from '../../src/ops/draft-grow';
import { rowQ, sampleLevel, type GrowNode } from '../../src/draft/tree-select';
import { sampleFrom, type SamplingOptions } from '../../src/verify/sampler';
import type { Rng } from '../../src/verify/rng';
import { Engine } from '../../src/engine/engine';
import { DraftModel } from '../../src/draft/draft-model';
import type { ModelDrafter } from '../../src/draft/model-drafter';
import { GpuTreeGrower } from '../../src/draft/gpu-grow';
import type { GpuAcceptWalk } from '../../src/verify/gpu-walk';
import { acquireDevice } from '../../src/gpu/device';
import { makeFixture, type FixtureShape } from '../../src/model/fixture';
import { MemorySource } from '../../src/model/source';
import { loadModelFiles, type ModelFiles } from '../../src/model/weights';
import { exactFirstTwo, firstTwoPValue, type FirstTwo } from './first-two';
import { describeIn } from './runtime';
import { bits, destroyGrowBuffers, growBuffers, NONE, runOne, STATE_WORDS as S } from './grow-kernels';
import { readF32, readU32, rng, testGpu } from './util';

const K = 8;
const W = 3;
const MAX_DEPTH = 4;
const PREFIX = 9;
const ROOT = 5;
/** Committed tokens, the root last (the repetition penalty's history). */
const COMMITTED = Int32Array.of(3, 7, 11, 7, ROOT);
/** q slots: the root's and those of every node that runs in a pass. */
const Q_SLOTS = 1 + W * (MAX_DEPTH - 1);

/**
 * A draft's logits rows: the vocabulary (kept null), or VocabTrim's LM head keeping the tokens
 * `kept` (row j = token kept[j]) of a vocabulary of `vocab`.
 */
interface Head {
  vocab: number;
  kept: Int32Array | null;
}

const rowsOf = (h: Head) => (h.kept ? h.kept.length : h.vocab);

/** `xs` in a seeded random order (Fisher-Yates). */
function shuffled<T>(xs: T[], r: () => number): T[] {
  const out = xs.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/**
 * A trimmed head of `n` rows over a vocabulary of 300 (> the kernel's 256 invocations): a seeded
 * random subset in shuffled order that keeps the committed tokens 7 and the root (the penalty
 * marks tokens, not rows) but not 3 or 11.
 */
function trimmedHead(n: number, seed: number): Head {
  const vocab = 300;
  const r = rng(seed);
  const others = shuffled(Array.from({ length: vocab }, (_, t) => t).filter((t) => ![3, 7, 11, ROOT].includes(t)), r);
  return { vocab, kept: Int32Array.from(shuffled([...others.slice(0, n - 2), 7, ROOT], r)) };
}

/** AcceptParams (shaders/common/accept_params.wgsl) of a request with `s`. */
function acceptParams(s: SamplingOptions): ArrayBuffer {
  const buf = new ArrayBuffer(48);
  new Uint32Array(buf).set([1 + W * MAX_DEPTH, MAX_DEPTH, 0, 2, s.repetitionPenalty !== 1 ? COMMITTED.length : 0, s.topK]);
  new Float32Array(buf).set([s.temperature, s.topP, s.repetitionPenalty], 6);
  return buf;
}

/** The grow kernels' buffers for head `h` with the sampling walk's (its q slots, history and scratch at the vocabulary's width). */
function sampleBuffers(device: GPUDevice, h: Head) {
  const storage = (label: string, bytes: number) => createStorage(device, `test.${label}`, bytes);
  const b = growBuffers(device, rowsOf(h), K, W, h.kept ? h.kept.length : 1);
  if (h.kept) device.queue.writeBuffer(b.kept, 0, Uint32Array.from(h.kept));
  return {
    ...b,
    sample: { params: createUniform(device, 'test.walkParams', 48), history: storage('history', 64 * 4), q: storage('q', Q_SLOTS * h.vocab * 4), scratch: storage('scratch', 3 * h.vocab * 4) },
  };
}

/** The committed tokens followed by the tokens of node f's path (ModelDrafter's history of row f + 1). */
function pathHistory(nodes: GrowNode[], f: number): Int32Array {
  const path: number[] = [];
  for (let u = f; u >= 0; u = nodes[u].parent) path.unshift(nodes[u].token);
  return Int32Array.from([...COMMITTED, ...path]);
}

const full: Head = { vocab: 40, kept: null };
const trimmed = trimmedHead(45, 4);

const cases: { name: string; head: Head; budget: number; sampling: SamplingOptions }[] = [
  { name: 'temperature 0.9', head: full, budget: 7, sampling: { temperature: 0.9, topK: 0, topP: 1, repetitionPenalty: 1 } },
  { name: 'top-k 6, top-p 0.85, repetition penalty 1.5', head: full, budget: 10, sampling: { temperature: 1.2, topK: 6, topP: 0.85, repetitionPenalty: 1.5 } },
  { name: 'top-k 2: the root\'s q has less support than its 3 children', head: full, budget: 12, sampling: { temperature: 1, topK: 2, topP: 1, repetitionPenalty: 1 } },
  // VocabTrim: 45 rows of a 300-token vocabulary in shuffled order
  { name: 'trimmed head, temperature 0.9', head: trimmed, budget: 7, sampling: { temperature: 0.9, topK: 0, topP: 1, repetitionPenalty: 1 } },
  { name: 'trimmed head, top-k 6, top-p 0.85, repetition penalty 1.5', head: trimmed, budget: 10, sampling: { temperature: 1.2, topK: 6, topP: 0.85, repetitionPenalty: 1.5 } },
  { name: 'trimmed head, top-k 2: the root\'s q has less support than its 3 children', head: trimmed, budget: 12, sampling: { temperature: 1, topK: 2, topP: 1, repetitionPenalty: 1 } },
  { name: 'trimmed head, top-k 60 beyond its 45 rows, top-p 0.9, repetition penalty 0.8', head: trimmed, budget: 9, sampling: { temperature: 0.7, topK: 60, topP: 0.9, repetitionPenalty: 0.8 } },
];

describe('sampled draft level kernel', () => {
  for (const { name, head, budget, sampling } of cases) {
    it(`draws the CPU rule's children, q and uniforms from the same uniforms (${name}, budget ${budget})`, async () => {
      const gpu = await testGpu();
      const { device } = gpu;
      const V = head.vocab;
      const rows = rowsOf(head);
      const tokenOf = (j: number) => (head.kept ? head.kept[j] : j);
      const keptSet = new Set(Array.from({ length: rows }, (_, j) => tokenOf(j)));
      const b = sampleBuffers(device, head);
      const ops = new DraftGrowOps(gpu.pipelines, 'test.sample', b, K, rows, V);
      await gpu.pipelines.checkCompilation();
      const targetRows = 1 + Math.min(budget, W * MAX_DEPTH);
      const r = rng(budget);
      const uniforms = Uint32Array.from({ length: GROW_UNIFORMS }, () => Math.floor(r() * 2 ** 32) >>> 0);
      device.queue.writeBuffer(b.params, 0, new Uint32Array([W, budget, MAX_DEPTH, PREFIX, ROOT, targetRows, head.kept ? 1 : 0, 0]));
      // q slots start with stale values: the kernel writes every entry, zeros included
      device.queue.writeBuffer(b.sample.q, 0, new Float32Array(Q_SLOTS * V).fill(0.5));
      device.queue.writeBuffer(b.sample.params, 0, acceptParams(sampling));
      device.queue.writeBuffer(b.sample.history, 0, Uint32Array.from(COMMITTED));
      device.queue.writeBuffer(b.state, 0, new Uint32Array([0, 0, 1, 1]));
      device.queue.writeBuffer(b.state, 260 * 4, new Uint32Array([NONE]));
      device.queue.writeBuffer(b.state, GROW_DRAWS_OFFSET, new Uint32Array([0]));
      device.queue.writeBuffer(b.state, GROW_UNIFORMS_OFFSET, uniforms);

      let used = 0;
      // the kernel's uniform: the top 24 bits of the raw draw
      const draw = (left: Float32Array) => sampleFrom(left, { next: () => (uniforms[used++] >>> 8) / 2 ** 24 } as Rng);
      const nodes: GrowNode[] = [];
      const slot: number[] = [];
      const maskOf = (i: number): number[] => (i < 0 ? [0] : [...maskOf(nodes[i].parent), slot[i]]);
      let frontier = [-1];
      let short = false;
      for (let level = 1; level <= MAX_DEPTH; level++) {
        const logits = Float32Array.from({ length: W * rows }, () => r() * 6 - 3); // (W, rows)
        device.queue.writeBuffer(b.draftLogits, 0, logits);
        runOne(device, (p) => ops.encodeSampleLevel(p, b.sample.q));
        const q: (Float32Array | null)[] = [];
        const before = nodes.length;
        if (frontier.length > 0 && nodes.length < budget) {
          const qOf = (i: number, f: number) => rowQ(logits.subarray(i * rows, (i + 1) * rows), V, tokenOf, sampling, pathHistory(nodes, f));
          frontier = sampleLevel(nodes, frontier, Math.min(W, budget - nodes.length), qOf, draw, q);
        } else frontier = [];
        frontier.forEach((i, a) => (slot[i] = 1 + W * (level - 1) + a));
        if (level === 1) short ||= nodes.length < Math.min(W, budget);

        const st = await readU32(device, b.state, S.draws + 1);
        expect({ level, count: st[1], frontier: st[2], draws: st[S.draws] }).toEqual({ level, count: nodes.length, frontier: frontier.length, draws: used });
        const got = Array.from({ length: nodes.length }, (_, i) => [st[S.token + i], st[S.parent + i] | 0, st[S.depth + i]]);
        for (const x of nodes) expect(keptSet.has(x.token), `token ${x.token} outside the head`).toBe(true);
        expect({ level, nodes: got }).toEqual({ level, nodes: nodes.map((x) => [x.token, x.parent, x.depth]) });
        const logp = new Float32Array(st.buffer, S.logp * 4, nodes.length);
        nodes.slice(before).forEach((x, j) => expect(logp[before + j]).toBeCloseTo(x.logp, 4));
        // each parent row's q, in the slot the walk reads it from
        for (const [row, qRow] of q.entries()) {
          if (!qRow) continue;
          const gq = await readF32(device, b.sample.q, V, (row === 0 ? 0 : slot[row - 1]) * V);
          for (let j = 0; j < V; j++) {
            expect(Math.abs(gq[j] - qRow[j]), `level ${level} row ${row} q[${j}]`).toBeLessThan(2e-6);
            if (!keptSet.has(j)) expect(gq[j], `level ${level} row ${row} q[${j}] of a token not kept`).toBe(0);
          }
        }
        const next = await Promise.all([readU32(device, b.draftInputs.tokens, W), readU32(device, b.draftInputs.positions, W), readU32(device, b.draftInputs.mask, 4 * W)]);
        const want = [[], [], []] as number[][];
        for (let row = 0; row < W; row++) {
          const i = frontier[row];
          want[0].push(i === undefined ? 0 : nodes[i].token);
          want[1].push(PREFIX + (i === undefined ? 0 : level));
          want[2].push(...(i === undefined ? bits(1 + W * (level - 1) + row) : bits(...maskOf(i))));
        }
        expect({ level, next: next.map((x) => Array.from(x)) }).toEqual({ level, next: want });
      }
      expect(nodes.length).toBeGreaterThan(0);
      if (sampling.topK === 2) expect(short).toBe(true); // the root got fewer children than allotted

      // the finished tree: every node kept, each row's q slot, the walk's uniforms after the levels'
      runOne(device, (p) => ops.encodeTree(p));
      const walkTree = await readU32(device, b.walkTree, 512);
      expect(Array.from(walkTree.subarray(0, nodes.length))).toEqual(nodes.map((x) => x.token));
      expect(Array.from(walkTree.subarray(128, 128 + nodes.length))).toEqual(nodes.map((x) => x.parent + 1));
      expect(Array.from(walkTree.subarray(256, 256 + 1 + nodes.length))).toEqual([0, ...nodes.map((_, i) => slot[i])]);
      expect(Array.from(walkTree.subarray(384, 384 + targetRows))).toEqual(Array.from(uniforms.subarray(used, used + targetRows)));
      destroyGrowBuffers(b);
      for (const buf of Object.values(b.sample)) buf.destroy();
    });
  }
});

const target: FixtureShape = { modelType: 'llama', vocabSize: 384, hiddenSize: 64, intermediateSize: 136, numLayers: 2, numHeads: 4, numKvHeads: 2, dtype: 'f32' };

function fixtureFiles(shape: FixtureShape, seed: number): Promise<ModelFiles> {
  return loadModelFiles(new MemorySource(makeFixture(shape, seed)));
}

/**
 * A draft that overlaps the target: the target's own weights with its final RMSNorm weight times
 * 8, so its logits are the target's times 8 and q is the target's distribution sharpened over the
 * same top-k support. Rejections then leave residual mass on the later children's tokens, where
 * drawing without replacement matters (a random draft's top-k barely meets the target's: nearly
 * every step would end in the bonus drawn from p itself, whatever the walk did with q).
 */
function sharpened(files: ModelFiles): ModelFiles {
  const norm = files.tensors.get('model.norm.weight')!;
  expect(norm.dtype).toBe('F32');
  const g = new Float32Array(norm.data.slice().buffer).map((x) => 8 * x);
  return { ...files, tensors: new Map([...files.tensors, [norm.name, { ...norm, data: new Uint8Array(g.buffer) }]]) };
}

/** The walk, told that the children were drawn WITH replacement: q is not renormalised without a rejected child. */
function withReplacementWalk(walk: GpuAcceptWalk): GpuAcceptWalk {
  return new Proxy(walk, {
    get(t, key) {
      if (key === 'encodeSampleOnGpuTree') {
        return (...a: Parameters<GpuAcceptWalk['encodeSampleOnGpuTree']>) => t.encodeSampleOnGpuTree(a[0], a[1], a[2], a[3], a[4], a[5], 1 as 2);
      }
      const v = Reflect.get(t, key, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
}

/**
 * The walk, handed the root's q over the draft's LM-head rows instead of the vocabulary: entry j
 * holds q(kept[j]) and every other entry 0, as a sampled level that skipped the spread would
 * write it. The levels write into a decoy of the q buffer; before the walk the decoy is copied
 * over, the root's slot (the only one the first two tokens read: their steps grow one level)
 * rearranged so.
 */
function unmappedRootQWalk(walk: GpuAcceptWalk, kept: Int32Array, vocab: number, device: GPUDevice): GpuAcceptWalk {
  let real: GPUBuffer | null = null;
  let decoy: GPUBuffer | null = null;
  return new Proxy(walk, {
    get(t, key) {
      if (key === 'reserveQ') {
        return (slots: number) => {
          real = t.reserveQ(slots);
          if (!decoy || decoy.size !== real.size) {
            decoy?.destroy();
            decoy = createStorage(device, 'test.decoyQ', real.size);
          }
          return decoy;
        };
      }
      if (key === 'encodeSampleOnGpuTree') {
        return (...a: Parameters<GpuAcceptWalk['encodeSampleOnGpuTree']>) => {
          const enc = a[0];
          enc.copyBufferToBuffer(decoy!, 0, real!, 0, real!.size);
          enc.clearBuffer(real!, 0, vocab * 4);
          kept.forEach((token, j) => enc.copyBufferToBuffer(decoy!, token * 4, real!, j * 4, 4));
          return t.encodeSampleOnGpuTree(...a);
        };
      }
      const v = Reflect.get(t, key, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
}

// a high temperature spreads p over its top 3, so the mass a biased walk moves is large
const sampling = { temperature: 2, topK: 3, topP: 1, repetitionPenalty: 1 };
const trials = 400;
// maxTokens 4 leaves room for 3 nodes in the first step: the root's 3 children drawn without replacement
const opts = { maxTokens: 4, strategy: 'draft', treeBudget: 6, ...sampling };

/** An engine on the target fixture with a sharpened draft, the prompt and the first two tokens' exact distribution. */
interface Distribution {
  engine: Engine;
  draftModel: DraftModel;
  prompt: Int32Array;
  exact: FirstTwo;
}

/** Loads a Distribution; `keptOf`: the draft's VocabTrim head, chosen from the exact distribution (absent: the whole vocabulary). */
async function loadDistribution(keptOf?: (exact: FirstTwo) => Int32Array): Promise<Distribution> {
  const files = await fixtureFiles(target, 11);
  const { device } = await acquireDevice();
  const plain = await Engine.load(files, { maxContext: 64, weightDtype: 'f32' }); // the prompt's tokens and the KV format
  const prompt = plain.encodePrompt('Once upon a', { chat: false, addSpecialTokens: true });
  const exact = exactFirstTwo(files, prompt, sampling, plain.kvDtype);
  plain.destroy();
  const draftModel = await DraftModel.load(device, sharpened(files), { maxContext: 64, weightDtype: 'f32', vocabTrim: keptOf?.(exact) });
  const engine = await Engine.load(files, { maxContext: 64, weightDtype: 'f32', draft: draftModel });
  return { engine, draftModel, prompt, exact };
}

/** The first two tokens' chi-square p-value, every step one submit (two when the next sync runs the deepest accepted node) and one readback, no draft readback. */
async function gpuStepsPValue(d: Distribution): Promise<number> {
  let drafted = 0;
  const pValue = await firstTwoPValue(d.engine, d.prompt, d.exact, trials, opts, (s) => {
    drafted += s.steps[0].treeSize;
    expect(s.gpu!.draftReadbacks).toBe(0); // no level read logits back: every step grew on the GPU
    expect(s.gpu!.readbacks).toBe(s.steps.length);
    expect(s.gpu!.submits).toBeLessThanOrEqual(2 * s.steps.length);
  });
  expect(drafted).toBe(3 * trials); // three siblings in every first step
  return pValue;
}

/** The same p-value with the draft's GPU steps walked by `wrap(walk, device)` (a biased variant). */
async function brokenPValue(d: Distribution, wrap: (walk: GpuAcceptWalk, device: GPUDevice) => GpuAcceptWalk): Promise<number> {
  const drafter = (await d.engine.drafter('draft')) as ModelDrafter;
  const broken = new WeakMap<object, Promise<GpuTreeGrower>>();
  drafter.gpuStepper = (t, walk) => {
    if (!broken.has(t)) broken.set(t, GpuTreeGrower.create(drafter.draft, t, wrap(walk, t.device), drafter.width, drafter.depth));
    return broken.get(t)!;
  };
  try {
    return await firstTwoPValue(d.engine, d.prompt, d.exact, trials, opts, (s) => expect(s.gpu!.draftReadbacks).toBe(0));
  } finally {
    delete (drafter as Partial<ModelDrafter>).gpuStepper; // the prototype's again
  }
}

// In one gpu project (./runtime.ts); draft-model.test.ts runs its engine-level test in the other.
describeIn('node')('sampled draft steps grown on the GPU: distribution (engine level)', () => {
  let d: Distribution;
  beforeAll(async () => { d = await loadDistribution(); });
  afterAll(() => { d?.engine.destroy(); d?.draftModel.destroy(); });

  it('the first two tokens follow the target distribution, every step one submit and one readback with no draft readback', async () => {
    expect(await gpuStepsPValue(d)).toBeGreaterThan(1e-4);
  }, 600_000);

  it('a seed reproduces a sampled draft generation grown on the GPU; auto runs its draft arm there under sampling too', async () => {
    const { engine, prompt } = d;
    const o = { maxTokens: 12, strategy: 'draft', treeBudget: 6, temperature: 0.9, topP: 0.9, repetitionPenalty: 1.2 };
    const [a, b, c] = [await engine.generateText(prompt, { ...o, seed: 5 }), await engine.generateText(prompt, { ...o, seed: 5 }), await engine.generateText(prompt, { ...o, seed: 6 })];
    expect(b.tokens).toEqual(a.tokens);
    expect(c.tokens).not.toEqual(a.tokens);
    expect(a.stats.gpu!.draftReadbacks).toBe(0);
    const auto = await engine.generateText(prompt, { ...o, strategy: 'auto:draft,lookup', seed: 5 });
    expect(auto.tokens).toHaveLength(12);
  });

  it('greedy with a repetition penalty: the greedy tree grown on the GPU, walked by the sampling walk (q one-hot), gives ar\'s tokens', async () => {
    const { engine, prompt } = d;
    const penalised = { maxTokens: 12, temperature: 0, repetitionPenalty: 1.3, seed: 0 };
    const ar = await engine.generateText(prompt, { ...penalised, strategy: 'ar' });
    const spec = await engine.generateText(prompt, { ...penalised, strategy: 'draft', treeBudget: 6 });
    expect(spec.tokens).toEqual(ar.tokens);
    expect(spec.stats.gpu!.draftReadbacks).toBe(0);
    expect(spec.stats.steps.some((x) => x.treeSize > 0)).toBe(true);
  });

  it('fails when the walk treats the draws as made with replacement (the biased variant)', async () => {
    expect(await brokenPValue(d, withReplacementWalk)).toBeLessThan(1e-4);
  }, 600_000);
});

// In the other gpu project than the test above, so that the two take about the same time.
describeIn('browser')('sampled VocabTrim draft steps grown on the GPU: distribution (engine level)', () => {
  let d: Distribution;
  let kept: Int32Array;
  // 64 of the 384 tokens in shuffled order: the exact support's tokens but one of the likely
  // first tokens (q = 0 there: it comes only from residuals and bonuses), then others
  const keptOf = (exact: FirstTwo): Int32Array => {
    const pairs = exact.cells.map((c) => c.split(',').map(Number));
    const dropped = pairs[pairs.length - 1][0];
    const support = [...new Set(pairs.flat())].filter((t) => t !== dropped);
    const r = rng(12);
    const others = shuffled(Array.from({ length: target.vocabSize }, (_, t) => t).filter((t) => t !== dropped && !support.includes(t)), r);
    kept = Int32Array.from(shuffled([...support, ...others.slice(0, 64 - support.length)], r));
    return kept;
  };
  beforeAll(async () => { d = await loadDistribution(keptOf); });
  afterAll(() => { d?.engine.destroy(); d?.draftModel.destroy(); });

  it('the first two tokens follow the target distribution, every step one submit and one readback with no draft readback', async () => {
    expect(await gpuStepsPValue(d)).toBeGreaterThan(1e-4);
  }, 600_000);

  it('fails when the walk is handed the root\'s q over the head\'s rows (unmapped)', async () => {
    expect(await brokenPValue(d, (walk, device) => unmappedRootQWalk(walk, kept, target.vocabSize, device))).toBeLessThan(1e-4);
  }, 600_000);
});
