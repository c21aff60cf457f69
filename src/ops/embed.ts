/** Embedding gather (shaders/embed_f32.wgsl, shaders/embed_f16.wgsl). */
import { f16RowStride } from '../gpu/buffers.ts';
import { OpShapeError } from '../gpu/errors.ts';
import { bindBuffers, dispatchLinear, type GpuOp, type KernelEnv } from '../gpu/pipelines.ts';
import { checkRows, MAX_ROWS } from '../gpu/step.ts';

const WG = 256;

/** Storage format of a weight matrix: f32, or f16 packed two per u32 with rows packed separately. */
export type WeightDtype = 'f32' | 'f16';

export interface EmbedBuffers {
  /** (maxRows,) u32 token ids, each < vocab. */
  tokens: GPUBuffer;
  /** (vocab, hidden) f32, or (vocab, ceil(hidden/2)) u32 of f16 pairs. */
  table: GPUBuffer;
  /** (maxRows, hidden) f32. */
  out: GPUBuffer;
}

export class EmbedOp implements GpuOp {
  private readonly pipeline: GPUComputePipeline;
  private readonly bind: GPUBindGroup;
  private readonly maxRows: number;
  /** Threads per row: one per f32 element, or one per packed f16 pair. */
  private readonly perRow: number;

  /** `scale` multiplies every gathered value (Gemma's sqrt(hidden)); default 1. */
  constructor(env: KernelEnv, label: string, b: EmbedBuffers, readonly hidden: number, readonly vocab: number, readonly dtype: WeightDtype, scale = 1) {
    this.perRow = dtype === 'f16' ? f16RowStride(hidden) : hidden;
    this.maxRows = Math.min(MAX_ROWS, Math.floor(b.tokens.size / 4), Math.floor(b.out.size / (4 * hidden)));
    if (b.table.size < vocab * this.perRow * 4 || this.maxRows < 1) {
      throw new OpShapeError(`EmbedOp "${label}": table ${b.table.size} bytes, tokens ${b.tokens.size}, out ${b.out.size} do not fit vocab ${vocab} x hidden ${hidden} (${dtype})`);
    }
    this.pipeline = env.pipelines.get(`embed_${dtype}`, { WG, HIDDEN: hidden, SCALE: scale });
    this.bind = bindBuffers(env.device, `${label}.bind`, this.pipeline, [env.step, b.tokens, b.table, b.out]);
  }

  encode(pass: GPUComputePassEncoder, rows: number): void {
    checkRows(rows, this.maxRows, 'EmbedOp.encode');
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bind);
    dispatchLinear(pass, Math.ceil((rows * this.perRow) / WG));
  }
}
