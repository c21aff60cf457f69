/**
 * RoPE fused with the KV-cache write (shaders/rope_kv_f32.wgsl): from the fused q/k/v
 * projection's rows it writes the rotated query heads to `q`, and rotated K and plain V of row
 * r to cache slot `prefix + r` of one layer: one dispatch. Given the per-head norm weights
 * (Qwen3's and Gemma 3's q_norm / k_norm), it RMS-normalises each q and k head first, in the same
 * dispatch. Only the first rotaryDim dims of each q and k head rotate (Phi-3's partial rotary
 * factor); the rest are written as they are. One instance per layer (its cache buffers are bound
 * in the constructor).
 */
import { OpShapeError } from '../gpu/errors.ts';
import { bindBuffers, type BufferRange, type GpuOp, type KernelEnv } from '../gpu/pipelines.ts';
import { checkRows } from '../gpu/step.ts';
import { longRopeFactors, ropeInvFreq, type LongRope, type RopeScaling } from '../model/cpu-ops.ts';
import { kvConstants, type KvDtype } from './kv-storage.ts';

export interface RopeDims {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  /** Even, in (0, headDim]: the leading dims of a head that rotate, pairing i with i + rotaryDim/2 (default headDim). */
  rotaryDim?: number;
  /** Most rows one pass may hold (the activation buffers' capacity). */
  maxRows: number;
  /** The per-head RMSNorm's epsilon (with RopeBuffers.qkNorm). */
  eps?: number;
  /** How the cache stores K and V (src/kv/cache.ts); default 'f32'. */
  kvDtype?: KvDtype;
  /** Slots of this layer's cache when it is a ring (row r's slot prefix + r stored at (prefix + r) % ring, src/kv/cache.ts); default 0, the full cache. */
  ring?: number;
}

export interface RopeBuffers {
  /** (maxRows) u32 RoPE position per row. */
  positions: GPUBuffer;
  /** (maxPositions, rotaryDim/2) vec2<f32> (cos, sin), from `ropeTable`. */
  table: GPUBuffer;
  /** (maxRows, nHeads + 2 * nKvHeads, headDim) f32: each row's query heads, key heads, value heads. */
  qkv: GPUBuffer;
  /** (maxRows, nHeads, headDim) f32: the rotated queries. */
  q: GPUBuffer;
  /** (slots, nKvHeads, headDim) f32 or f16 pairs (kvDtype): this layer's key cache (its range of the KV cache's shared buffer). */
  kCache: GPUBuffer | BufferRange;
  /** (slots, nKvHeads, headDim) f32 or f16 pairs: this layer's value cache (its range of the shared buffer). */
  vCache: GPUBuffer | BufferRange;
  /** (2, headDim) f32 [q_norm | k_norm] weights: each q and k head RMS-normalised before RoPE; absent or null: none. */
  qkNorm?: GPUBuffer | null;
}

/**
 * (maxPositions, rotaryDim/2, 2) interleaved cos/sin of position * invFreq[i], computed in double
 * precision from the same f32 inverse frequencies as the CPU reference (`ropeInvFreq`), so the
 * GPU angles equal the reference's up to one f32 rounding. rotaryDim: the rotated dims of a head
 * (headDim, or Phi-3's head_dim * partial_rotary_factor). `context`: the context the engine
 * serves (its maxContext, not the table's extra tree rows), which picks LongRoPE's factors.
 */
export function ropeTable(rotaryDim: number, theta: number, scaling: RopeScaling | null, maxPositions: number, long: LongRope | null = null, context = maxPositions): Float32Array {
  if (rotaryDim % 2 !== 0) throw new OpShapeError(`ropeTable: rotaryDim must be even for rotate-half RoPE, got ${rotaryDim}`);
  const inv = ropeInvFreq(rotaryDim, theta, scaling, long && longRopeFactors(long, context));
  const af = long?.attentionFactor ?? 1;
  const half = rotaryDim / 2;
  const table = new Float32Array(maxPositions * rotaryDim);
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
 * (maxPositions, rotaryDim/2, 2) cos 1, sin 0 at every position: a NoPE layer (SmolLM3) runs the
 * same kernel with no rotation, exactly (a * 1 - b * 0 = a).
 */
export function identityRopeTable(rotaryDim: number, maxPositions: number): Float32Array {
  const table = new Float32Array(maxPositions * rotaryDim);
  for (let i = 0; i < table.length; i += 2) table[i] = 1;
  return table;
}

export class RopeKvWrite implements GpuOp {
  private readonly pipeline: GPUComputePipeline;
  private readonly bindGroup: GPUBindGroup;
  private readonly groupsX: number;

  constructor(env: KernelEnv, label: string, buffers: RopeBuffers, readonly dims: RopeDims) {
    const { nHeads, nKvHeads, headDim } = dims;
    const rotaryDim = dims.rotaryDim ?? headDim;
    if (headDim % 2 !== 0) throw new OpShapeError(`${label}: headDim must be even for rotate-half RoPE, got ${headDim}`);
    if (rotaryDim % 2 !== 0 || rotaryDim < 2 || rotaryDim > headDim) {
      throw new OpShapeError(`${label}: rotaryDim ${rotaryDim} is not an even number of dims in [2, headDim ${headDim}]`);
    }
    if (nKvHeads < 1 || nHeads % nKvHeads !== 0) throw new OpShapeError(`${label}: nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads}`);
    const b = buffers;
    const bindings = [env.step, b.positions, b.table, b.qkv, b.q, b.kCache, b.vCache];
    const constants = { N_HEADS: nHeads, N_KV_HEADS: nKvHeads, HEAD_DIM: headDim, ROTARY_DIM: rotaryDim, ...kvConstants(dims.kvDtype, dims.ring) };
    if (b.qkNorm) {
      const eps = dims.eps ?? NaN;
      if (b.qkNorm.size < 2 * headDim * 4 || !(eps > 0)) {
        throw new OpShapeError(`${label}: the q/k norm weights (${b.qkNorm.size} bytes, eps ${eps}) are not (2, ${headDim}) f32 with eps > 0`);
      }
      // one workgroup per (head, row): the head's sum of squares comes before its rotation
      this.pipeline = env.pipelines.get('rope_kv_f32', { ...constants, EPS: eps }, 'normed');
      this.bindGroup = bindBuffers(env.device, `${label}.bind`, this.pipeline, [...bindings, b.qkNorm]);
      this.groupsX = nHeads + nKvHeads;
    } else {
      this.pipeline = env.pipelines.get('rope_kv_f32', constants);
      this.bindGroup = bindBuffers(env.device, `${label}.bind`, this.pipeline, bindings);
      this.groupsX = Math.ceil(((nHeads + nKvHeads) * headDim) / 2 / 64);
    }
  }

  /** Records the dispatch for `rows` rows (the Step uniform must hold the same rows). */
  encode(pass: GPUComputePassEncoder, rows: number): void {
    checkRows(rows, this.dims.maxRows, 'RopeKvWrite.encode');
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bindGroup);
    pass.dispatchWorkgroups(this.groupsX, rows);
  }
}
