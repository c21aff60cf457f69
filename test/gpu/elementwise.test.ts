import { describe, expect, it } from 'vitest';
import { createStorage, uploadStorage } from '../../src/gpu/buffers.ts';
import { OpShapeError } from '../../src/gpu/errors.ts';
import { add, siluMul } from '../../src/model/cpu-ops.ts';
import { AddOp } from '../../src/ops/add.ts';
import { SiluMulOp } from '../../src/ops/silu-mul.ts';
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

describe('silu gate', () => {
  for (const [rows, inter] of [[1, 1], [3, 37], [17, 300], [128, 64]] as const) {
    it(`silu(gate) * up for ${rows} rows of ${inter} from a fused [gate | up] buffer`, async () => {
      const gpu = await testGpu();
      const env = { device: gpu.device, pipelines: gpu.pipelines, step: gpu.step.buffer };
      // wide range so exp(-g) overflows (g < -88) and saturates
      const gateUp = randomF32(rows * 2 * inter, rows + inter, -100, 30);
      const gate = new Float32Array(rows * inter);
      const up = new Float32Array(rows * inter);
      for (let r = 0; r < rows; r++) {
        gate.set(gateUp.subarray(r * 2 * inter, r * 2 * inter + inter), r * inter);
        up.set(gateUp.subarray(r * 2 * inter + inter, (r + 1) * 2 * inter), r * inter);
      }
      const out = createStorage(gpu.device, 'test.out', rows * inter * 4);
      const op = new SiluMulOp(env, 'test.silu', { gateUp: uploadStorage(gpu.device, 'test.gu', gateUp), out }, inter);
      await runPass(gpu, rows, (pass) => op.encode(pass, rows));
      // exp differs by a few ulp between the GPU and f64: relative tolerance
      expectClose(await readF32(gpu.device, out, rows * inter), siluMul(gate, up), 1e-6, 1e-5, 'silu * up');
    });
  }
});
