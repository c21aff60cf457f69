import { describe, expect, it } from 'vitest';
import { createStorage, uploadStorage } from '../../src/gpu/buffers.ts';
import { OpShapeError } from '../../src/gpu/errors.ts';
import { topK } from '../../src/model/cpu-ops.ts';
import { TopKOp } from '../../src/ops/topk.ts';
import { randomF32, randomU32, readF32, readU32, runPass, testGpu } from './util.ts';

/** Values from few levels: many exact ties, so the lowest-id rule orders most of the top k. */
function tiedLogits(n: number, seed: number): Float32Array {
  return Float32Array.from(randomU32(n, 5, seed), (l) => l - 2);
}

describe('top-k', () => {
  const cases: [number, number, number][] = [[1, 1, 1], [1, 32000, 16], [3, 257, 5], [17, 1000, 8], [128, 77, 16], [2, 16, 16]];
  for (const [rows, vocab, k] of cases) {
    for (const kind of ['random', 'tied'] as const) {
      it(`k=${k} of ${vocab}, ${rows} rows, ${kind} logits`, async () => {
        const gpu = await testGpu();
        const env = { device: gpu.device, pipelines: gpu.pipelines, step: gpu.step.buffer };
        const x = kind === 'random' ? randomF32(rows * vocab, rows * 3 + vocab, -5, 5) : tiedLogits(rows * vocab, rows + vocab);
        if (rows > 1) x.fill(-Infinity, vocab, vocab + Math.floor(vocab / 2)); // row 1: half masked
        const ids = createStorage(gpu.device, 'test.ids', rows * k * 4);
        const values = createStorage(gpu.device, 'test.vals', rows * k * 4);
        const op = new TopKOp(env, 'test.topk', { logits: uploadStorage(gpu.device, 'test.logits', x), ids, values }, vocab, k);
        await runPass(gpu, rows, (pass) => op.encode(pass, rows));
        const gotIds = await readU32(gpu.device, ids, rows * k);
        const gotVals = await readF32(gpu.device, values, rows * k);
        for (let r = 0; r < rows; r++) {
          const want = Array.from(topK(x, k, r * vocab, vocab));
          expect(Array.from(gotIds.subarray(r * k, (r + 1) * k)), `row ${r} ids`).toEqual(want);
          expect(Array.from(gotVals.subarray(r * k, (r + 1) * k)), `row ${r} values`).toEqual(want.map((i) => x[r * vocab + i]));
        }
      });
    }
  }

  it('rejects k above 16 or above the vocabulary', async () => {
    const gpu = await testGpu();
    const env = { device: gpu.device, pipelines: gpu.pipelines, step: gpu.step.buffer };
    const buf = () => createStorage(gpu.device, 'b', 4 * 64);
    expect(() => new TopKOp(env, 't', { logits: buf(), ids: buf(), values: buf() }, 32, 17)).toThrow(OpShapeError);
    expect(() => new TopKOp(env, 't', { logits: buf(), ids: buf(), values: buf() }, 4, 5)).toThrow(OpShapeError);
  });
});
