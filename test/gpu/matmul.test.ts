import { describe, expect, it } from 'vitest';
import { createStorage, uploadF16Rows, uploadStorage } from '../../src/gpu/buffers.ts';
import { OpShapeError } from '../../src/gpu/errors.ts';
import { matmul } from '../../src/model/cpu-ops.ts';
import type { WeightDtype } from '../../src/ops/embed.ts';
import { MatmulOp, type MatmulOptions, type MatmulVariant } from '../../src/ops/matmul.ts';
import { splitTilings } from '../../src/ops/matmul-tuning.ts';

// WebGPU's default limits, which every adapter meets.
const LIMITS = { maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256 };
import { expectClose, randomF32, readF32, roundF16, runPass, testGpu, type TestGpu } from './util.ts';
import { mine } from './runtime.ts';

interface Case {
  dtype: WeightDtype;
  rows: number;
  inDim: number;
  outDim: number;
  bias?: boolean;
  accumulate?: boolean;
  rowTiles?: number[];
  workgroupSize?: number;
  variant: MatmulVariant;
}

async function check(gpu: TestGpu, c: Case): Promise<void> {
  const env = { device: gpu.device, pipelines: gpu.pipelines, step: gpu.step.buffer };
  const seed = c.rows * 7919 + c.inDim * 31 + c.outDim;
  const x = randomF32(c.rows * c.inDim, seed);
  const w = randomF32(c.outDim * c.inDim, seed + 1);
  const bias = c.bias ? randomF32(c.outDim, seed + 2) : null;
  const y0 = randomF32(c.rows * c.outDim, seed + 3);
  const wBuf = c.dtype === 'f16' ? uploadF16Rows(gpu.device, 'test.w', w, c.outDim, c.inDim) : uploadStorage(gpu.device, 'test.w', w);
  const y = uploadStorage(gpu.device, 'test.y', y0);
  const opts: MatmulOptions = { inDim: c.inDim, outDim: c.outDim, dtype: c.dtype, accumulate: c.accumulate, rowTiles: c.rowTiles, workgroupSize: c.workgroupSize, variant: c.variant };
  const op = new MatmulOp(env, 'test.matmul', { x: uploadStorage(gpu.device, 'test.x', x), w: wBuf, y, bias: bias && uploadStorage(gpu.device, 'test.b', bias) }, opts);
  await runPass(gpu, c.rows, (pass) => op.encode(pass, c.rows));
  const ref = matmul(x, c.dtype === 'f16' ? roundF16(w) : w, c.inDim, c.outDim, bias);
  if (c.accumulate) for (let i = 0; i < ref.length; i++) ref[i] += y0[i];
  // f32 accumulation in another order than the f64 reference: error grows like sqrt(in) ulp of
  // the partial sums (|x|, |w| <= 1), well inside 1e-5 * sqrt(in) absolute.
  const atol = 1e-5 * Math.sqrt(c.inDim) + 1e-6;
  expectClose(await readF32(gpu.device, y, c.rows * c.outDim), ref, atol, 1e-5, `y ${c.variant} ${c.dtype} ${c.rows}x${c.inDim}->${c.outDim}`);
}

