/**
 * KV-cache compaction (shaders/compact_kv_f32.wgsl): for every layer, moves the K/V of pass
 * row path[j] from slot prefix + path[j] to slot prefix + j. The prefix, the path length and
 * the path live in GPU buffers written by the caller (src/kv/cache.ts) before the submit.
 */
import { OpShapeError } from '../gpu/errors.ts';
import { bindBuffers, type PipelineCache } from '../gpu/pipelines.ts';

export interface CompactBuffers {
  /** Uniform Compact { prefix: u32, count: u32, pad0: u32, pad1: u32 }. */
  params: GPUBuffer;
  /** (maxRows) u32 pass rows to keep, strictly increasing. */
  path: GPUBuffer;
  /** Per layer (slots, nKvHeads, headDim) f32 key caches. */
  kCaches: GPUBuffer[];
  /** Per layer (slots, nKvHeads, headDim) f32 value caches. */
  vCaches: GPUBuffer[];
}

export class KvCompact {
  private readonly pipeline: GPUComputePipeline;
  private readonly bindGroups: GPUBindGroup[];
  private readonly groups: number;

  /** rowWidth = nKvHeads * headDim floats per slot. */
  constructor(pipelines: PipelineCache, label: string, buffers: CompactBuffers, rowWidth: number) {
    if (buffers.kCaches.length !== buffers.vCaches.length) {
      throw new OpShapeError(`${label}: ${buffers.kCaches.length} key caches but ${buffers.vCaches.length} value caches`);
    }
    this.pipeline = pipelines.get('compact_kv_f32', { ROW_WIDTH: rowWidth });
    this.bindGroups = buffers.kCaches.map((k, layer) =>
      bindBuffers(pipelines.device, `${label}.bind${layer}`, this.pipeline, [buffers.params, buffers.path, k, buffers.vCaches[layer]]),
    );
    this.groups = Math.ceil(rowWidth / 64);
  }

  /** Records one dispatch per layer; the moves are ordered inside each thread (see the shader). */
  encode(pass: GPUComputePassEncoder): void {
    pass.setPipeline(this.pipeline);
    for (const bg of this.bindGroups) {
      pass.setBindGroup(0, bg);
      pass.dispatchWorkgroups(this.groups);
    }
  }
}
