/** RMSNorm per row with an f32 weight (shaders/rmsnorm_f32.wgsl). */
import { OpShapeError } from '../gpu/errors.ts';
import { bindBuffers, type GpuOp, type KernelEnv } from '../gpu/pipelines.ts';
import { checkRows, MAX_ROWS } from '../gpu/step.ts';

const WG = 128;

export interface RmsNormBuffers {
  /** (maxRows, width) f32. */
  x: GPUBuffer;
  /** (width,) f32. */
  weight: GPUBuffer;
  /** (maxRows, width) f32; may not alias x. */
  out: GPUBuffer;
}

export class RmsNormOp implements GpuOp {
  private readonly pipeline: GPUComputePipeline;
  private readonly bind: GPUBindGroup;
  private readonly maxRows: number;

  constructor(env: KernelEnv, label: string, b: RmsNormBuffers, readonly width: number, readonly eps: number) {
    this.maxRows = Math.min(MAX_ROWS, Math.floor(b.x.size / (4 * width)), Math.floor(b.out.size / (4 * width)));
    if (b.weight.size < width * 4 || this.maxRows < 1 || !(eps > 0)) {
      throw new OpShapeError(`RmsNormOp "${label}": width ${width}, eps ${eps} do not fit x ${b.x.size}, weight ${b.weight.size}, out ${b.out.size} bytes`);
    }
    if (b.x === b.out) throw new OpShapeError(`RmsNormOp "${label}": out must not alias x (x is read again after the reduction)`);
    this.pipeline = env.pipelines.get('rmsnorm_f32', { WG, N: width, EPS: eps });
    this.bind = bindBuffers(env.device, `${label}.bind`, this.pipeline, [env.step, b.x, b.weight, b.out]);
  }

  encode(pass: GPUComputePassEncoder, rows: number): void {
    checkRows(rows, this.maxRows, 'RmsNormOp.encode');
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bind);
    pass.dispatchWorkgroups(rows);
  }
}
