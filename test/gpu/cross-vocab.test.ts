/**
 * Cross-vocabulary drafting (src/draft/cross-vocab.ts) on the shipped pair: the 32k
 * SentencePiece target with the GPT-2-tokenizer draft. Greedy output equals plain greedy
 * output, the draft model's re-tokenized chains are really proposed and accepted, and sampled
 * output keeps working (deterministic drafts, one-hot q).
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { Engine } from '../../src/engine/engine';
import { shippedModel } from './models';
import { makeFixture } from '../../src/model/fixture';
import { MemorySource } from '../../src/model/source';
import { loadModelFiles } from '../../src/model/weights';

describe('cross-vocab without a draft of another tokenizer (a target copy drafts through text)', () => {
  let engine: Engine;
  beforeAll(async () => {
    const shape = { modelType: 'llama', vocabSize: 384, hiddenSize: 64, intermediateSize: 136, numLayers: 2, numHeads: 4, numKvHeads: 2, dtype: 'f32' } as const;
    engine = await Engine.load(await loadModelFiles(new MemorySource(makeFixture(shape, 7))), { maxContext: 128, weightDtype: 'f32', maxTreeNodes: 16, draftWithTarget: true });
  });
  afterAll(() => engine?.destroy());

  it("greedy output equals plain greedy output, and the target copy's drafts are accepted", async () => {
    let accepted = 0;
    for (const prompt of ['Once upon a time there was a', 'def add(a, b):\n    return a + b\n\ndef add(a, b):']) {
      const plain = await engine.generateText(prompt, { maxTokens: 24, strategy: 'ar' });
      const spec = await engine.generateText(prompt, { maxTokens: 24, strategy: 'cross-vocab', treeBudget: 8 });
      expect(spec.tokens).toEqual(plain.tokens);
      accepted += spec.stats.steps.reduce((n, s) => n + s.accepted, 0);
    }
    expect(accepted).toBeGreaterThan(0);
  });
});

describe('cross-vocab on the shipped target with the GPT-2 draft', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(await shippedModel('tinystories-target'), {
      maxContext: 256,
      maxTreeNodes: 16,
      crossVocabDraft: await shippedModel('tinystories-draft-gpt2'),
    });
  });
  afterAll(() => engine?.destroy());

  it('greedy output equals plain greedy output, with accepted model drafts', async () => {
    let modelSteps = 0;
    let accepted = 0;
    for (const prompt of ['Once upon a time, there was a little girl named', 'def __init__(self, name):\n']) {
      const plain = await engine.generateText(prompt, { maxTokens: 24, strategy: 'ar' });
      const spec = await engine.generateText(prompt, { maxTokens: 24, strategy: 'cross-vocab', treeBudget: 12 });
      expect(spec.tokens).toEqual(plain.tokens);
      for (const s of spec.stats.steps) {
        if (s.strategy.startsWith('model')) modelSteps++;
        accepted += s.accepted;
      }
    }
    expect(modelSteps).toBeGreaterThan(0);
    expect(accepted).toBeGreaterThan(0);
  });

  it('a seed reproduces a sampled generation', async () => {
    const o = { maxTokens: 16, temperature: 0.8, seed: 5, strategy: 'cross-vocab', treeBudget: 8 };
    const a = await engine.generateText('Once upon a time', o);
    const b = await engine.generateText('Once upon a time', o);
    expect(b.tokens).toEqual(a.tokens);
    expect(a.tokens.length).toBe(16);
  });
});
