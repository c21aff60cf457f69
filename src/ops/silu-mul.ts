/**
 * SwiGLU gate: out = silu(gate) * up, or GeGLU's gelu_tanh(gate) * up (shaders/silu_mul_f32.wgsl). gate and up are ONE fused
 * buffer (maxRows, 2*I) - [gate | up] per row - so the MLP runs one matmul with gate_proj and
 * up_proj concatenated along the output axis (one read of x, one dispatch).
 */
import { OpShapeError } from '../gpu/errors.ts';
import { bindBuffers, dispatchLinear, type GpuOp, type KernelEnv } from '../gpu/pipelines.ts';
import { checkRows, MAX_ROWS } from '../gpu/step.ts';

const WG = 256;

export interface SiluMulBuffers {
  /** (maxRows, 2*intermediate) f32: gate in the first half of each row, up in the second. */
  gateUp: GPUBuffer;
  /** (maxRows, intermediate) f32. */
  out: GPUBuffer;
}

export class SiluMulOp implements GpuOp {
  private readonly pipeline: GPUComputePipeline;
  private readonly bind: GPUBindGroup;
  private readonly maxRows: number;

  /** `gelu`: GeGLU (Gemma), out = gelu_tanh(gate) * up, instead of SwiGLU's silu. */
  constructor(env: KernelEnv, label: string, b: SiluMulBuffers, readonly intermediate: number, gelu = false) {
    this.maxRows = Math.min(MAX_ROWS, Math.floor(b.gateUp.size / (8 * intermediate)), Math.floor(b.out.size / (4 * intermediate)));
    if (!Number.isInteger(intermediate) || intermediate < 1 || this.maxRows < 1) {
      throw new OpShapeError(`SiluMulOp "${label}": intermediate ${intermediate} does not fit gateUp ${b.gateUp.size} and out ${b.out.size} bytes`);
    }
    this.pipeline = env.pipelines.get('silu_mul_f32', { WG, I: intermediate, GELU: gelu });
    this.bind = bindBuffers(env.device, `${label}.bind`, this.pipeline, [env.step, b.gateUp, b.out]);
  }

  encode(pass: GPUComputePassEncoder, rows: number): void {
    checkRows(rows, this.maxRows, 'SiluMulOp.encode');
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bind);
    dispatchLinear(pass, Math.ceil((rows * this.intermediate) / WG));
  }
}
