/**
 * Tree attention of one layer (shaders/attention_tree_f32.wgsl): query rows attend to the
 * committed cache slots 0..prefix-1 and to the pass slots prefix + j selected by each row's
 * ancestor bitmask. Grouped-query heads; any head width.
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

  constructor(env: KernelEnv, label: string, buffers: AttentionBuffers, readonly dims: AttentionDims) {
    const { nHeads, nKvHeads, headDim, maxRows } = dims;
    if (nKvHeads < 1 || nHeads % nKvHeads !== 0) throw new OpShapeError(`${label}: nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads}`);
    if (maxRows > 128) throw new OpShapeError(`${label}: maxRows ${maxRows} exceeds 128 (four u32 of ancestor mask per row)`);
    // Two (headDim) f32 workgroup arrays plus a 64-float tile must fit the adapter's limit.
    const wgBytes = (2 * headDim + 64) * 4;
    if (wgBytes > env.device.limits.maxComputeWorkgroupStorageSize) {
      throw new OpShapeError(`${label}: headDim ${headDim} needs ${wgBytes} B of workgroup memory, the device allows ${env.device.limits.maxComputeWorkgroupStorageSize}`);
    }
    this.pipeline = env.pipelines.get('attention_tree_f32', { N_HEADS: nHeads, N_KV_HEADS: nKvHeads, HEAD_DIM: headDim });
    const b = buffers;
    this.bindGroup = bindBuffers(env.device, `${label}.bind`, this.pipeline, [env.step, b.mask, b.q, b.kCache, b.vCache, b.out]);
  }

  /** Records the dispatch for `rows` rows (the Step uniform must hold the same rows). */
  encode(pass: GPUComputePassEncoder, rows: number): void {
    checkRows(rows, this.dims.maxRows, 'TreeAttention.encode');
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bindGroup);
    pass.dispatchWorkgroups(this.dims.nHeads, rows);
  }
}
