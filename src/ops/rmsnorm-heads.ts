/**
 * Per-head RMSNorm of q and k in place (shaders/rmsnorm_heads_f32.wgsl): Qwen3's q_norm and
 * k_norm, between the projections and RoPE. One instance per layer (its norm weights are bound
 * in the constructor).
 */
import { OpShapeError } from '../gpu/errors.ts';
import { bindBuffers, type GpuOp, type KernelEnv } from '../gpu/pipelines.ts';
import { checkRows } from '../gpu/step.ts';

export interface HeadNormDims {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  eps: number;
  /** Most rows one pass may hold (the activation buffers' capacity). */
  maxRows: number;
}

export interface HeadNormBuffers {
  /** (maxRows, nHeads, headDim) f32, normalised in place. */
  q: GPUBuffer;
  /** (maxRows, nKvHeads, headDim) f32, normalised in place. */
  k: GPUBuffer;
  /** (headDim) f32. */
  qNorm: GPUBuffer;
  /** (headDim) f32. */
  kNorm: GPUBuffer;
}

export class HeadRmsNormOp implements GpuOp {
  private readonly pipeline: GPUComputePipeline;
  private readonly bindGroup: GPUBindGroup;

  constructor(env: KernelEnv, label: string, b: HeadNormBuffers, readonly dims: HeadNormDims) {
    const { nHeads, nKvHeads, headDim, eps, maxRows } = dims;
    const fits = b.q.size >= maxRows * nHeads * headDim * 4 && b.k.size >= maxRows * nKvHeads * headDim * 4;
    if (!fits || b.qNorm.size < headDim * 4 || b.kNorm.size < headDim * 4 || !(eps > 0)) {
      throw new OpShapeError(`HeadRmsNormOp "${label}": ${maxRows} rows of ${nHeads} + ${nKvHeads} heads of ${headDim}, eps ${eps} do not fit q ${b.q.size}, k ${b.k.size}, norms ${b.qNorm.size} / ${b.kNorm.size} bytes`);
    }
    this.pipeline = env.pipelines.get('rmsnorm_heads_f32', { N_HEADS: nHeads, N_KV_HEADS: nKvHeads, HEAD_DIM: headDim, EPS: eps });
    this.bindGroup = bindBuffers(env.device, `${label}.bind`, this.pipeline, [env.step, b.q, b.k, b.qNorm, b.kNorm]);
  }

  /** Records the dispatch for `rows` rows (the Step uniform must hold the same rows). */
  encode(pass: GPUComputePassEncoder, rows: number): void {
    checkRows(rows, this.dims.maxRows, 'HeadRmsNormOp.encode');
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bindGroup);
    pass.dispatchWorkgroups(this.dims.nHeads + this.dims.nKvHeads, rows);
  }
}
