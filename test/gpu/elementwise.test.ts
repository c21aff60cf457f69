import { describe, expect, it } from 'vitest';
import { createStorage, uploadStorage } from '../../src/gpu/buffers.ts';
import { OpShapeError } from '../../src/gpu/errors.ts';
import { add } from '../../src/model/cpu-ops.ts';
import { AddOp } from '../../src/ops/add.ts';
import { expectClose, randomF32, readF32, runPass, testGpu } from './util.ts';

describe('residual add', () => {
  for (const [rows, width] of [[1, 1], [3, 37], [17, 300], [128, 65]] as const) {
    it(`a += b for ${rows} rows of ${width}, leaving rows beyond untouched`, async () => {
      const gpu = await testGpu();
      const env = { device: gpu.device, pipelines: gpu.pipelines, step: gpu.step.buffer };
      const maxRows = 128;
      const a = randomF32(maxRows * width, 11 + rows);
      const b = randomF32(maxRows * width, 23 + width);
      const aBuf = uploadStorage(gpu.device, 'test.a', a);
      const bBuf = uploadStorage(gpu.device, 'test.b', b);
      const op = new AddOp(env, 'test.add', aBuf, bBuf, width);
      await runPass(gpu, rows, (pass) => op.encode(pass, rows));
      const got = await readF32(gpu.device, aBuf, maxRows * width);
      const n = rows * width;
      // f32 addition is exact-rounded on both sides: equal bits
      expectClose(got.subarray(0, n), add(a.subarray(0, n), b.subarray(0, n)), 0, 0, 'a + b');
      expectClose(got.subarray(n), a.subarray(n), 0, 0, 'rows beyond');
    });
  }

  it('rejects rows beyond capacity', async () => {
    const gpu = await testGpu();
    const env = { device: gpu.device, pipelines: gpu.pipelines, step: gpu.step.buffer };
    const op = new AddOp(env, 'test.add', createStorage(gpu.device, 'a', 4 * 8 * 2), createStorage(gpu.device, 'b', 4 * 8 * 2), 8);
    expect(() => op.encode({} as GPUComputePassEncoder, 3)).toThrow(OpShapeError);
  });
});
