import { describe, it } from 'vitest';
import { createStorage, uploadStorage } from '../../src/gpu/buffers.ts';
import { rmsNorm } from '../../src/model/cpu-ops.ts';
import { RmsNormOp } from '../../src/ops/rmsnorm.ts';
import { HeadRmsNormOp } from '../../src/ops/rmsnorm-heads.ts';
import { expectClose, randomF32, readF32, runPass, testGpu } from './util.ts';

describe('rmsnorm', () => {
  for (const [rows, width] of [[1, 1], [1, 576], [3, 37], [17, 129], [128, 64]] as const) {
    it(`${rows} rows of ${width}`, async () => {
      const gpu = await testGpu();
      const env = { device: gpu.device, pipelines: gpu.pipelines, step: gpu.step.buffer };
      const eps = 1e-5;
      const x = randomF32(rows * width, rows * 1000 + width, -3, 3);
      const w = randomF32(width, width, 0.5, 1.5);
      const out = createStorage(gpu.device, 'test.out', rows * width * 4);
      const op = new RmsNormOp(env, 'test.rmsnorm', { x: uploadStorage(gpu.device, 'test.x', x), weight: uploadStorage(gpu.device, 'test.w', w), out }, width, eps);
      await runPass(gpu, rows, (pass) => op.encode(pass, rows));
      // f32 sum of squares in a different order than the f64 reference: a few ulp relative
      expectClose(await readF32(gpu.device, out, rows * width), rmsNorm(x, w, eps), 1e-6, 2e-6, 'rmsnorm');
    });
  }
});

describe('rmsnorm per head, in place (Qwen3 q_norm / k_norm)', () => {
  // heads x head dims: one element per invocation and fewer, a head wider than the workgroup
  for (const [rows, nHeads, nKvHeads, headDim] of [[1, 2, 1, 8], [5, 3, 1, 10], [17, 4, 2, 128], [2, 1, 1, 66]] as const) {
    it(`${rows} rows, ${nHeads} + ${nKvHeads} heads of ${headDim}`, async () => {
      const gpu = await testGpu();
      const env = { device: gpu.device, pipelines: gpu.pipelines, step: gpu.step.buffer };
      const eps = 1e-6;
      const q = randomF32(rows * nHeads * headDim, 7 + rows, -3, 3);
      const k = randomF32(rows * nKvHeads * headDim, 8 + rows, -3, 3);
      const qw = randomF32(headDim, 9, 0.5, 1.5);
      const kw = randomF32(headDim, 10, 0.5, 1.5);
      const b = {
        q: uploadStorage(gpu.device, 'test.q', q), k: uploadStorage(gpu.device, 'test.k', k),
        qNorm: uploadStorage(gpu.device, 'test.qNorm', qw), kNorm: uploadStorage(gpu.device, 'test.kNorm', kw),
      };
      const op = new HeadRmsNormOp(env, 'test.headNorm', b, { nHeads, nKvHeads, headDim, eps, maxRows: rows });
      await runPass(gpu, rows, (pass) => op.encode(pass, rows));
      // the CPU rmsNorm normalises rows of its weight's width: here each head
      expectClose(await readF32(gpu.device, b.q, q.length), rmsNorm(q, qw, eps), 1e-6, 2e-6, 'q');
      expectClose(await readF32(gpu.device, b.k, k.length), rmsNorm(k, kw, eps), 1e-6, 2e-6, 'k');
    });
  }
});
