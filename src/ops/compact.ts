/**
 * KV-cache compaction (shaders/compact_kv_u32.wgsl): for every layer, moves the K/V of pass
 * row path[j] from slot prefix + path[j] to slot prefix + j. The prefix, the path length and
 * the path live in GPU buffers written by the caller (src/kv/cache.ts) before the submit.
 * Layers share buffers (KvCache's groups), so a commit is one dispatch per K/V buffer pair:
 * one for the whole model where one storage binding holds every layer.
 */
import { OpShapeError } from '../gpu/errors.ts';
import { bindBuffers, type PipelineCache } from '../gpu/pipelines.ts';

/** K and V buffers of `layers` consecutive layers, `layerBytes` apart, (slots, slot words) u32 each (f32 bits or f16 pairs). */
export interface KvLayerGroup {
  k: GPUBuffer;
  v: GPUBuffer;
  layers: number;
}

export interface CompactBuffers {
  /** Uniform Compact { prefix: u32, count: u32, pad0: u32, pad1: u32 }. */
  params: GPUBuffer;
  /** (maxRows) u32 pass rows to keep, strictly increasing. */
  path: GPUBuffer;
  groups: KvLayerGroup[];
}

export class KvCompact {
  private readonly pipeline: GPUComputePipeline;
  private readonly dispatches: { bind: GPUBindGroup; layers: number }[];
  private readonly groups: number;

  /** rowWidth: u32 words per slot (kv/cache.ts kvSlotWords); layerBytes: a layer's stride in its group's buffers. */
  constructor(pipelines: PipelineCache, label: string, buffers: CompactBuffers, rowWidth: number, layerBytes: number) {
    if (layerBytes % 4 !== 0 || buffers.groups.some((g) => g.layers < 1 || g.k.size < g.layers * layerBytes || g.v.size < g.layers * layerBytes)) {
      throw new OpShapeError(`${label}: every group needs K and V buffers of layers x ${layerBytes} bytes`);
    }
    this.pipeline = pipelines.get('compact_kv_u32', { ROW_WIDTH: rowWidth, LAYER_STRIDE: layerBytes / 4 });
    this.dispatches = buffers.groups.map((g, i) => ({
      bind: bindBuffers(pipelines.device, `${label}.bind${i}`, this.pipeline, [buffers.params, buffers.path, g.k, g.v]),
      layers: g.layers,
    }));
    this.groups = Math.ceil(rowWidth / 64);
  }

  /** Records one dispatch per group of layers; the moves are ordered inside each thread (see the shader). */
  encode(pass: GPUComputePassEncoder): void {
    pass.setPipeline(this.pipeline);
    for (const d of this.dispatches) {
      pass.setBindGroup(0, d.bind);
      pass.dispatchWorkgroups(this.groups, d.layers);
    }
  }
}
