/**
 * KV-cache compaction (shaders/compact_kv_u32.wgsl): for every layer, moves the K/V of pass
 * row path[j] from slot prefix + path[j] to slot prefix + j. The prefix, the path length and
 * the path live in GPU buffers written by the caller (src/kv/cache.ts) before the submit.
 * Layers share buffers (KvCache's groups), so a commit is one dispatch per K/V buffer pair:
 * one for the whole model where one storage binding holds every layer, ring layers included.
 */
import { OpShapeError } from '../gpu/errors.ts';
import { bindBuffers, type PipelineCache } from '../gpu/pipelines.ts';

/**
 * K and V buffers of `full` full-context layers, `fullBytes` apart, then `rings` ring layers,
 * `ringBytes` apart (KvLayout), each (slots, slot words) u32 (f32 bits or f16 pairs).
 */
export interface KvLayerGroup {
  k: GPUBuffer;
  v: GPUBuffer;
  full: number;
  rings: number;
}

/** The strides of a cache's layers (src/kv/cache.ts kvLayout). */
export interface KvStrides {
  /** u32 words per slot (kv/cache.ts kvSlotWords). */
  rowWidth: number;
  /** A full layer's stride in its group's buffers. */
  fullBytes: number;
  /** A ring layer's stride (0 without rings). */
  ringBytes: number;
  /** A ring layer's slots (0 without rings). */
  ring: number;
}

export interface CompactBuffers {
  /** Uniform Compact { prefix: u32, count: u32, pad0: u32, pad1: u32 }. */
  params: GPUBuffer;
  /** (maxRows) u32 pass rows to keep, strictly increasing. */
  path: GPUBuffer;
  groups: KvLayerGroup[];
}

export class KvCompact {
  private readonly dispatches: { pipeline: GPUComputePipeline; bind: GPUBindGroup; layers: number }[];
  private readonly groups: number;

  constructor(pipelines: PipelineCache, label: string, buffers: CompactBuffers, s: KvStrides) {
    const bytes = (g: KvLayerGroup) => g.full * s.fullBytes + g.rings * s.ringBytes;
    if (s.fullBytes % 4 !== 0 || s.ringBytes % 4 !== 0 || buffers.groups.some((g) => g.full + g.rings < 1 || g.k.size < bytes(g) || g.v.size < bytes(g) || (g.rings > 0 && !(s.ring > 0)))) {
      throw new OpShapeError(`${label}: every group needs K and V buffers of its full layers x ${s.fullBytes} and ring layers x ${s.ringBytes} bytes`);
    }
    this.dispatches = buffers.groups.map((g, i) => {
      // one pipeline per distinct group shape (most models: one group, one pipeline)
      const constants = { ROW_WIDTH: s.rowWidth, LAYER_STRIDE: s.fullBytes / 4, FULL_LAYERS: g.full, ...(g.rings > 0 ? { RING_STRIDE: s.ringBytes / 4, KV_RING: s.ring } : {}) };
      const pipeline = pipelines.get('compact_kv_u32', constants);
      return { pipeline, bind: bindBuffers(pipelines.device, `${label}.bind${i}`, pipeline, [buffers.params, buffers.path, g.k, g.v]), layers: g.full + g.rings };
    });
    this.groups = Math.ceil(s.rowWidth / 64);
  }

  /** Records one dispatch per group of layers; the moves are ordered inside each thread (see the shader). */
  encode(pass: GPUComputePassEncoder): void {
    for (const d of this.dispatches) {
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bind);
      pass.dispatchWorkgroups(this.groups, d.layers);
    }
  }
}
