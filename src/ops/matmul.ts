/**
 * y (rows, out) = x (rows, in) @ W^T (+ bias) (+ y), W in Hugging Face's (out, in) layout, f32,
 * f16 packed, or int8 / int4 blocks dequantized in the kernel (shaders/matmul_f32.wgsl,
 * shaders/matmul_f16.wgsl, shaders/matmul_q8.wgsl, shaders/matmul_q4.wgsl; src/model/quantize.ts).
 * With a norm weight the input is rmsnorm(x) * norm, computed in the kernel (RMS_INPUT,
 * shaders/common/matmul_tile.wgsl): the projections after a norm read the residual directly.
 * With `gated` the input is SwiGLU's silu(gate) * up of x = [gate | up], also computed in the
 * kernel (SILU_INPUT): the down projection reads the gate/up projection's output directly.
 *
 * One pipeline per row-tile tier is taken from the cache in the constructor (shared by every
 * shape of the same dtype and flags); encode() picks the smallest tier that holds `rows` (or the
 * largest, repeated), so one row (decode) runs the pure mat-vec and a tree of up to 128 rows
 * reuses each weight read across a whole tile of rows.
 */
import { isSoftwareAdapter } from '../gpu/adapter.ts';
import { alignedSize, createUniform, f16RowStride } from '../gpu/buffers.ts';
import { OpShapeError } from '../gpu/errors.ts';
import { bindBuffers, MAX_GROUPS_PER_DIM, type GpuOp, type KernelEnv } from '../gpu/pipelines.ts';
import { checkRows, MAX_ROWS } from '../gpu/step.ts';
import { isQuantDtype, quantRowWords, quantWordsPerBlock, type QuantDtype } from '../model/quantize.ts';
import type { WeightDtype } from './embed.ts';

/** Storage format of a matrix: an embedding dtype, or block-quantized int8 / int4 (src/model/quantize.ts). */
export type MatrixDtype = WeightDtype | QuantDtype;

/** u32 words (f32: elements) per stored row of `cols` inputs. */
export function matrixRowWords(cols: number, dtype: MatrixDtype): number {
  if (dtype === 'f32') return cols;
  return dtype === 'f16' ? f16RowStride(cols) : quantRowWords(cols, dtype);
}

/** Register-tile limit of the kernels (MAX_TR in shaders/common/matmul_tile.wgsl). */
const MAX_TILE_ROWS = 16;

export interface MatmulBuffers {
  /** (maxRows, inDim) f32; (maxRows, 2 * inDim) [gate | up] with MatmulOptions.gated. */
  x: GPUBuffer;
  /** (outDim, matrixRowWords(inDim, dtype)): f32, u32 of f16 pairs, or u32 of packed blocks. */
  w: GPUBuffer;
  /** (maxRows, yStride) f32, written at columns yColumn..yColumn+outDim (default (maxRows, outDim)); may not alias x. */
  y: GPUBuffer;
  /** (outDim,) f32, or null. */
  bias?: GPUBuffer | null;
  /** (inDim,) f32 RMSNorm weight g, or null: with it y = (rmsnorm(x) * g) @ W^T (+ bias); needs MatmulOptions.normEps. */
  norm?: GPUBuffer | null;
}

/**
 * Kernel entry (shaders/common/matmul_tile.wgsl): 'split' splits the input axis over a
 * workgroup (coalesced weight reads, for GPUs); 'split-wide' is the same split with each thread
 * loading a run of words per column per step rather than one (a quant block, or 4 words); 'dot'
 * gives each thread whole dot products with no barriers (for SwiftShader, where barriers dominate).
 */
export type MatmulVariant = 'split' | 'split-wide' | 'dot';

/** The split entries: a workgroup per 4 output columns whose threads split the input axis. */
export function isSplitVariant(v: MatmulVariant): boolean {
  return v === 'split' || v === 'split-wide';
}

/**
 * Consecutive words per column a thread of a split entry loads per step (RUN in
 * shaders/common/matmul_tile.wgsl): one, or for 'split-wide' a whole q8/q4 block (its words
 * share one scale) or 4 words of f16/f32.
 */
function wordsPerStep(variant: MatmulVariant, dtype: MatrixDtype): number {
  if (variant !== 'split-wide') return 1;
  return isQuantDtype(dtype) ? quantWordsPerBlock(dtype) : 4;
}

/**
 * The kernels' own rules for a variant's workgroup size and row tiles: the first one broken, as
 * the field and why, or null. MatmulOp's shape check and GpuModel's tiling option check
 * (checkTiling, src/ops/matmul-tuning.ts) both apply it, each with its own error.
 */
