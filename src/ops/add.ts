/** Residual add in place, a += b, for the first `rows` rows (shaders/add_f32.wgsl). */
import { OpShapeError } from '../gpu/errors.ts';
import { bindBuffers, dispatchLinear, type GpuOp, type KernelEnv } from '../gpu/pipelines.ts';
import { checkRows } from '../gpu/step.ts';

const WG = 256;

export class AddOp implements GpuOp {
  private readonly pipeline: GPUComputePipeline;
  private readonly bind: GPUBindGroup;
  private readonly maxRows: number;

  /**
   * a (maxRows, width) f32, updated in place; b (maxRows, width) f32.
   * maxRows is taken from a's size.
   */
  constructor(env: KernelEnv, label: string, a: GPUBuffer, b: GPUBuffer, readonly width: number) {
    this.maxRows = Math.floor(a.size / (4 * width));
    if (!Number.isInteger(width) || width < 1 || this.maxRows < 1 || b.size < this.maxRows * width * 4) {
      throw new OpShapeError(`AddOp "${label}": width ${width} does not fit a (${a.size} bytes) and b (${b.size} bytes)`);
    }
    this.pipeline = env.pipelines.get('add_f32', { WG, WIDTH: width });
    this.bind = bindBuffers(env.device, `${label}.bind`, this.pipeline, [env.step, a, b]);
  }

  encode(pass: GPUComputePassEncoder, rows: number): void {
    checkRows(rows, this.maxRows, 'AddOp.encode');
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bind);
    dispatchLinear(pass, Math.ceil((rows * this.width) / WG));
  }
}
