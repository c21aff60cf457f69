/**
 * The draft-model drafter (strategy `draft`) end to end:
 *  - greedy output equals plain greedy output on the shipped pair (the aligned 4.5M draft for
 *    the 12.9M target) and on random fixtures, over several tree budgets;
 *  - the trees it proposes are valid and within the budget, and a confident draft grows them
 *    deeper than its width;
 *  - a greedy step grown on the GPU (src/draft/gpu-grow.ts) drafts the CPU rule's tree and
 *    accepts what the CPU path accepts, in one submit and one map;
 *  - both paths grow the levels DraftDepth chose from the acceptance of earlier steps;
 *  - one DraftModel serves two target engines (S2D) without either output changing;
 *  - under sampling, the first two tokens follow the target's exact distribution.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { Engine } from '../../src/engine/engine';
import { DraftModel } from '../../src/draft/draft-model';
import { ModelDrafter } from '../../src/draft/model-drafter';
import { makeFixture, type FixtureShape } from '../../src/model/fixture';
import { MemorySource } from '../../src/model/source';
import { loadModelFiles, type ModelFiles } from '../../src/model/weights';
import { Rng } from '../../src/verify/rng';
import { validateTree } from '../../src/tree/validate';
import { defaultSampling } from '../../src/verify/sampler';
import { shippedModel } from './models';
import { exactFirstTwo, firstTwoPValue, type FirstTwo } from './first-two';
import { describeIn, mine } from './runtime';
import { acquireDevice } from '../../src/gpu/device';
import { verifyTree, walkOf } from '../../src/engine/verify-step';
import { layoutTree } from '../../src/tree/layout';
import { registerStrategy } from '../../src/engine/strategies';
import { Controller } from '../../src/engine/controller';
import { randomHeads } from '../../src/model/heads';
import type { DraftTree } from '../../src/tree/types';
import { FusionDrafter } from '../../src/draft/fusion';
import { RetrievalDrafter } from '../../src/draft/retrieval';

const target: FixtureShape = { modelType: 'llama', vocabSize: 384, hiddenSize: 64, intermediateSize: 136, numLayers: 2, numHeads: 4, numKvHeads: 2, dtype: 'f32' };
/** Same vocabulary (the fixture tokenizer depends on vocabSize only), a smaller network. */
const draft: FixtureShape = { modelType: 'llama', vocabSize: 384, hiddenSize: 32, intermediateSize: 64, numLayers: 1, numHeads: 2, numKvHeads: 2, dtype: 'f32' };

function fixtureFiles(shape: FixtureShape, seed: number): Promise<ModelFiles> {
  return loadModelFiles(new MemorySource(makeFixture(shape, seed)));
}

