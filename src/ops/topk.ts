/**
 * Top-k per row, k <= 16: ids and values, best first, ties to the lowest id
 * (shaders/topk_f32.wgsl). Feeds Token Recycling's adjacency matrix and multi-branch drafting.
 */
import { OpShapeError } from '../gpu/errors.ts';
import { bindBuffers, type GpuOp, type KernelEnv } from '../gpu/pipelines.ts';
import { checkRows, MAX_ROWS } from '../gpu/step.ts';

const WG = 64;
/** Register-list limit of the kernel (MAX_K in shaders/topk_f32.wgsl). */
export const MAX_TOP_K = 16;

export interface TopKBuffers {
  /** (maxRows, vocab) f32. */
  logits: GPUBuffer;
  /** (maxRows, k) u32 token ids, best first. */
  ids: GPUBuffer;
  /** (maxRows, k) f32 logits of those ids. */
  values: GPUBuffer;
}

export class TopKOp implements GpuOp {
  private readonly pipeline: GPUComputePipeline;
  private readonly bind: GPUBindGroup;
  private readonly maxRows: number;

  constructor(env: KernelEnv, label: string, b: TopKBuffers, readonly vocab: number, readonly k: number) {
    this.maxRows = Math.min(MAX_ROWS, Math.floor(b.logits.size / (4 * vocab)), Math.floor(b.ids.size / (4 * k)), Math.floor(b.values.size / (4 * k)));
    if (!Number.isInteger(k) || k < 1 || k > MAX_TOP_K || k > vocab) {
      throw new OpShapeError(`TopKOp "${label}": k must be an integer in 1..min(${MAX_TOP_K}, vocab ${vocab}), got ${k}`);
    }
    if (!Number.isInteger(vocab) || this.maxRows < 1) {
      throw new OpShapeError(`TopKOp "${label}": vocab ${vocab}, k ${k} do not fit logits ${b.logits.size}, ids ${b.ids.size}, values ${b.values.size} bytes`);
    }
    this.pipeline = env.pipelines.get('topk_f32', { WG, K: k, VOCAB: vocab });
    this.bind = bindBuffers(env.device, `${label}.bind`, this.pipeline, [env.step, b.logits, b.ids, b.values]);
  }

  encode(pass: GPUComputePassEncoder, rows: number): void {
    checkRows(rows, this.maxRows, 'TopKOp.encode');
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bind);
    pass.dispatchWorkgroups(rows);
  }
}
