/**
 * The speculative invariants end to end, on the GPU engine (DESIGN section 6):
 *  - greedy speculative output equals plain greedy output token for token, for every strategy;
 *  - the target drafting for itself has every draft accepted (tau = depth + 1);
 *  - under sampling, the joint distribution of the first two tokens equals the target's exact
 *    distribution (computed by the CPU reference), for plain and speculative decoding;
 *  - a seed reproduces a sampled generation.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { Engine } from '../../src/engine/engine';
import { registerStrategy } from '../../src/engine/strategies';
import { makeFixture, type FixtureShape } from '../../src/model/fixture';
import { MemorySource } from '../../src/model/source';
import { loadModelFiles, type ModelFiles } from '../../src/model/weights';
import { ReferenceModel } from '../../src/model/reference';
import { OracleTreeDrafter } from './oracle-drafter';
import { exactFirstTwo, firstTwoPValue, type FirstTwo } from './first-two';
import { itIn, mine, type GpuRuntime } from './runtime';

const shapes: Record<string, FixtureShape> = {
  'llama-gqa-f32': { modelType: 'llama', vocabSize: 384, hiddenSize: 64, intermediateSize: 136, numLayers: 2, numHeads: 4, numKvHeads: 2, dtype: 'f32' },
  'qwen2-bias-f16': { modelType: 'qwen2', vocabSize: 419, hiddenSize: 72, intermediateSize: 100, numLayers: 2, numHeads: 3, numKvHeads: 1, headDim: 24, attentionBias: true, dtype: 'f16' },
};

const prompts = ['Once upon a time there was a', 'def add(a, b):\n    return a + b\n\ndef add(a, b):'];
/** Tree budgets, cycled over strategies and prompts so that each strategy meets small and large trees. */
const budgets = [1, 7, 24];

async function fixtureFiles(shape: FixtureShape, seed: number): Promise<ModelFiles> {
  return loadModelFiles(new MemorySource(makeFixture(shape, seed)));
}

for (const [f, [name, shape]] of Object.entries(shapes).entries()) {
  describe(`speculative decoding on ${name}`, () => {
    let files: ModelFiles;
    let engine: Engine;
    beforeAll(async () => {
      files = await fixtureFiles(shape, 7);
      // draftWithTarget: draft, fusion and cross-vocab run with a copy of the target as their draft
      // no kvDtype named: the cache follows the weights, f32 for f32 weights and f16 for f16
      // ones (the draft copy of the target too); every strategy equals 'ar' on the same cache
      engine = await Engine.load(files, { maxContext: 160, weightDtype: shape.dtype === 'f32' ? 'f32' : 'f16', draftWithTarget: true });
      expect([engine.kvDtype, engine.model.kv.dtype]).toEqual(Array(2).fill(shape.dtype === 'f32' ? 'f32' : 'f16'));
    });
    afterAll(() => engine?.destroy());

    // Each strategy runs on one fixture in each gpu project and on both across the two (./runtime.ts).
    it('greedy output of every strategy equals plain greedy output', async () => {
      const strategies = engine.strategyNames().filter((s) => s !== 'ar');
      expect(strategies.length).toBeGreaterThanOrEqual(2);
      for (const [p, prompt] of prompts.entries()) {
        const plain = await engine.generateText(prompt, { maxTokens: 32, strategy: 'ar' });
        expect(plain.tokens.length).toBe(32);
        for (const [i, strategy] of strategies.entries()) {
          if (!mine(i + f)) continue;
          const treeBudget = budgets[(i + p) % budgets.length];
          const spec = await engine.generateText(prompt, { maxTokens: 32, strategy, treeBudget });
          expect({ strategy, treeBudget, tokens: spec.tokens }).toEqual({ strategy, treeBudget, tokens: plain.tokens });
        }
      }
    });

    // 160-token context: generation stops with finishReason "context", never overruns (one fixture suffices).
    if (name === 'llama-gqa-f32') it('greedy output crosses the context capacity cleanly', async () => {
      const plain = await engine.generateText(prompts[0], { maxTokens: 400, strategy: 'ar' });
      const spec = await engine.generateText(prompts[0], { maxTokens: 400, strategy: 'self', treeBudget: 9 });
      expect(plain.stats.finishReason).toBe('context');
      expect(spec.stats.finishReason).toBe('context');
      expect(spec.tokens).toEqual(plain.tokens);
    });

    it('self-drafting accepts every draft: tau = depth + 1', async () => {
      const { stats } = await engine.generateText(prompts[1], { maxTokens: 49, strategy: 'self', treeBudget: 6 });
      expect(stats.generatedTokens).toBe(49);
      for (const step of stats.steps) expect(step.accepted).toBe(step.treeSize);
      expect(stats.steps.slice(0, -1).every((s) => s.treeSize === 6)).toBe(true);
      expect(stats.tau).toBeCloseTo(49 / stats.targetForwards, 10);
      expect(stats.targetForwards).toBe(7);
    });

    it('a seed reproduces a sampled generation', async () => {
      const a = await engine.generateText(prompts[0], { maxTokens: 24, temperature: 0.9, seed: 42, strategy: 'random', treeBudget: 5 });
      const b = await engine.generateText(prompts[0], { maxTokens: 24, temperature: 0.9, seed: 42, strategy: 'random', treeBudget: 5 });
      const c = await engine.generateText(prompts[0], { maxTokens: 24, temperature: 0.9, seed: 43, strategy: 'random', treeBudget: 5 });
      expect(b.tokens).toEqual(a.tokens);
      expect(c.tokens).not.toEqual(a.tokens);
    });
  });
}

describe('sampling distribution (engine level)', () => {
  const shape = shapes['llama-gqa-f32'];
  const sampling = { temperature: 1.3, topK: 3, topP: 1, repetitionPenalty: 1 };
  const trials = 300;
  let engine: Engine;
  let prompt: Int32Array;
  let exact: FirstTwo;

  beforeAll(async () => {
    const files = await fixtureFiles(shape, 11);
    engine = await Engine.load(files, { maxContext: 64, weightDtype: 'f32' });
    // Repetitive, so that prompt lookup finds matches and Token Recycling's successors recur.
    prompt = engine.encodePrompt('the cat sat. the cat sat. the cat', { chat: false, addSpecialTokens: true });
    exact = exactFirstTwo(files, prompt, sampling, engine.kvDtype);
    // Deterministic multi-branch trees from the reference's own top tokens, so that
    // acceptance and rejection both happen at depth 1 and 2.
    registerStrategy('test-oracle', () => new OracleTreeDrafter(ReferenceModel.fromFiles(files, 64), shape.vocabSize));
  });
  afterAll(() => engine?.destroy());

  // ar: plain sampling; self: sampled drafts with q = p; test-oracle: deterministic drafts with
  // several children per node, rejected and accepted at both depths; lookup and recycling:
  // the deterministic drafters of issue 5 (recycling learns across the trials). Each runs in
  // one gpu project (./runtime.ts).
  const where: Record<string, GpuRuntime> = { ar: 'browser', self: 'browser', 'test-oracle': 'browser', lookup: 'node', recycling: 'node' };
  for (const [strategy, runtime] of Object.entries(where)) {
    itIn(runtime)(`the first two tokens follow the target distribution with ${strategy}`, async () => {
      const pValue = await firstTwoPValue(engine, prompt, exact, trials, { maxTokens: 2, strategy, treeBudget: 8, ...sampling });
      expect(pValue).toBeGreaterThan(1e-4);
    });
  }
});
