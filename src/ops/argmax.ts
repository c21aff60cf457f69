/**
 * Greedy token per row: argmax over the vocabulary, ties to the lowest id (shaders/argmax_f32.wgsl).
 * With `k`, it fills column 0 of a (maxRows, k) top-k id layout, the columns after it NO_ID:
 * a target pass whose acceptance walk reads only the argmax runs this one dispatch instead of
 * TopKOp (two on a GPU's slices of a large vocabulary), with TopKOp's column 0 and guard.
 */
import { OpShapeError } from '../gpu/errors.ts';
import { bindBuffers, type GpuOp, type KernelEnv } from '../gpu/pipelines.ts';
import { checkRows, MAX_ROWS } from '../gpu/step.ts';
import { MAX_TOP_K } from './topk.ts';

const WG = 256;

export interface ArgmaxBuffers {
  /** (maxRows, vocab) f32. */
  logits: GPUBuffer;
  /** (maxRows, k) u32 token ids: column 0 the argmax, the others NO_ID. */
  ids: GPUBuffer;
}

export interface ArgmaxOptions {
  /** Row stride of ids, 1..16 (default 1): the width of the top-k layout it writes into. */
  k?: number;
  /** As TopKOptions.guard: a row holding NaN or infinity gets NO_ID (-1 as i32), not the argmax of its finite logits. */
  guard?: boolean;
}

export class ArgmaxOp implements GpuOp {
  private readonly pipeline: GPUComputePipeline;
  private readonly bind: GPUBindGroup;
  private readonly maxRows: number;

  constructor(env: KernelEnv, label: string, b: ArgmaxBuffers, readonly vocab: number, opts: ArgmaxOptions = {}) {
    const k = opts.k ?? 1;
    if (!Number.isInteger(k) || k < 1 || k > MAX_TOP_K) throw new OpShapeError(`ArgmaxOp "${label}": k must be an integer in 1..${MAX_TOP_K}, got ${k}`);
    this.maxRows = Math.min(MAX_ROWS, Math.floor(b.logits.size / (4 * vocab)), Math.floor(b.ids.size / (4 * k)));
    if (!Number.isInteger(vocab) || vocab < 1 || this.maxRows < 1) {
      throw new OpShapeError(`ArgmaxOp "${label}": vocab ${vocab}, k ${k} do not fit logits ${b.logits.size} and ids ${b.ids.size} bytes`);
    }
    this.pipeline = env.pipelines.get('argmax_f32', { WG, VOCAB: vocab, K: k, GUARD: opts.guard ? 1 : 0 });
    this.bind = bindBuffers(env.device, `${label}.bind`, this.pipeline, [env.step, b.logits, b.ids]);
  }

  encode(pass: GPUComputePassEncoder, rows: number): void {
    checkRows(rows, this.maxRows, 'ArgmaxOp.encode');
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bind);
    pass.dispatchWorkgroups(rows);
  }
}
