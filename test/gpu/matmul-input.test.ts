/**
 * The matmul kernels' computed input modes against the CPU reference: RMSNorm of the residual
 * (RMS_INPUT, GpuModelOptions.fuseNorm) and SwiGLU of the gate/up output (SILU_INPUT, fuseSilu).
 */
import { describe, expect, it } from 'vitest';
import { createStorage, uploadF16Rows, uploadStorage } from '../../src/gpu/buffers.ts';
import { OpShapeError } from '../../src/gpu/errors.ts';
import { matmul, rmsNorm, siluMul } from '../../src/model/cpu-ops.ts';
import { dequantizeRows, quantizeRows } from '../../src/model/quantize.ts';
import { MatmulOp, type MatrixDtype, type MatmulVariant } from '../../src/ops/matmul.ts';
import { expectClose, randomF32, readF32, roundF16, runPass, testGpu, type TestGpu } from './util.ts';
import { mine } from './runtime.ts';

interface Case {
  dtype: MatrixDtype;
  variant: MatmulVariant;
  rows: number;
  inDim: number;
  outDim: number;
  bias: boolean;
  accumulate?: boolean;
}

/** The computed input of the kernel: RMSNorm of x (RMS_INPUT) or SwiGLU of x = [gate | up] (SILU_INPUT). */
type InputMode = 'rms' | 'gated';

const EPS = 1e-5;

/** The weight as the kernel sees it (f32 values) and as uploaded. */
function weights(gpu: TestGpu, w: Float32Array, c: Case): { values: Float32Array; buffer: GPUBuffer } {
  if (c.dtype === 'f32') return { values: w, buffer: uploadStorage(gpu.device, 'test.w', w) };
  if (c.dtype === 'f16') return { values: roundF16(w), buffer: uploadF16Rows(gpu.device, 'test.w', w, c.outDim, c.inDim) };
  const packed = quantizeRows(w, c.outDim, c.inDim, c.dtype);
  return { values: dequantizeRows(packed, c.outDim, c.inDim, c.dtype), buffer: uploadStorage(gpu.device, 'test.w', packed) };
}

/**
 * x of a gated case: (rows, 2 * inDim) [gate | up] in [-6, 6], with each row's first gate at
 * -100 (exp(-g) overflows to inf below -88: silu must still give -0, not NaN) and its last at 40
 * (exp(-g) underflows; that input's up is 0.5, so it does not dominate the tolerance).
 */
function gatedX(rows: number, inDim: number, seed: number): { x: Float32Array; gate: Float32Array; up: Float32Array } {
  const x = randomF32(rows * 2 * inDim, seed, -6, 6);
  for (let r = 0; r < rows; r++) {
    x[r * 2 * inDim] = -100;
    x[r * 2 * inDim + inDim - 1] = 40;
    x[r * 2 * inDim + 2 * inDim - 1] = 0.5;
  }
  const half = (offset: number) => Float32Array.from({ length: rows * inDim }, (_, i) => x[Math.floor(i / inDim) * 2 * inDim + offset + (i % inDim)]);
  return { x, gate: half(0), up: half(inDim) };
}

