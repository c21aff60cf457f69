/** Soft-capping in place, x = cap * tanh(x / cap), for the first `rows` rows (shaders/softcap_f32.wgsl): Gemma 2's final logits. */
import { OpShapeError } from '../gpu/errors.ts';
import { bindBuffers, dispatchLinear, type GpuOp, type KernelEnv } from '../gpu/pipelines.ts';
import { checkRows } from '../gpu/step.ts';

const WG = 256;

export class SoftcapOp implements GpuOp {
  private readonly pipeline: GPUComputePipeline;
  private readonly bind: GPUBindGroup;
  private readonly maxRows: number;

  /** x (maxRows, width) f32, updated in place; maxRows is taken from its size. */
  constructor(env: KernelEnv, label: string, x: GPUBuffer, readonly width: number, readonly cap: number) {
    this.maxRows = Math.floor(x.size / (4 * width));
    if (!Number.isInteger(width) || width < 1 || this.maxRows < 1 || !(cap > 0)) {
      throw new OpShapeError(`SoftcapOp "${label}": width ${width}, cap ${cap} do not fit x (${x.size} bytes)`);
    }
    this.pipeline = env.pipelines.get('softcap_f32', { WG, WIDTH: width, CAP: cap });
    this.bind = bindBuffers(env.device, `${label}.bind`, this.pipeline, [env.step, x]);
  }

  encode(pass: GPUComputePassEncoder, rows: number): void {
    checkRows(rows, this.maxRows, 'SoftcapOp.encode');
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bind);
    dispatchLinear(pass, Math.ceil((rows * this.width) / WG));
  }
}