export function tilingRuleBreach(variant: MatmulVariant, wg: number, tiles: number[]): { field: 'rowTiles' | 'workgroupSize'; why: string } | null {
  if (!Array.isArray(tiles) || !tiles.length || tiles.some((t, i) => !Number.isInteger(t) || t < 1 || t > MAX_TILE_ROWS || (i > 0 && t <= tiles[i - 1]))) {
    return { field: 'rowTiles', why: `is ${JSON.stringify(tiles)}, expected ascending integers in 1..${MAX_TILE_ROWS}` };
  }
  if (variant === 'dot' && tiles.some((t) => t !== 1 && t !== 4)) return { field: 'rowTiles', why: `is ${JSON.stringify(tiles)}: the dot entry has tiles of 1 and 4 rows only` };
  if (!(Number.isInteger(wg) && wg >= 1)) return { field: 'workgroupSize', why: `is ${wg}, expected a positive integer` };
  const top = tiles[tiles.length - 1];
  if (isSplitVariant(variant) && ((wg & (wg - 1)) !== 0 || wg < 4 * top)) {
    return { field: 'workgroupSize', why: `is ${wg}; the split entries need a power of two >= 4 * ${top} (the largest row tile)` };
  }
  return null;
}

/** 'dot' on a software adapter (SwiftShader), else 'split'. */
export function preferredMatmulVariant(device: GPUDevice): MatmulVariant {
  return isSoftwareAdapter(device) ? 'dot' : 'split';
}

export interface MatmulOptions {
  inDim: number;
  outDim: number;
  dtype: MatrixDtype;
  /** y += x @ W^T instead of y = ... (fuses the residual add after o_proj / down_proj). */
  accumulate?: boolean;
  /** RMSNorm epsilon of MatmulBuffers.norm (required with it): inv_rms = 1 / sqrt(mean(x^2) + eps). */
  normEps?: number;
  /** x rows are [gate | up] (2 * inDim wide) and the input is silu(gate) * up; not with a norm. */
  gated?: boolean;
  /** Row-tile tiers, ascending: the split entries each <= 16 (default [1, 4, 16]); 'dot' 1 and/or 4 (default [1, 4]). */
  rowTiles?: number[];
  /** Threads per workgroup: the split entries - a power of two >= 4 * largest tier; 'dot' - columns per workgroup (default 64). */
  workgroupSize?: number;
  /** Kernel entry; default preferredMatmulVariant(device). */
  variant?: MatmulVariant;
  /** Row stride of y in elements (default outDim): wider when several matmuls write column ranges of one y (RowSplitMatmul). */
  yStride?: number;
  /** y column of output 0 (default 0); yColumn + outDim <= yStride. */
  yColumn?: number;
}

export class MatmulOp implements GpuOp {
  private readonly tiers: { rows: number; pipeline: GPUComputePipeline; bind: GPUBindGroup }[];
  private readonly maxRows: number;
  private readonly outTiles: number;
  readonly variant: MatmulVariant;

  constructor(env: KernelEnv, label: string, b: MatmulBuffers, readonly opts: MatmulOptions) {
    const { inDim, outDim, dtype } = opts;
    const wg = opts.workgroupSize ?? 64;
    this.variant = opts.variant ?? preferredMatmulVariant(env.device);
    const split = isSplitVariant(this.variant);
    const tiles = opts.rowTiles ?? (split ? [1, 4, 16] : [1, 4]);
    const xWidth = opts.gated ? 2 * inDim : inDim;
    const yStride = opts.yStride ?? outDim;
    const yColumn = opts.yColumn ?? 0;
    this.maxRows = Math.min(MAX_ROWS, Math.floor(b.x.size / (4 * xWidth)), Math.floor(b.y.size / (4 * yStride)));
    // workgroups along the output axis: 4 columns each (split), wg columns each (dot)
    this.outTiles = Math.ceil(outDim / (split ? 4 : wg));
    checkShape(label, b, opts, tiles, wg, this.maxRows, this.outTiles, this.variant);
    // Bindings the flags leave unread still need a buffer (layout 'auto' keeps every declared one).
    const unused = (what: string) => env.device.createBuffer({ label: `${label}.${what}`, size: 4, usage: GPUBufferUsage.STORAGE });
    const bias = b.bias ?? unused('noBias');
    const norm = b.norm ?? unused('noNorm');
    // MatmulDims { inDim, outDim, stride, eps, yStride, yCol }: shapes are uniforms so all shapes share pipelines.
    const dims = createUniform(env.device, `${label}.dims`, 24);
    const dimsData = new ArrayBuffer(24);
    new Uint32Array(dimsData, 0, 6).set([inDim, outDim, matrixRowWords(inDim, dtype), 0, yStride, yColumn]);
    new Float32Array(dimsData, 12, 1)[0] = opts.normEps ?? 0;
    env.device.queue.writeBuffer(dims, 0, dimsData);
    this.tiers = tiles.map((tr) => {
      const flags = { WG: wg, TR: tr, HAS_BIAS: !!b.bias, ACCUMULATE: !!opts.accumulate, RMS_INPUT: !!b.norm, SILU_INPUT: !!opts.gated };
      const pipeline = split
        ? env.pipelines.get(`matmul_${dtype}`, { ...flags, RUN: wordsPerStep(this.variant, dtype) }, 'main')
        : env.pipelines.get(`matmul_${dtype}`, { ...flags, TILE_IN: this.stagedInputs(env.device, !!b.norm || !!opts.gated, tr, inDim) }, 'perColumn');
      return { rows: tr, pipeline, bind: bindBuffers(env.device, `${label}.bind${tr}`, pipeline, [env.step, b.x, b.w, bias, b.y, dims, norm]) };
    });
  }

