/**
 * Tree attention of one layer (shaders/attention_tree_f32.wgsl): query rows attend to the
 * committed cache slots 0..prefix-1 and to the pass slots prefix + j selected by each row's
 * ancestor bitmask. Grouped-query heads; any head width. A workgroup serves a block of rows
 * times several query heads of one KV head, which share its barriers.
 *
 * Each row's online softmax runs over its keys in logical order (the prefix, then its visible
 * pass rows ascending: root, ancestors by depth, itself) and tiles them by that order, so a
 * tree row's output is bit-identical to the one plain decoding computes for the same tokens,
 * whatever its slot, its block or the pass's row count (DESIGN section 5).
 */
import { OpShapeError } from '../gpu/errors.ts';
import { bindBuffers, type BufferRange, type GpuOp, type KernelEnv } from '../gpu/pipelines.ts';
import { checkRows } from '../gpu/step.ts';
import { kvConstants, type KvDtype } from './kv-storage.ts';

export interface AttentionDims {
  nHeads: number;
  /** Divides nHeads (grouped-query attention: head h reads kv head floor(h / (nHeads / nKvHeads))). */
  nKvHeads: number;
  headDim: number;
  /** Most rows one pass may hold (at most 128: four mask words per row). */
  maxRows: number;
  /** How the cache stores K and V (src/kv/cache.ts); default 'f32'. */
  kvDtype?: KvDtype;
  /** Slots of this layer's cache when it is a ring (logical slot s at s % ring, src/kv/cache.ts); default 0, the full cache. */
  ring?: number;
  /** Scores are q.k times this; default 1/sqrt(headDim) (Gemma: query_pre_attn_scalar^-0.5). */
  scale?: number;
  /** Gemma 2: a score s becomes softcap * tanh(s / softcap) after the scale; default none. */
  softcap?: number | null;
  /**
   * A sliding layer's window: a row at position p (its key count - 1) sees the keys at
   * positions p - window < k <= p; default 0, every key (one pipeline per distinct window).
   */
  window?: number;
  /**
   * Query heads per workgroup, sharing each K/V load: a divisor of nHeads / nKvHeads.
   * Default: the largest whose workgroup memory fits the device (at most 16).
   */
  headsPerWorkgroup?: number;
  /**
   * Rows per workgroup, sharing each K/V load and each barrier. Default: as many as fit 16
   * query vectors and the device (2-3x faster than one row and head per workgroup on
   * SwiftShader for trees of 32 and 128 rows, SmolLM2 and stories15M head shapes).
   */
  rowsPerWorkgroup?: number;
}

export interface AttentionBuffers {
  /** (maxRows, 4) u32 ancestor bitmask: bit j of row r => row r sees slot prefix + j. */
  mask: GPUBuffer;
  /** (maxRows, nHeads, headDim) f32 rotated queries. */
  q: GPUBuffer;
  /** (slots, nKvHeads, headDim) f32 or f16 pairs (kvDtype): this layer's key cache (its range of the KV cache's shared buffer; `ring` slots for a ring). */
  kCache: GPUBuffer | BufferRange;
  /** (slots, nKvHeads, headDim) f32 or f16 pairs: this layer's value cache (its range of the shared buffer). */
  vCache: GPUBuffer | BufferRange;
  /** (maxRows, nHeads, headDim) f32 output. */
  out: GPUBuffer;
}

/** Bound of the kernel's per-thread arrays: heads * rows per workgroup (MAX_QV in shaders/attention_tree_f32.wgsl). */
const MAX_QV = 16;
const TILE = 64;

/**
 * Workgroup memory of the kernel for hpw heads times rb rows (qv = hpw * rb query vectors):
 * q and acc (qv, headDim), tile weights (qv, TILE), tile slots (rb, TILE), 2 * qv + 2 scalars.
 */
