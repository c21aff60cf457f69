import { describe, expect, it } from 'vitest';
import { createStorage, uploadStorage } from '../../src/gpu/buffers.ts';
import { OpShapeError } from '../../src/gpu/errors.ts';
import { add, geluTanhMul, siluMul } from '../../src/model/cpu-ops.ts';
import { AddOp } from '../../src/ops/add.ts';
import { SiluMulOp } from '../../src/ops/silu-mul.ts';
import { SoftcapOp } from '../../src/ops/softcap.ts';
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

describe('silu / gelu gate', () => {
  for (const [rows, inter, gelu] of [[1, 1, false], [3, 37, false], [17, 300, false], [128, 64, false], [3, 37, true], [17, 300, true]] as const) {
    it(`${gelu ? 'gelu_tanh' : 'silu'}(gate) * up for ${rows} rows of ${inter} from a fused [gate | up] buffer`, async () => {
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
      const op = new SiluMulOp(env, 'test.silu', { gateUp: uploadStorage(gpu.device, 'test.gu', gateUp), out }, inter, gelu);
      await runPass(gpu, rows, (pass) => op.encode(pass, rows));
      // exp differs by a few ulp between the GPU and f64: relative tolerance (tanh via exp: absolute
      // error about 1e-7 of |g * up| near the saturated ends)
      const expected = gelu ? geluTanhMul(gate, up) : siluMul(gate, up);
      expectClose(await readF32(gpu.device, out, rows * inter), expected, gelu ? 1e-4 : 1e-6, 1e-5, gelu ? 'gelu_tanh * up' : 'silu * up');
    });
  }
});

describe('soft-capping (Gemma 2 final logits)', () => {
  it('x = cap * tanh(x / cap) for 5 rows of 333, rows beyond untouched', async () => {
    const gpu = await testGpu();
    const env = { device: gpu.device, pipelines: gpu.pipelines, step: gpu.step.buffer };
    const [rows, width, cap] = [5, 333, 15];
    const x = randomF32(8 * width, 5, -200, 200); // saturated, bent and nearly linear values
    const buf = uploadStorage(gpu.device, 'test.x', x);
    await runPass(gpu, rows, (pass) => new SoftcapOp(env, 'test.softcap', buf, width, cap).encode(pass, rows));
    const got = await readF32(gpu.device, buf, 8 * width);
    const n = rows * width;
    expectClose(got.subarray(0, n), x.subarray(0, n).map((v) => cap * Math.tanh(v / cap)), 1e-5, 1e-6, 'softcap');
    expectClose(got.subarray(n), x.subarray(n), 0, 0, 'rows beyond');
  });
});
