import { describe, expect, it } from 'vitest';
import { createStorage, uploadStorage } from '../../src/gpu/buffers.ts';
import { OpShapeError } from '../../src/gpu/errors.ts';
import { matmul } from '../../src/model/cpu-ops.ts';
import { dequantizeRows, quantizeRows, type QuantDtype } from '../../src/model/quantize.ts';
import { MatmulOp, type MatmulVariant } from '../../src/ops/matmul.ts';
import { expectClose, randomF32, readF32, runPass, testGpu, type TestGpu } from './util.ts';
import { mine } from './runtime.ts';

interface Case {
  dtype: QuantDtype;
  rows: number;
  inDim: number;
  outDim: number;
  bias?: boolean;
  accumulate?: boolean;
  variant: MatmulVariant;
}

// GPU result == CPU matmul with the dequantized weights, within f32 accumulation error.
async function check(gpu: TestGpu, c: Case): Promise<void> {
  const env = { device: gpu.device, pipelines: gpu.pipelines, step: gpu.step.buffer };
  const seed = c.rows * 7919 + c.inDim * 31 + c.outDim + (c.dtype === 'q4' ? 5 : 0);
  const x = randomF32(c.rows * c.inDim, seed);
  const w = randomF32(c.outDim * c.inDim, seed + 1);
  const bias = c.bias ? randomF32(c.outDim, seed + 2) : null;
  const y0 = randomF32(c.rows * c.outDim, seed + 3);
  const packed = quantizeRows(w, c.outDim, c.inDim, c.dtype);
  const y = uploadStorage(gpu.device, 'test.y', y0);
  const b = { x: uploadStorage(gpu.device, 'test.x', x), w: uploadStorage(gpu.device, 'test.w', packed), y, bias: bias && uploadStorage(gpu.device, 'test.b', bias) };
  const op = new MatmulOp(env, 'test.matmulQuant', b, { inDim: c.inDim, outDim: c.outDim, dtype: c.dtype, accumulate: c.accumulate, variant: c.variant });
  await runPass(gpu, c.rows, (pass) => op.encode(pass, c.rows));
  const ref = matmul(x, dequantizeRows(packed, c.outDim, c.inDim, c.dtype), c.inDim, c.outDim, bias);
  if (c.accumulate) for (let i = 0; i < ref.length; i++) ref[i] += y0[i];
  const atol = 1e-5 * Math.sqrt(c.inDim) + 1e-6;
  expectClose(await readF32(gpu.device, y, c.rows * c.outDim), ref, atol, 1e-5, `y ${c.variant} ${c.dtype} ${c.rows}x${c.inDim}->${c.outDim}`);
}

describe('quantized matmul', () => {
  // inDim: under one block, not a multiple of 32, exact blocks, an odd number of blocks (scale pair half used)
  const shapes: [number, number, number][] = [
    [1, 1, 1], [1, 37, 5], [3, 64, 96], [17, 129, 33], [128, 96, 70], [5, 576, 19], [1, 300, 1027], [4, 48, 32000],
  ];
  // split-wide (a block per thread step) on the walks that differ from split: IN under one
  // block, a padded last block, several row tiles, an odd number of blocks
  const wideShapes = new Set([shapes[0], shapes[1], shapes[3], shapes[5]]);
  // Pipelines are compiled per (variant, dtype, flags) and shared by every shape, so the two gpu
  // projects share the (variant, dtype) pairs (./runtime.ts), each meeting every variant and dtype.
  for (const [v, variant] of (['split', 'split-wide', 'dot'] as const).entries()) {
    for (const [d, dtype] of (['q8', 'q4'] as const).entries()) {
      const shared = it.runIf(mine(v + d));
      const name = `${variant} ${dtype}`;
      for (const [rows, inDim, outDim] of shapes.filter((s) => variant !== 'split-wide' || wideShapes.has(s))) {
        shared(`${name} ${rows} rows, ${inDim} -> ${outDim}`, async () => check(await testGpu(), { variant, dtype, rows, inDim, outDim }));
      }
      if (variant === 'split-wide') continue; // the store (bias, accumulate) is split's
      shared(`${name} with bias and accumulate, 9 rows, 45 -> 23`, async () => check(await testGpu(), { variant, dtype, rows: 9, inDim: 45, outDim: 23, bias: true, accumulate: true }));
    }
  }

  it('rejects a weight buffer too small for the packed rows', async () => {
    const gpu = await testGpu();
    const env = { device: gpu.device, pipelines: gpu.pipelines, step: gpu.step.buffer };
    const x = createStorage(gpu.device, 'x', 4 * 40);
    const y = createStorage(gpu.device, 'y', 4 * 8);
    // 40 inputs = 2 blocks: q8 16 + 1 words per row, q4 8 + 1
    expect(() => new MatmulOp(env, 't', { x, w: createStorage(gpu.device, 'w', 4 * 17 * 8 - 4), y }, { inDim: 40, outDim: 8, dtype: 'q8' })).toThrow(OpShapeError);
    expect(() => new MatmulOp(env, 't', { x, w: createStorage(gpu.device, 'w', 4 * 9 * 8), y }, { inDim: 40, outDim: 8, dtype: 'q4' })).not.toThrow();
  });
});
