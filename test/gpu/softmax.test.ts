import { describe, expect, it } from 'vitest';
import { createStorage, uploadStorage } from '../../src/gpu/buffers.ts';
import { OpShapeError } from '../../src/gpu/errors.ts';
import { softmax } from '../../src/model/cpu-ops.ts';
import { SoftmaxOp } from '../../src/ops/softmax.ts';
import { expectClose, randomF32, readF32, runPass, testGpu } from './util.ts';

describe('softmax with temperature', () => {
  const cases: [number, number, number][] = [[1, 1, 1], [1, 32000, 0.7], [3, 257, 1], [17, 1000, 2.5], [128, 77, 0.1]];
  for (const [rows, vocab, temperature] of cases) {
    it(`${rows} rows over ${vocab}, T=${temperature}`, async () => {
      const gpu = await testGpu();
      const env = { device: gpu.device, pipelines: gpu.pipelines, step: gpu.step.buffer };
      const x = randomF32(rows * vocab, rows + vocab, -8, 8);
      if (rows > 1) x.fill(-Infinity, vocab, vocab + Math.floor(vocab / 3)); // masked logits -> p = 0
      const probs = createStorage(gpu.device, 'test.probs', rows * vocab * 4);
      const op = new SoftmaxOp(env, 'test.softmax', { logits: uploadStorage(gpu.device, 'test.logits', x), probs }, vocab, 3);
      op.setTemperature(temperature); // the last write before the submit is the one used
      await runPass(gpu, rows, (pass) => op.encode(pass, rows));
      const got = await readF32(gpu.device, probs, rows * vocab);
      for (let r = 0; r < rows; r++) {
        // exp in f32 vs f64 and a sum in another order: a few ulp relative per probability
        expectClose(got.subarray(r * vocab, (r + 1) * vocab), softmax(x, temperature, r * vocab, vocab), 1e-7, 1e-5, `row ${r}`);
      }
    });
  }

  it('rejects a temperature that is not > 0', async () => {
    const gpu = await testGpu();
    const env = { device: gpu.device, pipelines: gpu.pipelines, step: gpu.step.buffer };
    const op = new SoftmaxOp(env, 't', { logits: createStorage(gpu.device, 'l', 64), probs: createStorage(gpu.device, 'p', 64) }, 16);
    expect(() => op.setTemperature(0)).toThrow(OpShapeError);
    expect(() => op.setTemperature(NaN)).toThrow(OpShapeError);
  });
});
