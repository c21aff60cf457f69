/** Device-side copy of whole 16-byte words (shaders/copy_u32.wgsl). */
import { OpShapeError } from './errors.ts';
import { bindBuffers, dispatchLinear, type PipelineCache } from './pipelines.ts';

const WG = 256;

export class CopyOp {
  private readonly pipeline: GPUComputePipeline;
  private readonly bind: GPUBindGroup;
  private readonly groups: number;

  /** dst = src over dst's whole size (a multiple of 16 bytes, at most src's size). */
  constructor(pipelines: PipelineCache, label: string, src: GPUBuffer, dst: GPUBuffer) {
    if (dst.size % 16 !== 0 || src.size < dst.size) {
      throw new OpShapeError(`CopyOp "${label}": dst ${dst.size} bytes must be a multiple of 16 and at most src's ${src.size}`);
    }
    this.pipeline = pipelines.get('copy_u32', { WG });
    this.bind = bindBuffers(pipelines.device, `${label}.bind`, this.pipeline, [src, dst]);
    this.groups = Math.ceil(dst.size / 16 / WG);
  }

  encode(pass: GPUComputePassEncoder): void {
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bind);
    dispatchLinear(pass, this.groups);
  }
}
