/** Softmax per row with temperature, for sampling (shaders/softmax_f32.wgsl). */
import { createUniform } from '../gpu/buffers.ts';
import { OpShapeError } from '../gpu/errors.ts';
import { bindBuffers, type GpuOp, type KernelEnv } from '../gpu/pipelines.ts';
import { checkRows, MAX_ROWS } from '../gpu/step.ts';

const WG = 256;

export interface SoftmaxBuffers {
  /** (maxRows, vocab) f32. */
  logits: GPUBuffer;
  /** (maxRows, vocab) f32; not logits itself (WebGPU forbids a writable binding aliasing another). */
  probs: GPUBuffer;
}

export class SoftmaxOp implements GpuOp {
  private readonly pipeline: GPUComputePipeline;
  private readonly bind: GPUBindGroup;
  private readonly maxRows: number;
  /** SoftmaxParams { invTemperature, pad0, pad1, pad2 }: 16 bytes. */
  private readonly params: GPUBuffer;
  private readonly paramData = new Float32Array(4);

  constructor(private readonly env: KernelEnv, label: string, b: SoftmaxBuffers, readonly vocab: number, temperature = 1) {
    this.maxRows = Math.min(MAX_ROWS, Math.floor(b.logits.size / (4 * vocab)), Math.floor(b.probs.size / (4 * vocab)));
    if (!Number.isInteger(vocab) || vocab < 1 || this.maxRows < 1) {
      throw new OpShapeError(`SoftmaxOp "${label}": vocab ${vocab} does not fit logits ${b.logits.size} and probs ${b.probs.size} bytes`);
    }
    if (b.logits === b.probs) throw new OpShapeError(`SoftmaxOp "${label}": probs must not alias logits`);
    this.params = createUniform(env.device, `${label}.params`, 16);
    this.setTemperature(temperature);
    this.pipeline = env.pipelines.get('softmax_f32', { WG, VOCAB: vocab });
    this.bind = bindBuffers(env.device, `${label}.bind`, this.pipeline, [env.step, this.params, b.logits, b.probs]);
  }

  /** Temperature T > 0 of the next passes (greedy decoding uses argmax, not T = 0). */
  setTemperature(temperature: number): void {
    if (!(temperature > 0) || !Number.isFinite(temperature)) {
      throw new OpShapeError(`SoftmaxOp.setTemperature: temperature must be a finite number > 0, got ${temperature}`);
    }
    this.paramData[0] = 1 / temperature;
    this.env.device.queue.writeBuffer(this.params, 0, this.paramData);
  }

  encode(pass: GPUComputePassEncoder, rows: number): void {
    checkRows(rows, this.maxRows, 'SoftmaxOp.encode');
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bind);
    pass.dispatchWorkgroups(rows);
  }
}