describe('matmul', () => {
  const shapes: [number, number, number][] = [
    [1, 1, 1], [1, 37, 5], [3, 64, 96], [17, 129, 33], [128, 96, 70], [5, 576, 19], [1, 300, 1027],
  ];
  // Pipelines are compiled per (variant, dtype, flags) and shared by every shape, so the two gpu
  // projects share the (variant, dtype) pairs (./runtime.ts), each meeting every variant and dtype.
  for (const [v, variant] of (['split', 'dot'] as const).entries()) {
    for (const [d, dtype] of (['f32', 'f16'] as const).entries()) {
      const shared = it.runIf(mine(v + d));
      const name = `${variant} ${dtype}`;
      for (const [rows, inDim, outDim] of shapes) {
        shared(`${name} ${rows} rows, ${inDim} -> ${outDim}`, async () => check(await testGpu(), { variant, dtype, rows, inDim, outDim }));
      }
      shared(`${name} with bias and accumulate, 3 rows, 45 -> 23`, async () => check(await testGpu(), { variant, dtype, rows: 3, inDim: 45, outDim: 23, bias: true, accumulate: true }));
      const tiles = variant === 'dot' ? [4] : [2, 8];
      it(`${name} row tiles ${JSON.stringify(tiles)}: 9 rows run as several tiles`, async () => check(await testGpu(), { variant, dtype, rows: 9, inDim: 33, outDim: 13, bias: true, rowTiles: tiles }));
      for (const rows of [1, 4]) {
        shared(`${name} LM head 48 -> 32000, ${rows} rows`, async () => check(await testGpu(), { variant, dtype, rows, inDim: 48, outDim: 32000 }));
      }
    }
  }

  // split-wide is split with a run of words per thread step: what differs is the walk over a
  // row (IN under one run, partial last runs: f32 37 and 129, f16 strides 19 and 65) and the row
  // tiers; the store (bias, accumulate) is split's.
  for (const [d, dtype] of (['f32', 'f16'] as const).entries()) {
    const shared = it.runIf(mine(d));
    for (const [rows, inDim, outDim] of [[1, 1, 1], [1, 37, 5], [17, 129, 33]]) {
      shared(`split-wide ${dtype} ${rows} rows, ${inDim} -> ${outDim}`, async () => check(await testGpu(), { variant: 'split-wide', dtype, rows, inDim, outDim }));
    }
    it(`split-wide ${dtype} row tiles [2,8]: 9 rows run as several tiles`, async () => check(await testGpu(), { variant: 'split-wide', dtype, rows: 9, inDim: 33, outDim: 13, bias: true, rowTiles: [2, 8] }));
  }

  // The load-time tuning's other candidates (src/ops/matmul-tuning.ts): wider workgroups, fewer rows per tile.
  for (const t of splitTilings(LIMITS).slice(1)) {
    it(`split f16 tiling wg ${t.workgroupSize} tiles ${JSON.stringify(t.rowTiles)}: 9 rows, 129 -> 33, bias and accumulate`, async () =>
      check(await testGpu(), { variant: 'split', dtype: 'f16', rows: 9, inDim: 129, outDim: 33, bias: true, accumulate: true, rowTiles: t.rowTiles, workgroupSize: t.workgroupSize }));
  }

  it('rejects mismatched buffers and bad tiles', async () => {
    const gpu = await testGpu();
    const env = { device: gpu.device, pipelines: gpu.pipelines, step: gpu.step.buffer };
    const x = createStorage(gpu.device, 'x', 4 * 8);
    const y = createStorage(gpu.device, 'y', 4 * 8);
    const w = createStorage(gpu.device, 'w', 4 * 64);
    expect(() => new MatmulOp(env, 't', { x, w, y }, { inDim: 8, outDim: 9, dtype: 'f32' })).toThrow(OpShapeError);
    expect(() => new MatmulOp(env, 't', { x, w: createStorage(gpu.device, 'w', 4 * 63), y }, { inDim: 8, outDim: 8, dtype: 'f32' })).toThrow(OpShapeError);
    expect(() => new MatmulOp(env, 't', { x, w, y }, { inDim: 8, outDim: 8, dtype: 'f32', rowTiles: [4, 2] })).toThrow(OpShapeError);
    expect(() => new MatmulOp(env, 't', { x, w, y }, { inDim: 8, outDim: 8, dtype: 'f32', rowTiles: [1, 8], variant: 'dot' })).toThrow(OpShapeError);
    expect(() => new MatmulOp(env, 't', { x, w, y }, { inDim: 8, outDim: 8, dtype: 'f32', workgroupSize: 32, variant: 'split' })).toThrow(OpShapeError);
    const op = new MatmulOp(env, 't', { x, w, y }, { inDim: 8, outDim: 8, dtype: 'f32' });
    expect(() => op.encode({} as GPUComputePassEncoder, 2)).toThrow(OpShapeError);
  });
});