describe('draft model on random fixtures', () => {
  let draftModel: DraftModel;
  let a: Engine;
  let b: Engine;
  beforeAll(async () => {
    const { device } = await acquireDevice();
    draftModel = await DraftModel.load(device, await fixtureFiles(draft, 9), { maxContext: 128, weightDtype: 'f32' });
    // No device given: the engines run on the draft model's.
    // random Hydra heads: `auto` over draft and hydra below
    const filesA = await fixtureFiles(target, 7);
    const heads = randomHeads(filesA.config, { numHeads: 3, ffn: 48, trim: 200, seed: 8 });
    a = await Engine.load(filesA, { maxContext: 128, weightDtype: 'f32', draft: draftModel, heads });
    b = await Engine.load(await fixtureFiles(target, 8), { maxContext: 128, weightDtype: 'f32', draft: draftModel });
  });
  afterAll(() => { a?.destroy(); b?.destroy(); draftModel?.destroy(); });

  it('greedy output equals plain greedy output for two engines sharing one draft model (S2D), interleaved', async () => {
    const prompts = ['Once upon a time there was a', 'def add(a, b):\n    return a + b\n\ndef add(a, b):'];
    for (const [p, prompt] of prompts.entries()) {
      const plainA = await a.generateText(prompt, { maxTokens: 24, strategy: 'ar' });
      const plainB = await b.generateText(prompt, { maxTokens: 24, strategy: 'ar' });
      expect(plainA.tokens).not.toEqual(plainB.tokens); // two different targets
      // The budgets are shared between the gpu projects (./runtime.ts), each meeting both prompts.
      for (const [i, treeBudget] of [1, 6, 20].entries()) {
        if (!mine(p + i)) continue;
        // Interleaved and concurrent: each generation re-syncs the shared cache to its own context.
        const [specA, specB] = await Promise.all([
          a.generateText(prompt, { maxTokens: 24, strategy: 'draft', treeBudget }),
          b.generateText(prompt, { maxTokens: 24, strategy: 'draft', treeBudget }),
        ]);
        expect({ treeBudget, tokens: specA.tokens }).toEqual({ treeBudget, tokens: plainA.tokens });
        expect({ treeBudget, tokens: specB.tokens }).toEqual({ treeBudget, tokens: plainB.tokens });
        expect(specA.stats.steps.every((s) => s.treeSize <= treeBudget)).toBe(true);
      }
    }
  });

  it('a greedy step grown on the GPU drafts the tree the CPU rule drafts and accepts what the CPU path accepts, in one submit and one map', async () => {
    const drafter = new ModelDrafter(draftModel, { width: 3, maxDepth: 5 });
    const model = a.model;
    const stepper = await drafter.gpuStepper(model, await walkOf(model));
    expect(stepper).not.toBeNull();
    const committed = a.encodePrompt('Once upon a time there was', { chat: false, addSpecialTokens: true });
    const queue = model.device.queue;
    // the step grows the levels DraftDepth chose (5 at first, then after the first step's acceptance): the CPU rule at that depth is its oracle
    // the last step computes and reads back what `auto`'s other members may observe: the whole top-k of every row
    for (const [i, budget] of [2, 12, 12].entries()) {
      const needs = i === 2 ? { topK: true, allRows: true } : {};
      model.prefill(committed);
      const oracle = new ModelDrafter(draftModel, { width: 3, maxDepth: drafter.depth.levels });
      const tree = await oracle.propose({ tokens: committed, sampling: false, options: defaultSampling, rng: new Rng(0) }, budget);
      const cpu = await verifyTree(model, committed, tree, layoutTree(tree, target.vocabSize, model.maxRows), defaultSampling, new Rng(0), i === 2);
      model.prefill(committed); // the CPU path's pass is not committed
      const counts = { submits: 0, maps: 0 };
      const submit = queue.submit;
      const mapAsync = GPUBuffer.prototype.mapAsync;
      queue.submit = (buffers) => { counts.submits++; return submit.call(queue, buffers); };
      GPUBuffer.prototype.mapAsync = function (...args) { counts.maps++; return mapAsync.apply(this, args); };
      let gpu;
      try {
        gpu = (await stepper!.step(committed, budget, needs))!;
      } finally {
        queue.submit = submit;
        GPUBuffer.prototype.mapAsync = mapAsync;
      }
      expect({ budget, tokens: Array.from(gpu.tree.tokens), parents: Array.from(gpu.tree.parents) }).toEqual({ budget, tokens: Array.from(tree.tokens), parents: Array.from(tree.parents) });
      expect({ nodes: Array.from(gpu.nodes), bonus: gpu.bonus }).toEqual({ nodes: Array.from(cpu.nodes), bonus: cpu.bonus });
      if (i === 2) expect({ k: gpu.k, topK: Array.from(gpu.topK) }).toEqual({ k: cpu.k, topK: Array.from(cpu.topK) });
      expect(counts).toEqual({ submits: 1, maps: 1 });
      expect(model.kv.length).toBe(committed.length + cpu.nodes.length);
    }
  });

  it('a step grown on the GPU runs the draft passes of the levels DraftDepth chose, no more', async () => {
    const drafter = new ModelDrafter(draftModel, { width: 3, maxDepth: 5 });
    const model = a.model;
    const stepper = (await drafter.gpuStepper(model, await walkOf(model)))!;
    const committed = a.encodePrompt('Once upon a time there was', { chat: false, addSpecialTokens: true });
    const counter = draftModel.gpu.counter;
    const prefix = committed.subarray(0, committed.length - 1);
    // one draft pass over one row, as a level's pass: its dispatches
    draftModel.sync(prefix);
    let c0 = counter.snapshot().dispatches;
    draftModel.gpu.forward(committed.subarray(-1), Int32Array.of(prefix.length), Uint32Array.of(1, 0, 0, 0));
    const pass = counter.snapshot().dispatches - c0;
    const spent: number[] = [];
    // [levels chosen, budget]: a budget below the levels caps them (a tree of B nodes is at most B deep)
    const cases = [[5, 12], [2, 12], [1, 12], [3, 12], [5, 2]];
    for (const [levels, budget] of cases) {
      model.prefill(committed);
      draftModel.sync(prefix); // the step's own sync then runs nothing: only the step's work is counted
      drafter.depth.levels = levels;
      c0 = counter.snapshot().dispatches;
      const res = (await stepper.step(committed, budget))!;
      spent.push(counter.snapshot().dispatches - c0);
      // DraftDepth's rule: 2 levels more after a path accepted to the deepest level run, else 1 fewer
      const ran = Math.min(levels, budget);
      expect({ levels, depth: drafter.depth.levels }).toEqual({ levels, depth: res.nodes.length >= ran ? Math.min(5, Math.max(levels, ran + 2)) : Math.max(1, levels - 1) });
      expect(Math.max(0, ...Array.from(validateTree(res.tree, target.vocabSize)))).toBeLessThanOrEqual(ran);
    }
    // per level: its pass and its selection kernel; per step: the tree and commit kernels and the draft cache's compaction
    const fixed = spent[0] - 5 * (pass + 1);
    expect(fixed).toBeGreaterThanOrEqual(3);
    expect(spent).toEqual(cases.map(([l, b]) => fixed + Math.min(l, b) * (pass + 1)));
  });

  it('propose() (the CPU path) runs the levels DraftDepth chose, one draft readback each, and observe() sets the next depth from the step it drafted', async () => {
    const drafter = new ModelDrafter(draftModel, { width: 3, maxDepth: 5 });
    const tokens = a.encodePrompt('Once upon a time there was', { chat: false, addSpecialTokens: true });
    const counter = draftModel.gpu.counter;
    draftModel.sync(tokens.subarray(0, tokens.length - 1)); // propose's own sync then runs nothing
    const sampled = { ...defaultSampling, temperature: 0.8 };
    const rng = new Rng(3);
    const observe = (tree: DraftTree, accepted: number): void => drafter.observe({ tree, acceptedNodes: new Int32Array(accepted), committed: new Int32Array(accepted + 1), topK: new Int32Array(0), k: 1 });
    // [budget, accepted]: sampled trees add min(W, budget left) nodes per level, so under budget 40 they never stop before
    // the chosen depth; budget 2 fills up in one level (a path accepted to it says nothing of deeper levels)
    const steps = [[40, 2], [40, 4], [40, 0], [2, 1], [40, 1], [40, 2]];
    const readbacks: number[] = [];
    const levels: number[] = [];
    for (const [budget, accepted] of steps) {
      levels.push(drafter.depth.levels);
      const r0 = counter.snapshot().readbacks;
      const tree = await drafter.propose({ tokens, sampling: true, options: sampled, rng }, budget);
      readbacks.push(counter.snapshot().readbacks - r0);
      expect(Math.max(...Array.from(validateTree(tree, target.vocabSize)))).toBe(readbacks[readbacks.length - 1]);
      observe(tree, accepted);
      observe(tree, 5); // a step propose() did not draft (another arm's, or a GPU step that observed itself): no evidence
    }
    // DraftDepth from 5: -1 (2 < 5), +2 (4 = 4 levels run), -1, kept (capped: 1 level ran, accepted 1), -1, -1
    expect({ levels, readbacks }).toEqual({ levels: [5, 4, 5, 4, 4, 3], readbacks: [5, 4, 5, 1, 4, 3] });
    expect(drafter.depth.levels).toBe(2);
    // greedy: a budget the first levels cannot fill runs exactly the chosen levels
    const r0 = counter.snapshot().readbacks;
    const tree = await drafter.propose({ tokens, sampling: false, options: defaultSampling, rng }, 12);
    expect({ readbacks: counter.snapshot().readbacks - r0, depth: Math.max(...Array.from(validateTree(tree, target.vocabSize))) }).toEqual({ readbacks: 2, depth: 2 });
    // fusion drafts with this ModelDrafter: its generation starts from a fresh schedule too
    await new FusionDrafter(draftModel, drafter, new RetrievalDrafter()).begin(tokens);
    expect(drafter.depth.levels).toBe(5);
  });

  it('auto runs its draft arm as steps grown on the GPU, switching arms every step, and its greedy output equals ar', async () => {
    // backoff 1: every losing arm is retried on the next step, so arms alternate; recycling reads
    // the whole top-k of every row, which the GPU steps must then compute and read back
    registerStrategy('auto-rotating', async (ctx) => new Controller([await ctx.drafter('draft'), await ctx.drafter('lookup'), await ctx.drafter('recycling')], { budgets: [2, 6], backoff: 1 }));
    const prompt = 'def add(a, b):\n    return a + b\n\ndef add(a, b):';
    const plain = await a.generateText(prompt, { maxTokens: 24, strategy: 'ar' });
    const spec = await a.generateText(prompt, { maxTokens: 24, strategy: 'auto-rotating' });
    expect(spec.tokens).toEqual(plain.tokens);
    const arms = spec.stats.steps.map((s) => s.strategy.split('/')[0]);
    const switches = arms.filter((x, i) => i > 0 && (x === 'draft') !== (arms[i - 1] === 'draft')).length;
    expect(arms.filter((x) => x === 'draft').length).toBeGreaterThanOrEqual(3);
    expect(switches).toBeGreaterThanOrEqual(4);
    // every step one readback, and none of the draft model's own: its arm ran whole steps on the GPU
    // (on the CPU path each of its levels reads logits back)
    expect({ readbacks: spec.stats.gpu.readbacks, draft: spec.stats.gpu.draftReadbacks }).toEqual({ readbacks: spec.stats.targetForwards, draft: 0 });
  });

  it('auto\'s GPU-grown draft steps also record Hydra\'s drafting in their submit, so a Hydra step right after one has its tree', async () => {
    registerStrategy('auto-draft-hydra', async (ctx) => new Controller([await ctx.drafter('draft'), await ctx.drafter('hydra')], { budgets: [2, 4], backoff: 1 }));
    const prompt = 'Once upon a time there was a';
    const plain = await a.generateText(prompt, { maxTokens: 16, strategy: 'ar' });
    const spec = await a.generateText(prompt, { maxTokens: 16, strategy: 'auto-draft-hydra' });
    expect(spec.tokens).toEqual(plain.tokens);
    const steps = spec.stats.steps;
    const afterDraft = steps.filter((s, i) => i > 0 && s.strategy.startsWith('hydra/') && steps[i - 1].strategy.startsWith('draft/'));
    expect(afterDraft.length).toBeGreaterThan(0);
    // Hydra proposes nothing when its tree was not drafted for this root
    expect(afterDraft.every((s) => s.treeSize > 0)).toBe(true);
    expect({ readbacks: spec.stats.gpu.readbacks, draft: spec.stats.gpu.draftReadbacks }).toEqual({ readbacks: spec.stats.targetForwards, draft: 0 });
  });

  it('proposes valid trees within the budget, greedy and sampled', async () => {
    const drafter = new ModelDrafter(draftModel, { width: 3, maxDepth: 6 });
    const tokens = a.encodePrompt('Once upon a time', { chat: false, addSpecialTokens: true });
    for (const budget of [1, 5, 17, 40]) {
      for (const temperature of [0, 0.8]) {
        const tree = await drafter.propose({ tokens, sampling: temperature > 0, options: { ...defaultSampling, temperature }, rng: new Rng(budget) }, budget);
        expect(tree.tokens.length).toBeGreaterThan(0);
        expect(tree.tokens.length).toBeLessThanOrEqual(budget);
        validateTree(tree, target.vocabSize);
        expect(tree.draft.kind).toBe(temperature > 0 ? 'sampled' : 'deterministic');
      }
    }
  });
});

