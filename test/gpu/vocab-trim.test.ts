/**
 * VocabTrim and fusion on the GPU: the counts are deterministic, a trimmed draft never proposes
 * a token outside the kept set, and greedy output with a trimmed draft (draft, fusion) equals ar.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { Engine } from '../../src/engine/engine';
import { DraftModel } from '../../src/draft/draft-model';
import { ModelDrafter } from '../../src/draft/model-drafter';
import { GpuModel } from '../../src/model/gpu-model';
import { makeFixture, type FixtureShape } from '../../src/model/fixture';
import { MemorySource } from '../../src/model/source';
import { loadModelFiles, type ModelFiles } from '../../src/model/weights';
import { countGreedyPredictions, keptTokens, sortedCounts, VOCAB_COUNTS_FORMAT, type VocabCounts } from '../../src/draft/vocab-trim';
import { defaultSampling } from '../../src/verify/sampler';
import { Rng } from '../../src/verify/rng';
import { acquireDevice } from '../../src/gpu/device';

const target: FixtureShape = { modelType: 'llama', vocabSize: 384, hiddenSize: 64, intermediateSize: 136, numLayers: 2, numHeads: 4, numKvHeads: 2, dtype: 'f32' };
const draft: FixtureShape = { modelType: 'llama', vocabSize: 384, hiddenSize: 32, intermediateSize: 64, numLayers: 1, numHeads: 2, numKvHeads: 2, dtype: 'f32' };
const files = (s: FixtureShape, seed: number): Promise<ModelFiles> => loadModelFiles(new MemorySource(makeFixture(s, seed)));

describe('VocabTrim', () => {
  let device: GPUDevice;
  let targetFiles: ModelFiles;
  let counts: VocabCounts;
  let text: Int32Array;
  beforeAll(async () => {
    device = (await acquireDevice()).device;
    targetFiles = await files(target, 7);
    text = Int32Array.from({ length: 300 }, (_, i) => (i * 37 + (i >> 3) * 11) % target.vocabSize);
  });

  it('counts are deterministic: two runs give the same counts, one per position', async () => {
    const model = await GpuModel.load(device, targetFiles, { maxContext: 100 });
    const a = new Uint32Array(target.vocabSize);
    const b = new Uint32Array(target.vocabSize);
    await countGreedyPredictions(model, text, 90, a);
    await countGreedyPredictions(model, text, 90, b);
    model.destroy();
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(a.reduce((x, y) => x + y, 0)).toBe(text.length);
    counts = { format: VOCAB_COUNTS_FORMAT, vocabSize: target.vocabSize, source: { model: 'fixture', texts: [], window: 90 }, positions: text.length, counts: sortedCounts(a) };
    expect(counts.counts.length).toBeGreaterThan(5);
  });

  it('a trimmed draft never proposes a token outside the kept set, greedy or sampled', async () => {
    const kept = keptTokens(counts, 40);
    const dm = await DraftModel.load(device, await files(draft, 9), { maxContext: 100, weightDtype: 'f32', vocabTrim: kept });
    const keptSet = new Set(kept);
    const drafter = new ModelDrafter(dm, { width: 4, maxDepth: 5 });
    for (let start = 0; start < 5; start++) {
      const tokens = text.subarray(start * 20, start * 20 + 15);
      for (const temperature of [0, 1]) {
        const tree = await drafter.propose({ tokens, sampling: temperature > 0, options: { ...defaultSampling, temperature }, rng: new Rng(start) }, 16);
        expect(tree.tokens.length).toBeGreaterThan(0);
        for (const t of tree.tokens) expect(keptSet.has(t), `token ${t} outside the kept set`).toBe(true);
      }
    }
    dm.destroy();
  });

  it('greedy output with a trimmed draft equals ar for draft and fusion', async () => {
    const dm = await DraftModel.load(device, await files(draft, 9), { maxContext: 128, weightDtype: 'f32', vocabTrim: keptTokens(counts, 64) });
    const engine = await Engine.load(targetFiles, { maxContext: 128, weightDtype: 'f32', draft: dm });
    const prompt = 'Once upon a time there was a';
    const documents = ['Once upon a time there was a cat. The cat sat on a mat and the cat was happy.'];
    const plain = await engine.generateText(prompt, { maxTokens: 24, strategy: 'ar' });
    for (const strategy of ['draft', 'fusion']) {
      for (const treeBudget of [3, 16]) {
        const spec = await engine.generateText(prompt, { maxTokens: 24, strategy, treeBudget, documents });
        expect({ strategy, treeBudget, tokens: spec.tokens }).toEqual({ strategy, treeBudget, tokens: plain.tokens });
      }
    }
    engine.destroy();
    dm.destroy();
  });
});