  /**
   * TILE_IN of a tier (shaders/common/matmul_tile.wgsl): the dot entry with a computed input
   * (normalised or gated) stages its tile's inputs, (tr, inDim) f32, in workgroup memory where
   * they fit beside tileInvRms; else 0 (no staging: the same sums, computed per input).
   */
  private stagedInputs(device: GPUDevice, computed: boolean, tr: number, inDim: number): number {
    const fits = tr * inDim * 4 + 16 <= device.limits.maxComputeWorkgroupStorageSize;
    return computed && this.variant === 'dot' && fits ? inDim : 0;
  }

  encode(pass: GPUComputePassEncoder, rows: number): void {
    checkRows(rows, this.maxRows, 'MatmulOp.encode');
    const tier = this.tiers.find((t) => t.rows >= rows) ?? this.tiers[this.tiers.length - 1];
    pass.setPipeline(tier.pipeline);
    pass.setBindGroup(0, tier.bind);
    const rowTiles = Math.ceil(rows / tier.rows);
    // split: row tiles fastest (neighbouring workgroups share a weight tile); dot: (columns, row tiles)
    if (isSplitVariant(this.variant)) pass.dispatchWorkgroups(rowTiles, this.outTiles);
    else pass.dispatchWorkgroups(this.outTiles, rowTiles);
  }
}

function checkShape(label: string, b: MatmulBuffers, o: MatmulOptions, tiles: number[], wg: number, maxRows: number, outTiles: number, variant: MatmulVariant): void {
  const fail = (why: string) => new OpShapeError(`MatmulOp "${label}": ${why}`);
  const wordsPerRow = matrixRowWords(o.inDim, o.dtype);
  if (!(o.inDim >= 1 && o.outDim >= 1 && Number.isInteger(o.inDim) && Number.isInteger(o.outDim))) throw fail(`bad dims ${o.inDim} -> ${o.outDim}`);
  if (maxRows < 1) throw fail(`x (${b.x.size} bytes) or y (${b.y.size} bytes) holds no row of ${o.inDim} -> ${o.outDim}`);
  if (b.w.size < alignedSize(o.outDim * wordsPerRow * 4)) throw fail(`weight holds ${b.w.size} bytes, (${o.outDim}, ${o.inDim}) ${o.dtype} needs ${o.outDim * wordsPerRow * 4}`);
  if (b.bias && b.bias.size < o.outDim * 4) throw fail(`bias holds ${b.bias.size} bytes, needs ${o.outDim * 4}`);
  if (b.norm && b.norm.size < o.inDim * 4) throw fail(`norm weight holds ${b.norm.size} bytes, needs ${o.inDim * 4}`);
  if (!!b.norm !== (o.normEps !== undefined)) throw fail('a norm weight and normEps go together');
  if (o.normEps !== undefined && !(o.normEps > 0 && Number.isFinite(o.normEps))) throw fail(`normEps ${o.normEps} must be a finite number > 0`);
  if (b.norm && o.gated) throw fail('a norm weight and a gated input cannot be combined');
  if (b.x === b.y) throw fail('y must not alias x');
  const yColumn = o.yColumn ?? 0;
  if (!(Number.isInteger(yColumn) && yColumn >= 0 && yColumn + o.outDim <= (o.yStride ?? o.outDim))) throw fail(`columns ${yColumn}..${yColumn + o.outDim} do not fit a y row of ${o.yStride}`);
  const breach = tilingRuleBreach(variant, wg, tiles);
  if (breach) throw fail(`${breach.field} ${breach.why}`);
  if (outTiles > MAX_GROUPS_PER_DIM) throw fail(`outDim ${o.outDim} needs ${outTiles} workgroups in one dimension (limit ${MAX_GROUPS_PER_DIM})`);
}
