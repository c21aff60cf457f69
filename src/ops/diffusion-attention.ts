/** The block drafter's bidirectional attention over its slots (shaders/diffusion_attention_f32.wgsl). */
import { OpShapeError } from '../gpu/errors.ts';
import { bindBuffers, type KernelEnv } from '../gpu/pipelines.ts';

export class DiffusionAttentionOp {
  private readonly pipeline: GPUComputePipeline;
  private readonly bind: GPUBindGroup;

  /** qkv (slots, 3 * dim) f32; out (slots, dim) f32. */
  constructor(env: Omit<KernelEnv, 'step'>, label: string, b: { qkv: GPUBuffer; out: GPUBuffer }, readonly slots: number, readonly dim: number, readonly heads: number) {
    const wg = Math.max(4, 2 ** Math.ceil(Math.log2(slots)));
    if (!Number.isInteger(dim / heads) || wg > 256 || b.qkv.size < slots * 3 * dim * 4 || b.out.size < slots * dim * 4) {
      throw new OpShapeError(`DiffusionAttentionOp "${label}": ${slots} slots of dim ${dim} in ${heads} heads do not fit (at most 256 slots, heads dividing dim)`);
    }
    this.pipeline = env.pipelines.get('diffusion_attention_f32', { T: slots, DIM: dim, HEADS: heads, WG: wg });
    this.bind = bindBuffers(env.device, `${label}.bind`, this.pipeline, [b.qkv, b.out]);
  }

  encode(pass: GPUComputePassEncoder): void {
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bind);
    pass.dispatchWorkgroups(this.slots * this.heads);
  }
}