describe('draft model on the shipped pair', () => {
  let draftModel: DraftModel;
  let engine: Engine;
  beforeAll(async () => {
    const { device } = await acquireDevice();
    draftModel = await DraftModel.load(device, await shippedModel('tinystories-draft'), { maxContext: 256, maxTreeRows: 64 });
    engine = await Engine.load(await shippedModel('tinystories-target'), { maxContext: 256, draft: draftModel });
  });
  afterAll(() => { engine?.destroy(); draftModel?.destroy(); });

  it('greedy output of draft equals ar, and the aligned draft is accepted', async () => {
    // One prompt in each gpu project (./runtime.ts).
    const prompts = ['Once upon a time, there was a little girl named Lily.', 'def add(a, b):\n    return a + b\n\ndef'];
    for (const prompt of prompts.filter((_, p) => mine(p))) {
      const plain = await engine.generateText(prompt, { maxTokens: 24, strategy: 'ar' });
      const spec = await engine.generateText(prompt, { maxTokens: 24, strategy: 'draft', treeBudget: 12 });
      expect(spec.tokens).toEqual(plain.tokens);
      expect(spec.stats.tau).toBeGreaterThan(1.5);
    }
  });

  it('grows deeper than its width when the draft is confident', async () => {
    const drafter = new ModelDrafter(draftModel, { width: 2 });
    const tokens = engine.encodePrompt('Once upon a time, there was a little', { chat: false, addSpecialTokens: true });
    const tree = await drafter.propose({ tokens, sampling: false, options: defaultSampling, rng: new Rng(0) }, 12);
    const depth = validateTree(tree, 32000);
    expect(Math.max(...depth)).toBeGreaterThan(2);
  });
});

