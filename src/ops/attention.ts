/**
 * Tree attention of one layer (shaders/attention_tree_f32.wgsl): query rows attend to the
 * committed cache slots 0..prefix-1 and to the pass slots prefix + j selected by each row's
 * ancestor bitmask. Grouped-query heads (a workgroup serves several query heads of one KV
 * head); any head width.
 */
import { OpShapeError } from '../gpu/errors.ts';
import { bindBuffers, type GpuOp, type KernelEnv } from '../gpu/pipelines.ts';
import { checkRows } from '../gpu/step.ts';

export interface AttentionDims {
  nHeads: number;
  /** Divides nHeads (grouped-query attention: head h reads kv head floor(h / (nHeads / nKvHeads))). */
  nKvHeads: number;
  headDim: number;
  /** Most rows one pass may hold (at most 128: four mask words per row). */
  maxRows: number;
  /**
   * Query heads per workgroup, sharing each K/V load: a divisor of nHeads / nKvHeads, at most
   * 16. Default: the largest whose workgroup memory fits the device.
   */
  headsPerWorkgroup?: number;
}

/** Bound of the kernel's per-thread arrays (MAX_HPW in shaders/attention_tree_f32.wgsl). */
const MAX_HPW = 16;
const TILE = 64;

/** Workgroup memory of the kernel: q and acc (HPW, headDim), tile (HPW, TILE), 2 * HPW + 1 scalars. */
function workgroupBytes(hpw: number, headDim: number): number {
  return (2 * hpw * headDim + hpw * TILE + 2 * hpw + 1) * 4;
}

/** The largest divisor of the group size within MAX_HPW whose workgroup memory fits `limit` bytes (0 if none). */
export function defaultHeadsPerWorkgroup(nHeads: number, nKvHeads: number, headDim: number, limit: number): number {
  const group = nHeads / nKvHeads;
  for (let h = Math.min(group, MAX_HPW); h >= 1; h--) if (group % h === 0 && workgroupBytes(h, headDim) <= limit) return h;
  return 0;
}

export interface AttentionBuffers {
  /** (maxRows, 4) u32 ancestor bitmask: bit j of row r => row r sees slot prefix + j. */
  mask: GPUBuffer;
  /** (maxRows, nHeads, headDim) f32 rotated queries. */
  q: GPUBuffer;
  /** (slots, nKvHeads, headDim) f32 this layer's key cache. */
  kCache: GPUBuffer;
  /** (slots, nKvHeads, headDim) f32 this layer's value cache. */
  vCache: GPUBuffer;
  /** (maxRows, nHeads, headDim) f32 output. */
  out: GPUBuffer;
}

export class TreeAttention implements GpuOp {
  private readonly pipeline: GPUComputePipeline;
  private readonly bindGroup: GPUBindGroup;
  /** Query heads per workgroup. */
  readonly hpw: number;

  constructor(env: KernelEnv, label: string, buffers: AttentionBuffers, readonly dims: AttentionDims) {
    const { nHeads, nKvHeads, headDim, maxRows } = dims;
    if (nKvHeads < 1 || nHeads % nKvHeads !== 0) throw new OpShapeError(`${label}: nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads}`);
    if (maxRows > 128) throw new OpShapeError(`${label}: maxRows ${maxRows} exceeds 128 (four u32 of ancestor mask per row)`);
    const limit = env.device.limits.maxComputeWorkgroupStorageSize;
    const hpw = dims.headsPerWorkgroup ?? defaultHeadsPerWorkgroup(nHeads, nKvHeads, headDim, limit);
    const group = nHeads / nKvHeads;
    if (!Number.isInteger(hpw) || hpw < 1 || hpw > MAX_HPW || group % hpw !== 0) {
      throw new OpShapeError(`${label}: headsPerWorkgroup ${hpw} must divide the group size ${group} and be in 1..${MAX_HPW}`);
    }
    if (workgroupBytes(hpw, headDim) > limit) {
      throw new OpShapeError(`${label}: headDim ${headDim} with ${hpw} heads per workgroup needs ${workgroupBytes(hpw, headDim)} B of workgroup memory, the device allows ${limit}`);
    }
    this.hpw = hpw;
    this.pipeline = env.pipelines.get('attention_tree_f32', { N_HEADS: nHeads, N_KV_HEADS: nKvHeads, HEAD_DIM: headDim, HPW: hpw });
    const b = buffers;
    this.bindGroup = bindBuffers(env.device, `${label}.bind`, this.pipeline, [env.step, b.mask, b.q, b.kCache, b.vCache, b.out]);
  }

  /** Records the dispatch for `rows` rows (the Step uniform must hold the same rows). */
  encode(pass: GPUComputePassEncoder, rows: number): void {
    checkRows(rows, this.dims.maxRows, 'TreeAttention.encode');
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bindGroup);
    pass.dispatchWorkgroups(this.dims.nHeads / this.hpw, rows);
  }
}
