/**
 * The diffusion drafter (src/draft/diffusion.ts: block drafter + DiffuSpec path search) on the
 * GPU engine:
 *  - the drafter pass and the lattice's top-k on the GPU (src/draft/diffusion-gpu.ts) equal the
 *    CPU reference on seeded awkward shapes, short contexts (PAD) and unknown tokens (UNK) included;
 *  - greedy output equals plain greedy output: a random block drafter on a fixture, and the
 *    shipped drafter on the shipped target (which must also be accepted);
 *  - under sampling, the first two tokens follow the target's exact distribution, with trees
 *    whose tokens are drawn from the drafter's distributions (siblings without replacement).
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { Engine } from '../../src/engine/engine';
import { makeFixture, type FixtureShape } from '../../src/model/fixture';
import { MemorySource } from '../../src/model/source';
import { loadModelFiles, type ModelFiles } from '../../src/model/weights';
import { randomDiffusion, type DiffusionDrafterModel } from '../../src/model/diffusion';
import { registerStrategy } from '../../src/engine/strategies';
import { DiffusionDrafter } from '../../src/draft/diffusion';
import { CpuBlockPass, topKRows } from '../../src/draft/diffusion-pass';
import { GpuBlockPass } from '../../src/draft/diffusion-gpu';
import { blockLogits, inputRows, trimIndex } from '../../src/model/diffusion-reference';
import { parseConfig } from '../../src/model/config';
import { fixtureConfigJson } from '../../src/model/fixture';
import { shippedHeads, shippedModel } from './models';
import { testGpu } from './util';
import { exactFirstTwo, firstTwoPValue, type FirstTwo } from './first-two';
import { describeIn } from './runtime';

const shape: FixtureShape = { modelType: 'llama', vocabSize: 384, hiddenSize: 64, intermediateSize: 136, numLayers: 2, numHeads: 4, numKvHeads: 2, dtype: 'f32' };
const prompts = ['Once upon a time there was a', 'def add(a, b):\n    return a + b\n\ndef add(a, b):'];
const small = { context: 8, block: 4, layers: 2, dim: 32, heads: 2, ffn: 48 };

async function fixture(seed: number): Promise<{ files: ModelFiles; drafter: DiffusionDrafterModel }> {
  const files = await loadModelFiles(new MemorySource(makeFixture(shape, seed)));
  return { files, drafter: randomDiffusion(files.config, { ...small, trim: 200, seed: seed + 1 }) };
}

describe('diffusion drafter pass on the GPU', () => {
  it('gives the CPU reference\'s logits and lattice on awkward shapes, with one submit and one readback', async () => {
    const gpu = await testGpu();
    const config = parseConfig(fixtureConfigJson({ vocabSize: 301, hiddenSize: 8, intermediateSize: 16, numLayers: 1, numHeads: 2, numKvHeads: 2, dtype: 'f32' }), 'config.json');
    for (const [i, o] of [{ context: 5, block: 3, layers: 1, dim: 24, heads: 3, ffn: 20, trim: 37 }, { context: 11, block: 6, layers: 2, dim: 40, heads: 5, ffn: 52, trim: 130 }].entries()) {
      const m = randomDiffusion(config, { ...o, seed: 30 + i });
      const pass = new GpuBlockPass(gpu.device, m, 5);
      await pass.check();
      const trim = trimIndex(m);
      // a context shorter than C (PAD), one longer, both with a token outside the trimmed vocabulary (UNK)
      const outside = [...Array(301).keys()].find((t) => !trim.has(t))!;
      for (const tokens of [[m.vocabIds[3], outside, m.vocabIds[0]], Array.from({ length: o.context + 4 }, (_, j) => (j === 2 ? outside : m.vocabIds[(j * 7) % o.trim]))]) {
        const t = Int32Array.from(tokens);
        const want = blockLogits(m, inputRows(m, t, trim));
        const before = pass.counter.snapshot();
        const got = await pass.draft(t, true);
        expect(pass.counter.snapshot().submits - before.submits).toBe(1);
        expect(pass.counter.snapshot().readbacks - before.readbacks).toBe(1);
        expect(pass.counter.snapshot().dispatches - before.dispatches).toBeGreaterThanOrEqual(5 + 5 * o.layers);
        let worst = 0;
        want.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - got.logits![j]))));
        expect(worst).toBeLessThan(1e-3);
        const ref = topKRows(want, o.block, 5);
        expect(Array.from(got.ids)).toEqual(Array.from(ref.ids));
        got.probs.forEach((p, j) => expect(p).toBeCloseTo(ref.probs[j], 5));
      }
      pass.destroy();
    }
  });
});

describe('diffusion on a random fixture', () => {
  let engine: Engine;
  beforeAll(async () => {
    const { files, drafter } = await fixture(5);
    engine = await Engine.load(files, { maxContext: 128, weightDtype: 'f32', maxTreeNodes: 16, diffusion: drafter });
  });
  afterAll(() => engine?.destroy());

  it('greedy output equals plain greedy output', async () => {
    expect(engine.strategyNames()).toContain('diffusion');
    for (const [i, prompt] of prompts.entries()) {
      const plain = await engine.generateText(prompt, { maxTokens: 10, strategy: 'ar' });
      for (const treeBudget of i === 0 ? [2, 16] : [16]) {
        const spec = await engine.generateText(prompt, { maxTokens: 10, strategy: 'diffusion', treeBudget });
        expect({ treeBudget, tokens: spec.tokens }).toEqual({ treeBudget, tokens: plain.tokens });
        expect(spec.stats.steps.every((st) => st.treeSize <= treeBudget)).toBe(true);
      }
    }
  });
});

describe('diffusion on the shipped target with its trained drafter', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(await shippedModel('tinystories-target'), { maxContext: 256, maxTreeNodes: 16, heads: false, diffusion: shippedHeads('tinystories-target') });
  });
  afterAll(() => engine?.destroy());

  it('greedy output equals plain greedy output, and the drafts are accepted', async () => {
    const prompt = 'Once upon a time, there was a little girl named';
    const plain = await engine.generateText(prompt, { maxTokens: 8, strategy: 'ar' });
    const spec = await engine.generateText(prompt, { maxTokens: 8, strategy: 'diffusion', treeBudget: 8 });
    expect(spec.tokens).toEqual(plain.tokens);
    // the drafter trained on the target's continuations drafts the whole 6-token block right here
    // (tau 4: 6 accepted, then the last token); the first drafter (16k generated tokens) gave 2.67
    expect(spec.stats.tau).toBeGreaterThan(3);
  });
});

// In one gpu project (./runtime.ts).
describeIn('browser')('diffusion: sampling distribution (engine level)', () => {
  const sampling = { temperature: 1.3, topK: 3, topP: 1, repetitionPenalty: 1 };
  const trials = 200;
  let engine: Engine;
  let prompt: Int32Array;
  let exact: FirstTwo;

  beforeAll(async () => {
    const { files } = await fixture(11);
    engine = await Engine.load(files, { maxContext: 64, weightDtype: 'f32', maxTreeNodes: 7, diffusion: false });
    prompt = engine.encodePrompt('Once upon a', { chat: false, addSpecialTokens: true });
    exact = exactFirstTwo(files, prompt, sampling, engine.kvDtype);
    // A drafter over the target's support of the first two tokens, with logits of about unit
    // scale: its samples are often accepted and sometimes rejected, at depth 1 and 2.
    const vocabIds = Int32Array.from(new Set(exact.cells.flatMap((c) => c.split(',').map(Number))));
    const d = randomDiffusion(files.config, { ...small, trim: vocabIds.length, seed: 12 });
    const model = { ...d, vocabIds, emb: d.emb.map((v) => v * 0.2) };
    registerStrategy('test-diffusion-support', () => new DiffusionDrafter(new CpuBlockPass(model), shape.vocabSize, { minScore: 0 }));
  });
  afterAll(() => engine?.destroy());

  it('the first two tokens follow the target distribution with sampled block drafts', async () => {
    let drafted = 0;
    let accepted = 0;
    const pValue = await firstTwoPValue(engine, prompt, exact, trials, { maxTokens: 3, strategy: 'test-diffusion-support', treeBudget: 4, ...sampling }, (s) => {
      drafted += s.steps[0].treeSize;
      accepted += s.steps[0].accepted;
    });
    expect(drafted).toBe(2 * trials); // the first step of every trial verified a 2-node tree (budget: maxTokens - 1)
    expect(accepted).toBeGreaterThan(trials / 5);
    expect(pValue).toBeGreaterThan(1e-4);
  });
});