// A computed input mode == the CPU reference with the weights the kernel holds (f64 sums):
// rmsnorm (f32 output) then matmul, or siluMul then matmul.
async function check(gpu: TestGpu, c: Case, mode: InputMode): Promise<void> {
  const env = { device: gpu.device, pipelines: gpu.pipelines, step: gpu.step.buffer };
  const seed = c.rows * 7919 + c.inDim * 31 + c.outDim + ['f32', 'f16', 'q8', 'q4'].indexOf(c.dtype);
  const w = randomF32(c.outDim * c.inDim, seed + 1);
  const bias = c.bias ? randomF32(c.outDim, seed + 2) : null;
  const y0 = randomF32(c.rows * c.outDim, seed + 3);
  const { values, buffer } = weights(gpu, w, c);
  const y = uploadStorage(gpu.device, 'test.y', y0);
  const shared = { w: buffer, y, bias: bias && uploadStorage(gpu.device, 'test.b', bias) };
  const opts = { inDim: c.inDim, outDim: c.outDim, dtype: c.dtype, variant: c.variant, accumulate: c.accumulate };
  let op: MatmulOp;
  let input: Float32Array;
  if (mode === 'rms') {
    const x = randomF32(c.rows * c.inDim, seed, -3, 3);
    const g = randomF32(c.inDim, seed + 4, 0.5, 1.5);
    op = new MatmulOp(env, 'test.matmulRms', { ...shared, x: uploadStorage(gpu.device, 'test.x', x), norm: uploadStorage(gpu.device, 'test.g', g) }, { ...opts, normEps: EPS });
    input = rmsNorm(x, g, EPS);
  } else {
    const { x, gate, up } = gatedX(c.rows, c.inDim, seed);
    op = new MatmulOp(env, 'test.matmulGated', { ...shared, x: uploadStorage(gpu.device, 'test.x', x) }, { ...opts, gated: true });
    input = siluMul(gate, up);
  }
  await runPass(gpu, c.rows, (pass) => op.encode(pass, c.rows));
  const ref = matmul(input, values, c.inDim, c.outDim, bias);
  if (c.accumulate) for (let i = 0; i < ref.length; i++) ref[i] += y0[i];
  // Computed inputs exceed matmul.test.ts's |x| <= 1: normalised ones reach |x| / rms * g ~ 2.6
  // (inv_rms applied after the sum rather than per input), gated ones silu(6) * 6 ~ 36.
  const scale = mode === 'rms' ? 1 : Math.max(...input.map(Math.abs)) / 2.6;
  const atol = (3e-5 * Math.sqrt(c.inDim) + 1e-5) * scale;
  expectClose(await readF32(gpu.device, y, c.rows * c.outDim), ref, atol, 2e-5, `y ${c.variant} ${c.dtype} ${mode} ${c.rows}x${c.inDim}->${c.outDim}`);
}

describe('matmul with the RMSNorm input (RMS_INPUT)', () => {
  // rows: one (decode), partial and several row tiles of every tier, 128; inDim: 1, odd, under
  // a quant block, not a multiple of 32, an odd number of blocks, and 1100, whose 4-row tile
  // does not fit in workgroup memory (dot reads x * g unstaged, TILE_IN 0); bias on most.
  const shapes: [rows: number, inDim: number, outDim: number, bias: boolean][] = [
    [1, 1, 3, true], [1, 37, 5, false], [3, 64, 96, true], [17, 129, 33, true], [128, 96, 70, true], [5, 576, 19, false], [4, 48, 1027, true], [6, 1100, 9, true],
  ];
  // split-wide differs from split only in how a thread walks the weights: a partial last run,
  // several row tiles and an unstaged width cover it
  const wideShapes = new Set([shapes[1], shapes[3], shapes[7]]);
  // Pipelines are compiled per (variant, dtype, flags) and shared by every shape, so the two gpu
  // projects share the (variant, dtype) pairs (./runtime.ts): each compiles half of them and
  // still meets every variant and dtype; the SwiGLU list below takes the other half.
  for (const [v, variant] of (['split', 'split-wide', 'dot'] as const).entries()) {
    for (const [d, dtype] of (['f32', 'f16', 'q8', 'q4'] as const).entries()) {
      const shared = it.runIf(mine(v + d));
      for (const [rows, inDim, outDim, bias] of shapes.filter((s) => variant !== 'split-wide' || wideShapes.has(s))) {
        shared(`${variant} ${dtype} ${rows} rows, ${inDim} -> ${outDim}${bias ? ' + bias' : ''}`, async () => check(await testGpu(), { dtype, variant, rows, inDim, outDim, bias }, 'rms'));
      }
      shared(`${variant} ${dtype} with bias and accumulate, 9 rows, 45 -> 23`, async () => check(await testGpu(), { dtype, variant, rows: 9, inDim: 45, outDim: 23, bias: true, accumulate: true }, 'rms'));
    }
  }

  it('rejects a short norm weight and a norm without eps', async () => {
    const gpu = await testGpu();
    const env = { device: gpu.device, pipelines: gpu.pipelines, step: gpu.step.buffer };
    const floats = (label: string, n: number) => createStorage(gpu.device, label, 4 * n);
    const b = { x: floats('x', 8), y: floats('y', 8), w: floats('w', 64) };
    const opts = { inDim: 8, outDim: 8, dtype: 'f32' as const };
    expect(() => new MatmulOp(env, 't', { ...b, norm: floats('g', 7) }, { ...opts, normEps: EPS })).toThrow(OpShapeError);
    expect(() => new MatmulOp(env, 't', { ...b, norm: floats('g', 8) }, opts)).toThrow(OpShapeError);
    expect(() => new MatmulOp(env, 't', b, { ...opts, normEps: EPS })).toThrow(OpShapeError);
    expect(() => new MatmulOp(env, 't', { ...b, norm: floats('g', 8) }, { ...opts, normEps: 0 })).toThrow(OpShapeError);
    expect(() => new MatmulOp(env, 't', { ...b, norm: floats('g', 8) }, { ...opts, normEps: EPS })).not.toThrow();
  });
});

