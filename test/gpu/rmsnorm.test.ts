import { describe, it } from 'vitest';
import { createStorage, uploadStorage } from '../../src/gpu/buffers.ts';
import { rmsNorm } from '../../src/model/cpu-ops.ts';
import { RmsNormOp } from '../../src/ops/rmsnorm.ts';
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
