/**
 * The Hydra heads' own kernels (shaders/hydra_gather_f32.wgsl, shaders/hydra_head_f32.wgsl):
 * the level-0 gather of the target's hidden state at the last accepted row, and one head over a
 * tree level's frontier. The LM head and top-k of a level are MatmulOp and TopKOp.
 */
import { createUniform } from '../gpu/buffers.ts';
import { OpShapeError } from '../gpu/errors.ts';
import { bindBuffers, type KernelEnv } from '../gpu/pipelines.ts';
import type { WeightDtype } from './embed.ts';

const WG = 256;

export interface HydraGatherBuffers {
  /** The acceptance walk's result (u32, shaders/common/accept_result.wgsl). */
  result: GPUBuffer;
  /** (maxRows, hidden) f32 residual stream after the target's last layer. */
  x: GPUBuffer;
  /** (hidden) f32 final norm weight. */
  norm: GPUBuffer;
  /** (>= 1, hidden) f32: the level-0 state (row 0). */
  state: GPUBuffer;
  /** (>= 1) u32: the level-0 token (the bonus). */
  ids: GPUBuffer;
}

/** state = rmsnorm(x[last accepted row]) * norm, ids[0] = bonus: one workgroup. */
export class HydraGatherOp {
  private readonly pipeline: GPUComputePipeline;
  private readonly bind: GPUBindGroup;

  constructor(env: Omit<KernelEnv, 'step'>, label: string, b: HydraGatherBuffers, hidden: number, eps: number) {
    if (b.norm.size < hidden * 4 || b.state.size < hidden * 4 || b.x.size < hidden * 4 || !(eps > 0)) {
      throw new OpShapeError(`HydraGatherOp "${label}": hidden ${hidden}, eps ${eps} do not fit x ${b.x.size}, norm ${b.norm.size}, state ${b.state.size} bytes`);
    }
    this.pipeline = env.pipelines.get('hydra_gather_f32', { WG, HIDDEN: hidden, EPS: eps });
    this.bind = bindBuffers(env.device, `${label}.bind`, this.pipeline, [b.result, b.x, b.norm, b.state, b.ids]);
  }

  encode(pass: GPUComputePassEncoder): void {
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bind);
    pass.dispatchWorkgroups(1);
  }
}

export interface HydraHeadBuffers {
  /** (maxCount, 2) u32: parent slot in the previous level, rank among its children. */
  frontier: GPUBuffer;
  /** (prevCount, hidden) f32 states of the previous level. */
  prevStates: GPUBuffer;
  /** (prevCount, kPrev) u32 best ids of the previous level (trimmed indices; token ids for level 1). */
  prevIds: GPUBuffer;
  /** (trim) u32 token id of each trimmed index. */
  vocabIds: GPUBuffer;
  /** (vocab, hidden) the target's embedding table, f32 or f16 pairs. */
  table: GPUBuffer;
  /** (heads, ffn * 2 * hidden + hidden * ffn) f32: each head's W1 then W2. */
  weights: GPUBuffer;
  /** (maxCount, hidden) f32 states of this level. */
  states: GPUBuffer;
}

export interface HydraHeadShape {
  hidden: number;
  ffn: number;
  heads: number;
  /** Which head this level runs (0-based). */
  head: number;
  /** Width of a prevIds row. */
  kPrev: number;
  /** Whether prevIds hold trimmed indices (false for level 1: the bonus token id). */
  mapIds: boolean;
  embedDtype: WeightDtype;
}

/** One head over `count` frontier nodes: one workgroup each. */
export class HydraHeadOp {
  private readonly pipeline: GPUComputePipeline;
  private readonly bind: GPUBindGroup;
  private readonly params: GPUBuffer;
  private readonly paramData = new Uint32Array(4);
  readonly maxCount: number;

  constructor(env: Omit<KernelEnv, 'step'>, label: string, b: HydraHeadBuffers, s: HydraHeadShape) {
    const perHead = s.ffn * 2 * s.hidden + s.hidden * s.ffn;
    this.maxCount = Math.min(Math.floor(b.states.size / (4 * s.hidden)), Math.floor(b.frontier.size / 8));
    if (this.maxCount < 1 || b.weights.size < s.heads * perHead * 4 || s.head < 0 || s.head >= s.heads || s.kPrev < 1) {
      throw new OpShapeError(`HydraHeadOp "${label}": head ${s.head} of ${s.heads} (hidden ${s.hidden}, ffn ${s.ffn}, kPrev ${s.kPrev}) does not fit weights ${b.weights.size}, states ${b.states.size}, frontier ${b.frontier.size} bytes`);
    }
    this.params = createUniform(env.device, `${label}.params`, 16);
    this.paramData.set([0, s.kPrev, s.mapIds ? 1 : 0, s.head]);
    this.pipeline = env.pipelines.get('hydra_head_f32', { WG, HIDDEN: s.hidden, FFN: s.ffn, EMB_F16: s.embedDtype === 'f16' });
    this.bind = bindBuffers(env.device, `${label}.bind`, this.pipeline, [this.params, b.frontier, b.prevStates, b.prevIds, b.vocabIds, b.table, b.weights, b.states]);
  }

  /** Sets the frontier size of the next submit (a queue write, ordered before it). */
  setCount(device: GPUDevice, count: number): void {
    if (!Number.isInteger(count) || count < 1 || count > this.maxCount) throw new OpShapeError(`HydraHeadOp.setCount: ${count}, expected 1..${this.maxCount}`);
    this.paramData[0] = count;
    device.queue.writeBuffer(this.params, 0, this.paramData);
  }

  encode(pass: GPUComputePassEncoder, count: number): void {
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bind);
    pass.dispatchWorkgroups(count);
  }

  destroy(): void {
    this.params.destroy();
  }
}