function workgroupBytes(hpw: number, rb: number, headDim: number): number {
  const qv = hpw * rb;
  return (2 * qv * headDim + qv * TILE + rb * TILE + 2 * qv + 2) * 4;
}

/** Default blocking: the most heads of a group, then the most rows, within MAX_QV and `limit` bytes. */
export function defaultBlocking(d: AttentionDims, limit: number): { hpw: number; rb: number } {
  const group = d.nHeads / d.nKvHeads;
  let hpw = 0;
  for (let h = Math.min(group, MAX_QV); h >= 1 && !hpw; h--) if (group % h === 0 && workgroupBytes(h, 1, d.headDim) <= limit) hpw = h;
  let rb = Math.max(1, Math.min(Math.floor(MAX_QV / Math.max(hpw, 1)), d.maxRows));
  while (rb > 1 && workgroupBytes(hpw, rb, d.headDim) > limit) rb--;
  return { hpw, rb };
}

export class TreeAttention implements GpuOp {
  private readonly pipeline: GPUComputePipeline;
  private readonly bindGroup: GPUBindGroup;
  /** Query heads per workgroup. */
  readonly hpw: number;
  /** Rows per workgroup. */
  readonly rb: number;

  constructor(env: KernelEnv, label: string, buffers: AttentionBuffers, readonly dims: AttentionDims) {
    const { nHeads, nKvHeads, headDim, maxRows } = dims;
    if (nKvHeads < 1 || nHeads % nKvHeads !== 0) throw new OpShapeError(`${label}: nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads}`);
    if (dims.window !== undefined && (!Number.isInteger(dims.window) || dims.window < 0)) throw new OpShapeError(`${label}: window ${dims.window} is not an integer >= 0`);
    if (maxRows > 128) throw new OpShapeError(`${label}: maxRows ${maxRows} exceeds 128 (four u32 of ancestor mask per row)`);
    const limit = env.device.limits.maxComputeWorkgroupStorageSize;
    const auto = defaultBlocking(dims, limit);
    const hpw = dims.headsPerWorkgroup ?? auto.hpw;
    const rb = dims.rowsPerWorkgroup ?? auto.rb;
    const group = nHeads / nKvHeads;
    if (!Number.isInteger(hpw) || hpw < 1 || group % hpw !== 0 || !Number.isInteger(rb) || rb < 1 || hpw * rb > MAX_QV) {
      throw new OpShapeError(`${label}: ${hpw} heads (a divisor of the group size ${group}) times ${rb} rows per workgroup must be at most ${MAX_QV}`);
    }
    if (workgroupBytes(hpw, rb, headDim) > limit) {
      throw new OpShapeError(`${label}: headDim ${headDim} with ${hpw * rb} query vectors per workgroup needs ${workgroupBytes(hpw, rb, headDim)} B of workgroup memory, the device allows ${limit}`);
    }
    this.hpw = hpw;
    this.rb = rb;
    // scale 0: the kernel's 1/sqrt(headDim)
    this.pipeline = env.pipelines.get('attention_tree_f32', { N_HEADS: nHeads, N_KV_HEADS: nKvHeads, HEAD_DIM: headDim, HPW: hpw, RB: rb, SCALE: dims.scale ?? 0, SOFTCAP: dims.softcap ?? 0, WINDOW: dims.window ?? 0, ...kvConstants(dims.kvDtype, dims.ring) });
    const b = buffers;
    this.bindGroup = bindBuffers(env.device, `${label}.bind`, this.pipeline, [env.step, b.mask, b.q, b.kCache, b.vCache, b.out]);
  }

  /** Records the dispatch for `rows` rows (the Step uniform must hold the same rows). */
  encode(pass: GPUComputePassEncoder, rows: number): void {
    checkRows(rows, this.dims.maxRows, 'TreeAttention.encode');
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bindGroup);
    pass.dispatchWorkgroups(this.dims.nHeads / this.hpw, Math.ceil(rows / this.rb));
  }
}
