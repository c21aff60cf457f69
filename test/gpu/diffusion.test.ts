/**
 * The diffusion drafter (src/draft/diffusion.ts: block drafter + DiffuSpec path search) on the
 * GPU engine:
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
import { CpuBlockPass } from '../../src/draft/diffusion-pass';
import { shippedHeads, shippedModel } from './models';
import { exactFirstTwo, firstTwoPValue, type FirstTwo } from './first-two';

const shape: FixtureShape = { modelType: 'llama', vocabSize: 384, hiddenSize: 64, intermediateSize: 136, numLayers: 2, numHeads: 4, numKvHeads: 2, dtype: 'f32' };
const prompts = ['Once upon a time there was a', 'def add(a, b):\n    return a + b\n\ndef add(a, b):'];
const small = { context: 8, block: 4, layers: 2, dim: 32, heads: 2, ffn: 48 };

async function fixture(seed: number): Promise<{ files: ModelFiles; drafter: DiffusionDrafterModel }> {
  const files = await loadModelFiles(new MemorySource(makeFixture(shape, seed)));
  return { files, drafter: randomDiffusion(files.config, { ...small, trim: 200, seed: seed + 1 }) };
}

describe('diffusion on a random fixture', () => {
  let engine: Engine;
  beforeAll(async () => {
    const { files, drafter } = await fixture(5);
    engine = await Engine.load(files, { maxContext: 128, weightDtype: 'f32', maxTreeNodes: 16, diffusion: drafter });
  });
  afterAll(() => engine?.destroy());

  it('greedy output equals plain greedy output', async () => {
    expect(engine.strategyNames()).toContain('diffusion');
    for (const prompt of prompts) {
      const plain = await engine.generateText(prompt, { maxTokens: 10, strategy: 'ar' });
      for (const treeBudget of [2, 16]) {
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
    const plain = await engine.generateText(prompt, { maxTokens: 16, strategy: 'ar' });
    const spec = await engine.generateText(prompt, { maxTokens: 16, strategy: 'diffusion', treeBudget: 8 });
    expect(spec.tokens).toEqual(plain.tokens);
    expect(spec.stats.tau).toBeGreaterThan(1.2);
  });
});

describe('diffusion: sampling distribution (engine level)', () => {
  const sampling = { temperature: 1.3, topK: 3, topP: 1, repetitionPenalty: 1 };
  const trials = 100;
  let engine: Engine;
  let prompt: Int32Array;
  let exact: FirstTwo;

  beforeAll(async () => {
    const { files } = await fixture(11);
    engine = await Engine.load(files, { maxContext: 64, weightDtype: 'f32', maxTreeNodes: 7, diffusion: false });
    prompt = engine.encodePrompt('Once upon a', { chat: false, addSpecialTokens: true });
    exact = exactFirstTwo(files, prompt, sampling);
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