// In one gpu project (./runtime.ts).
describeIn('browser')('draft model: sampling distribution (engine level)', () => {
  const sampling = { temperature: 1.3, topK: 3, topP: 1, repetitionPenalty: 1 };
  const trials = 400;
  let engine: Engine;
  let draftModel: DraftModel;
  let prompt: Int32Array;
  let exact: FirstTwo;

  beforeAll(async () => {
    const files = await fixtureFiles(target, 11);
    const { device } = await acquireDevice();
    draftModel = await DraftModel.load(device, await fixtureFiles(draft, 12), { maxContext: 64, weightDtype: 'f32' });
    engine = await Engine.load(files, { maxContext: 64, weightDtype: 'f32', draft: draftModel });
    prompt = engine.encodePrompt('Once upon a', { chat: false, addSpecialTokens: true });
    exact = exactFirstTwo(files, prompt, sampling, engine.kvDtype);
  });
  afterAll(() => { engine?.destroy(); draftModel?.destroy(); });

  it('the first two tokens follow the target distribution with draft (sampled trees, q recorded per row)', async () => {
    let drafted = 0;
    // maxTokens 3 leaves room for 2 nodes in the first step: two siblings drawn without replacement.
    const pValue = await firstTwoPValue(engine, prompt, exact, trials, { maxTokens: 3, strategy: 'draft', treeBudget: 6, ...sampling }, (s) => (drafted += s.steps[0].treeSize));
    expect(drafted).toBeGreaterThan(trials); // multi-node trees were verified
    expect(pValue).toBeGreaterThan(1e-4);
  });
});
