/**
 * GpuModel's contract beyond the logits: bf16 files converted at load (to f32 exactly, or to
 * packed f16), option validation before anything is allocated, and the named errors of
 * misuse (too many rows, tokens outside the vocabulary, a second commit of one pass, passes
 * beyond the KV capacity, reads before a pass).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContextLengthError, OptionsError, TreespecError } from '../../src/errors.ts';
import { KvCommitError } from '../../src/kv/cache.ts';
import { makeFixture, type FixtureShape } from '../../src/model/fixture.ts';
import { GpuModel } from '../../src/model/gpu-model.ts';
import { ReferenceModel } from '../../src/model/reference.ts';
import { MemorySource } from '../../src/model/source.ts';
import { loadModelFiles, type ModelFiles } from '../../src/model/weights.ts';
import { expectClose, randomU32, testGpu } from './util.ts';
import { chain } from './tree-util.ts';

const shape: FixtureShape = {
  modelType: 'llama', vocabSize: 261, hiddenSize: 32, intermediateSize: 48, numLayers: 1, numHeads: 2, numKvHeads: 1, headDim: 16,
  maxPositionEmbeddings: 64, dtype: 'bf16',
};

/** One causal chain mask of `rows` rows, (rows, 4) u32. */
const positions = (n: number, from = 0) => Int32Array.from({ length: n }, (_, i) => from + i);

describe('GpuModel contract', () => {
  let files: ModelFiles;
  let device: GPUDevice;
  beforeAll(async () => {
    files = await loadModelFiles(new MemorySource(makeFixture(shape, 21)));
    device = (await testGpu()).device;
  });

  for (const weightDtype of ['f32', 'f16'] as const) {
    it(`bf16 weights uploaded as ${weightDtype}, with an f32 KV cache named, match the reference`, async () => {
      // a named kvDtype wins over the weights' default (f16 KV for f16 weights)
      const model = await GpuModel.load(device, files, { maxContext: 32, maxTreeRows: 16, weightDtype, kvDtype: 'f32' });
      expect(model.kv.dtype).toBe('f32');
      const tokens = Int32Array.from(randomU32(12, shape.vocabSize, 3));
      model.forward(tokens, positions(12), chain(12).mask);
      const expected = ReferenceModel.fromFiles(files, 64).forward(tokens);
      // bf16 values are exact in f32 and, at these magnitudes, in f16: same tolerance as forward.test.ts.
      expectClose(await model.readLogits(12), expected, 2e-4, 0, `logits (${weightDtype})`);
      model.destroy();
    });
  }

  it('rejects bad options before allocating', async () => {
    const bad = [
      { maxContext: 65 }, // beyond max_position_embeddings
      { maxContext: 0 },
      { maxContext: 32, maxTreeRows: 129 },
      { maxContext: 32, topK: 17 },
      { maxContext: 32, weightDtype: 'bf16' as 'f16' },
    ];
    for (const opts of bad) await expect(GpuModel.load(device, files, opts), JSON.stringify(opts)).rejects.toThrow(OptionsError);
  });

  describe('misuse', () => {
    let model: GpuModel;
    beforeAll(async () => {
      model = await GpuModel.load(device, files, { maxContext: 20, maxTreeRows: 8, topK: 3 });
    });
    afterAll(() => model?.destroy());

    it('names each error', async () => {
      await expect(model.readLogits(1)).rejects.toThrow(TreespecError); // no pass yet
      expect(() => model.forward(new Int32Array(9), positions(9), chain(9).mask)).toThrow(OptionsError);
      expect(() => model.forward(Int32Array.of(261), positions(1), chain(1).mask)).toThrow(OptionsError);
      expect(() => model.forward(Int32Array.of(1, 2), positions(1), chain(2).mask)).toThrow(OptionsError);
      model.forward(Int32Array.of(1, 2, 3), positions(3), chain(3).mask);
      await expect(model.readLogits(4)).rejects.toThrow(OptionsError);
      expect((await model.readArgmaxTopK(3)).k).toBe(3);
      model.commit([0, 1, 2]);
      expect(() => model.commit([0])).toThrow(KvCommitError); // that pass is already committed
      expect((await model.readArgmaxTopK(3)).argmax.length).toBe(3); // reads still see the pass
      // capacity = maxContext + maxTreeRows = 28 slots: 25 committed + 4 rows overflow.
      model.append(Int32Array.from({ length: 22 }, (_, i) => i));
      expect(model.kv.length).toBe(25);
      expect(() => model.forward(new Int32Array(4), positions(4, 25), chain(4).mask)).toThrow(ContextLengthError);
      model.forward(new Int32Array(3), positions(3, 25), chain(3).mask, { logits: false }); // exactly full
      await expect(model.readArgmaxTopK(1)).rejects.toThrow(TreespecError); // that pass made no logits
      model.truncate(2);
      expect(model.kv.length).toBe(2);
      expect(() => model.truncate(3)).toThrow(KvCommitError);
    });
  });
});
