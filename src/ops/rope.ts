/**
 * RoPE fused with the KV-cache write (shaders/rope_kv_f32.wgsl): rotates the pass's query heads
 * in place and writes rotated K and plain V of row r to cache slot `prefix + r` of one layer.
 * One instance per layer (its cache buffers are bound in the constructor).
 */
import { OpShapeError } from '../gpu/errors.ts';
import { bindBuffers, type GpuOp, type KernelEnv } from '../gpu/pipelines.ts';
import { checkRows } from '../gpu/step.ts';
import { ropeInvFreq, type LongRope, type RopeScaling } from '../model/cpu-ops.ts';

export interface RopeDims {
  nHeads: number;
  nKvHeads: number;
  /** Even: rotate-half pairs element i with i + headDim/2. */
  headDim: number;
  /** Most rows one pass may hold (the activation buffers' capacity). */
  maxRows: number;
}

export interface RopeBuffers {
  /** (maxRows) u32 RoPE position per row. */
  positions: GPUBuffer;
  /** (maxPositions, headDim/2) vec2<f32> (cos, sin), from `ropeTable`. */
  table: GPUBuffer;
  /** (maxRows, nHeads, headDim) f32, rotated in place. */
  q: GPUBuffer;
  /** (maxRows, nKvHeads, headDim) f32. */
  k: GPUBuffer;
  /** (maxRows, nKvHeads, headDim) f32. */
  v: GPUBuffer;
  /** (slots, nKvHeads, headDim) f32: this layer's key cache. */
  kCache: GPUBuffer;
  /** (slots, nKvHeads, headDim) f32: this layer's value cache. */
  vCache: GPUBuffer;
}

/**
 * (maxPositions, headDim/2, 2) interleaved cos/sin of position * invFreq[i], computed in double
 * precision from the same f32 inverse frequencies as the CPU reference (`ropeInvFreq`), so the
 * GPU angles equal the reference's up to one f32 rounding.
 */
export function ropeTable(headDim: number, theta: number, scaling: RopeScaling | null, maxPositions: number, long: LongRope | null = null): Float32Array {
  if (headDim % 2 !== 0) throw new OpShapeError(`ropeTable: headDim must be even for rotate-half RoPE, got ${headDim}`);
  const inv = ropeInvFreq(headDim, theta, scaling, long);
  const af = long?.attentionFactor ?? 1;
  const half = headDim / 2;
  const table = new Float32Array(maxPositions * headDim);
  for (let p = 0; p < maxPositions; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p * inv[i];
      table[(p * half + i) * 2] = Math.cos(angle) * af;
      table[(p * half + i) * 2 + 1] = Math.sin(angle) * af;
    }
  }
  return table;
}

/**
 * (maxPositions, headDim/2, 2) cos 1, sin 0 at every position: a NoPE layer (SmolLM3) runs the
 * same kernel with no rotation, exactly (a * 1 - b * 0 = a).
 */
export function identityRopeTable(headDim: number, maxPositions: number): Float32Array {
  const table = new Float32Array(maxPositions * headDim);
  for (let i = 0; i < table.length; i += 2) table[i] = 1;
  return table;
}

export class RopeKvWrite implements GpuOp {
  private readonly pipeline: GPUComputePipeline;
  private readonly bindGroup: GPUBindGroup;
  private readonly groupsX: number;

  constructor(env: KernelEnv, label: string, buffers: RopeBuffers, readonly dims: RopeDims) {
    const { nHeads, nKvHeads, headDim } = dims;
    if (headDim % 2 !== 0) throw new OpShapeError(`${label}: headDim must be even for rotate-half RoPE, got ${headDim}`);
    if (nKvHeads < 1 || nHeads % nKvHeads !== 0) throw new OpShapeError(`${label}: nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads}`);
    this.pipeline = env.pipelines.get('rope_kv_f32', { N_HEADS: nHeads, N_KV_HEADS: nKvHeads, HEAD_DIM: headDim });
    const b = buffers;
    this.bindGroup = bindBuffers(env.device, `${label}.bind`, this.pipeline, [env.step, b.positions, b.table, b.q, b.k, b.v, b.kCache, b.vCache]);
    this.groupsX = Math.ceil(((nHeads + nKvHeads) * headDim) / 2 / 64);
  }

  /** Records the dispatch for `rows` rows (the Step uniform must hold the same rows). */
  encode(pass: GPUComputePassEncoder, rows: number): void {
    checkRows(rows, this.dims.maxRows, 'RopeKvWrite.encode');
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bindGroup);
    pass.dispatchWorkgroups(this.groupsX, rows);
  }
}
