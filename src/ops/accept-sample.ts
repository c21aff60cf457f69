/**
 * Stochastic tree acceptance on the GPU (shaders/accept_sample_f32.wgsl): computes each visited
 * row's processed target distribution from the logits, runs the rejection walk over the tree
 * and draws the bonus token; writes the same small result as the greedy walk. One workgroup.
 */
import { OpShapeError } from '../gpu/errors.ts';
import { bindBuffers, type KernelEnv } from '../gpu/pipelines.ts';

const WG = 256;

export interface AcceptSampleBuffers {
  /** AcceptParams uniform (48 bytes). */
  params: GPUBuffer;
  /** (maxRows, vocab) f32 logits of the pass. */
  logits: GPUBuffer;
  /** (maxRows, k) u32 top-k ids of the pass, best first. */
  topKIds: GPUBuffer;
  /** (4, MAX_ROWS) u32 tree sections: node tokens, parent rows, q slots, uniforms. */
  tree: GPUBuffer;
  /** (capacity) u32 committed tokens (repetition penalty history). */
  history: GPUBuffer;
  /** (slots, vocab) f32 draft distributions of the parent rows (sampled drafts). */
  q: GPUBuffer;
  /** (3, vocab) f32 scratch: p, working q, seen marks. */
  scratch: GPUBuffer;
  /** (HEADER + maxDepth + rows * k) u32 result. */
  result: GPUBuffer;
}

export class AcceptSampleOp {
  private readonly pipeline: GPUComputePipeline;
  private bind: GPUBindGroup;

  constructor(private readonly env: Pick<KernelEnv, 'device' | 'pipelines'>, readonly label: string, private b: AcceptSampleBuffers, readonly vocab: number, readonly k: number) {
    if (!Number.isInteger(vocab) || vocab < 1 || b.logits.size < 4 * vocab || b.scratch.size < 12 * vocab || b.q.size < 4 * vocab) {
      throw new OpShapeError(`AcceptSampleOp "${label}": vocab ${vocab} does not fit logits ${b.logits.size}, scratch ${b.scratch.size}, q ${b.q.size} bytes`);
    }
    if (!Number.isInteger(k) || k < 1 || b.topKIds.size < 4 * k) throw new OpShapeError(`AcceptSampleOp "${label}": k ${k} does not fit top-k ids of ${b.topKIds.size} bytes`);
    this.pipeline = env.pipelines.get('accept_sample_f32', { WG, K: k, VOCAB: vocab });
    this.bind = this.bindAll();
  }

  /** Binds a new q buffer (grown to more parent slots). */
  setQ(q: GPUBuffer): void {
    this.b = { ...this.b, q };
    this.bind = this.bindAll();
  }

  encode(pass: GPUComputePassEncoder): void {
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bind);
    pass.dispatchWorkgroups(1);
  }

  private bindAll(): GPUBindGroup {
    const b = this.b;
    return bindBuffers(this.env.device, `${this.label}.bind`, this.pipeline, [b.params, b.logits, b.topKIds, b.tree, b.history, b.q, b.scratch, b.result]);
  }
}
