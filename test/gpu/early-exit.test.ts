/**
 * DEL early-exit self-speculation (src/draft/early-exit.ts) on the GPU engine:
 *  - the exit-layer pass and the hidden-state taps agree (GpuModel.forward exitLayer vs
 *    readTapTopK on the same rows), and exiting after every layer is the full pass;
 *  - greedy output equals plain greedy output (adaptive and fixed exits; fixture and shipped target);
 *  - under sampling, the first two tokens follow the target's exact distribution (CPU reference).
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { Engine } from '../../src/engine/engine';
import { registerStrategy } from '../../src/engine/strategies';
import { makeFixture, type FixtureShape } from '../../src/model/fixture';
import { MemorySource } from '../../src/model/source';
import { loadModelFiles, type ModelFiles } from '../../src/model/weights';
import { EarlyExitDrafter } from '../../src/draft/early-exit';
import { shippedModel } from './models';
import { exactFirstTwo, firstTwoPValue, type FirstTwo } from './first-two';
import { describeIn } from './runtime';

const shape: FixtureShape = { modelType: 'llama', vocabSize: 384, hiddenSize: 64, intermediateSize: 136, numLayers: 4, numHeads: 4, numKvHeads: 2, dtype: 'f32' };
const prompts = ['Once upon a time there was a', 'def add(a, b):\n    return a + b\n\ndef add(a, b):'];

registerStrategy('test-early-exit-fixed', (ctx) => new EarlyExitDrafter(ctx.target, { fixed: { layer: 2, length: 4 } }));

async function fixtureFiles(seed: number): Promise<ModelFiles> {
  return loadModelFiles(new MemorySource(makeFixture(shape, seed)));
}

describe('early exit on a 4-layer fixture', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(await fixtureFiles(7), { maxContext: 128, weightDtype: 'f32', maxTreeNodes: 16 });
  });
  afterAll(() => engine?.destroy());

  it('taps give the exit-layer argmax; exiting after every layer is the full pass', async () => {
    const model = engine.model;
    model.tapHidden([1, 2, 3]);
    const tokens = Int32Array.from([1, 17, 200, 5, 99, 383]);
    const positions = Int32Array.from(tokens, (_, r) => r);
    const mask = new Uint32Array(tokens.length * 4);
    for (let r = 0; r < tokens.length; r++) mask[r * 4] = (2 << r) - 1; // causal chain
    model.truncate(0);
    model.forward(tokens, positions, mask);
    const full = await model.readArgmaxTopK(tokens.length);
    const rows = [0, 2, 3, 5];
    const tapped = new Map<number, Int32Array>();
    for (const layer of [1, 2, 3]) tapped.set(layer, await model.readTapTopK(layer, rows));
    for (const layer of [1, 2, 3, 4]) {
      model.truncate(0);
      model.forward(tokens, positions, mask, { exitLayer: layer });
      const exit = await model.readArgmaxTopK(tokens.length);
      if (layer === 4) expect(Array.from(exit.topK)).toEqual(Array.from(full.topK));
      else expect(rows.map((r) => exit.topK.slice(r * exit.k, (r + 1) * exit.k).join())).toEqual(rows.map((_, i) => tapped.get(layer)!.slice(i * exit.k, (i + 1) * exit.k).join()));
    }
    // Exits differ from the full pass somewhere (a trivially equal exit would make the test vacuous).
    model.forward(tokens, positions, mask, { exitLayer: 1 });
    expect(Array.from((await model.readArgmaxTopK(tokens.length)).argmax)).not.toEqual(Array.from(full.argmax));
    model.truncate(0);
    expect(() => model.forward(tokens, positions, mask, { exitLayer: 5 })).toThrow(/exitLayer/);
    await expect(model.readTapTopK(4, [0])).rejects.toThrow(/not tapped/);
  });

  it('greedy output equals plain greedy output (adaptive and fixed exits)', async () => {
    for (const prompt of prompts) {
      const plain = await engine.generateText(prompt, { maxTokens: 24, strategy: 'ar' });
      for (const strategy of ['early-exit', 'test-early-exit-fixed']) {
        const spec = await engine.generateText(prompt, { maxTokens: 24, strategy, treeBudget: 8 });
        expect({ strategy, tokens: spec.tokens }).toEqual({ strategy, tokens: plain.tokens });
      }
      // The fixed drafter really drafted (4 nodes per step but the last ones).
      const fixed = await engine.generateText(prompt, { maxTokens: 24, strategy: 'test-early-exit-fixed', treeBudget: 8 });
      expect(fixed.stats.steps[0].treeSize).toBe(4);
    }
  });
});

describe('early exit on the shipped target', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(await shippedModel('tinystories-target'), { maxContext: 256, maxTreeNodes: 16 });
  });
  afterAll(() => engine?.destroy());

  it('greedy output equals plain greedy output', async () => {
    for (const prompt of ['Once upon a time, there was a little girl named', 'def __init__(self, name):\n']) {
      const plain = await engine.generateText(prompt, { maxTokens: 24, strategy: 'ar' });
      const spec = await engine.generateText(prompt, { maxTokens: 24, strategy: 'early-exit', treeBudget: 8 });
      expect(spec.tokens).toEqual(plain.tokens);
      expect(spec.stats.generatedTokens).toBe(24);
    }
  });
});

// In one gpu project (./runtime.ts).
describeIn('node')('early exit: sampling distribution (engine level)', () => {
  const sampling = { temperature: 1.3, topK: 3, topP: 1, repetitionPenalty: 1 };
  const trials = 300;
  let engine: Engine;
  let prompt: Int32Array;
  let exact: FirstTwo;

  beforeAll(async () => {
    const files = await fixtureFiles(11);
    engine = await Engine.load(files, { maxContext: 64, weightDtype: 'f32', maxTreeNodes: 7 });
    prompt = engine.encodePrompt('Once upon a', { chat: false, addSpecialTokens: true });
    exact = exactFirstTwo(files, prompt, sampling, engine.kvDtype);
  });
  afterAll(() => engine?.destroy());

  it('the first two tokens follow the target distribution with sampled exit-layer drafts', async () => {
    let drafted = 0;
    const pValue = await firstTwoPValue(engine, prompt, exact, trials, { maxTokens: 2, strategy: 'test-early-exit-fixed', treeBudget: 4, ...sampling }, (s) => (drafted += s.steps[0].treeSize));
    expect(drafted).toBeGreaterThan(0);
    expect(pValue).toBeGreaterThan(1e-4);
  });
});
