/**
 * An embedding and LM head larger than one storage binding, split by rows into several buffers
 * (src/model/upload.ts RowParts), forced on a tiny tied model with GpuModelOptions.maxPartBytes:
 *  - f16 (the head is the embedding's own parts): logits equal the unsplit model's bit for bit
 *    (each output column is the same dot product, each gathered row the same values) and the
 *    CPU reference's (the file is f16, so its values are the GPU's);
 *  - q4 (f16 embedding parts, the head its own q4 copy split at other rows, as Llama 3.2 1B and
 *    Qwen3 0.6B load in q4): logits equal the CPU reference on the dequantized weights.
 * One dispatch more per extra part of the gather and of the head; the weight bytes are the
 * estimate's. An untied head (its own parts) runs through Engine.load in robustness-limits.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeFixture, type FixtureShape } from '../../src/model/fixture.ts';
import { GpuModel, type GpuModelOptions } from '../../src/model/gpu-model.ts';
import { weightBytes } from '../../src/model/memory.ts';
import { ReferenceModel } from '../../src/model/reference.ts';
import { MemorySource } from '../../src/model/source.ts';
import { dequantizedFiles, loadModelFiles, type ModelFiles } from '../../src/model/weights.ts';
import { matrixRowWords } from '../../src/ops/matmul.ts';
import { embedDtypeOf, type WeightDtype } from '../../src/model/upload.ts';
import { ATOL_F16_KV, expectClose, randomU32, testGpu } from './util.ts';

const shape: FixtureShape = {
  modelType: 'qwen2', vocabSize: 263, hiddenSize: 72, intermediateSize: 100, numLayers: 1, numHeads: 3, numKvHeads: 1, headDim: 24,
  attentionBias: true, tieWordEmbeddings: true, dtype: 'f16',
};
const vocab = shape.vocabSize;
const h = shape.hiddenSize;
/** Parts of 100 rows of the f16 embedding (and of the head when it is the embedding): 3, the last shorter. */
const LIMIT = 100 * matrixRowWords(h, 'f16') * 4 + 3;
const partsOf = (dtype: WeightDtype) => Math.ceil(vocab / Math.floor(LIMIT / (matrixRowWords(h, dtype) * 4)));
// tokens on every part boundary of the embedding, its first and last rows, and random ones
const tokens = Int32Array.from([0, 99, 100, 199, 200, vocab - 1, ...randomU32(6, vocab, 3)]);

/** A 2-token prefix [5, 7], then one causal pass of `tokens`: logits (rows, vocab) and the pass's dispatches. */
async function pass(model: GpuModel): Promise<{ logits: Float32Array; dispatches: number }> {
  model.prefill(Int32Array.of(5, 7, 0));
  const rows = tokens.length;
  const mask = new Uint32Array(rows * 4);
  for (let r = 0; r < rows; r++) for (let j = 0; j <= r; j++) mask[r * 4 + (j >> 5)] |= 1 << (j & 31);
  const before = model.counter.snapshot().dispatches;
  model.forward(tokens, Int32Array.from(tokens, (_, r) => 2 + r), mask);
  const dispatches = model.counter.snapshot().dispatches - before;
  return { logits: await model.readLogits(rows), dispatches };
}

/** The reference's logits of the pass's rows, with the f16 KV cache that f16 and q4 weights load by default. */
function reference(files: ModelFiles): Float32Array {
  return ReferenceModel.fromFiles(files, 64, 64, 'f16').forward(Int32Array.from([5, 7, ...tokens])).subarray(2 * vocab);
}

describe('embedding and LM head split by rows (tied, 263 x 72)', () => {
  let files: ModelFiles;
  const models: GpuModel[] = [];
  const load = async (o: Partial<GpuModelOptions>) => {
    // one row tier of the dot entry (SwiftShader's): fewer pipelines to compile
    const m = await GpuModel.load((await testGpu()).device, files, { maxContext: 32, maxTreeRows: 16, matmulTiling: { variant: 'dot', workgroupSize: 64, rowTiles: [4] }, ...o });
    models.push(m);
    return m;
  };
  beforeAll(async () => {
    files = await loadModelFiles(new MemorySource(makeFixture(shape, 21)));
  });
  afterAll(() => models.forEach((m) => m.destroy()));

  it('f16: logits equal the unsplit model\'s bit for bit and the reference\'s; one dispatch more per extra part', async () => {
    const a = await pass(await load({ weightDtype: 'f16' }));
    const split = await load({ weightDtype: 'f16', maxPartBytes: LIMIT });
    const b = await pass(split);
    expect(b.logits).toEqual(a.logits);
    expectClose(b.logits, reference(files), ATOL_F16_KV, 0, 'split f16 logits');
    // 3 gathers and 3 head matmuls (the embedding's parts) instead of 1 and 1
    expect(partsOf('f16')).toBe(3);
    expect(b.dispatches - a.dispatches).toBe(2 + 2);
    // the parts hold exactly the rows: the estimate's weight bytes (src/model/memory.ts) equal the allocation
    expect(split.memory.weights).toBe(weightBytes(files.config, 'f16'));
    // draft heads bind the embedding as one table: a split one is refused by name, not read in part
    expect(() => split.headInputs()).toThrow(/draft heads read the embedding as one binding.*split into 3 buffers of 100 rows/);
  });

  it('q4: f16 embedding parts and q4 head parts of other sizes match the reference on the dequantized weights', async () => {
    const split = await load({ weightDtype: 'q4', maxPartBytes: LIMIT });
    const b = await pass(split);
    expectClose(b.logits, reference(dequantizedFiles(files, 'q4')), ATOL_F16_KV, 0, 'split q4 logits');
    expect(partsOf('q4')).toBeGreaterThanOrEqual(2);
    expect(partsOf('q4')).not.toBe(partsOf('f16'));
    expect(split.memory.weights).toBe(weightBytes(files.config, 'q4'));
    // (b's dispatches: the unsplit q4 pass has the same ops as the unsplit f16 one)
    expect(b.dispatches).toBe((await pass(models[0])).dispatches + partsOf('f16') - 1 + partsOf('q4') - 1);
  });
});
