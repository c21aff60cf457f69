/** Greedy token per row: argmax over the vocabulary, ties to the lowest id (shaders/argmax_f32.wgsl). */
import { OpShapeError } from '../gpu/errors.ts';
import { bindBuffers, type GpuOp, type KernelEnv } from '../gpu/pipelines.ts';
import { checkRows, MAX_ROWS } from '../gpu/step.ts';

const WG = 256;

export interface ArgmaxBuffers {
  /** (maxRows, vocab) f32. */
  logits: GPUBuffer;
  /** (maxRows,) u32 token ids. */
  ids: GPUBuffer;
}

export class ArgmaxOp implements GpuOp {
  private readonly pipeline: GPUComputePipeline;
  private readonly bind: GPUBindGroup;
  private readonly maxRows: number;

  constructor(env: KernelEnv, label: string, b: ArgmaxBuffers, readonly vocab: number) {
    this.maxRows = Math.min(MAX_ROWS, Math.floor(b.logits.size / (4 * vocab)), Math.floor(b.ids.size / 4));
    if (!Number.isInteger(vocab) || vocab < 1 || this.maxRows < 1) {
      throw new OpShapeError(`ArgmaxOp "${label}": vocab ${vocab} does not fit logits ${b.logits.size} and ids ${b.ids.size} bytes`);
    }
    this.pipeline = env.pipelines.get('argmax_f32', { WG, VOCAB: vocab });
    this.bind = bindBuffers(env.device, `${label}.bind`, this.pipeline, [env.step, b.logits, b.ids]);
  }

  encode(pass: GPUComputePassEncoder, rows: number): void {
    checkRows(rows, this.maxRows, 'ArgmaxOp.encode');
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bind);
    pass.dispatchWorkgroups(rows);
  }
}