describe('matmul with the SwiGLU input (SILU_INPUT)', () => {
  // The down projection's shapes: accumulate always (the residual add), no bias. inDim: 1, odd,
  // not a multiple of 32, 1100 (4-row tile unstaged, TILE_IN 0); rows: decode, several tiles, 128.
  const shapes: [rows: number, inDim: number, outDim: number][] = [[1, 1, 3], [1, 37, 5], [3, 64, 96], [17, 129, 33], [128, 96, 70], [6, 1100, 9]];
  const wideShapes = new Set([shapes[1], shapes[3], shapes[5]]); // as above
  for (const [v, variant] of (['split', 'split-wide', 'dot'] as const).entries()) {
    for (const [d, dtype] of (['f32', 'f16', 'q8', 'q4'] as const).entries()) {
      const shared = it.runIf(mine(v + d + 1)); // the pairs the RMSNorm list leaves to the other project
      for (const [rows, inDim, outDim] of shapes.filter((s) => variant !== 'split-wide' || wideShapes.has(s))) {
        shared(`${variant} ${dtype} ${rows} rows, ${inDim} -> ${outDim}`, async () => check(await testGpu(), { dtype, variant, rows, inDim, outDim, bias: false, accumulate: true }, 'gated'));
      }
    }
  }
  it('with a bias and without accumulate, 5 rows, 40 -> 7', async () => check(await testGpu(), { dtype: 'f16', variant: 'dot', rows: 5, inDim: 40, outDim: 7, bias: true }, 'gated'));

  it('rejects a gated input with a norm, and an x too small for one [gate | up] row', async () => {
    const gpu = await testGpu();
    const env = { device: gpu.device, pipelines: gpu.pipelines, step: gpu.step.buffer };
    const floats = (label: string, n: number) => createStorage(gpu.device, label, 4 * n);
    const b = { x: floats('x', 16), y: floats('y', 8), w: floats('w', 64) };
    const opts = { inDim: 8, outDim: 8, dtype: 'f32' as const, gated: true };
    expect(() => new MatmulOp(env, 't', { ...b, norm: floats('g', 8) }, { ...opts, normEps: EPS })).toThrow(OpShapeError);
    expect(() => new MatmulOp(env, 't', { ...b, x: floats('x', 15) }, opts)).toThrow(OpShapeError);
    expect(() => new MatmulOp(env, 't', b, opts)).not.toThrow();
  });
});
