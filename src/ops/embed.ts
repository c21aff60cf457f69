/**
 * Embedding gather (shaders/embed_f32.wgsl, shaders/embed_f16.wgsl). A table split by rows into
 * several buffers (src/model/upload.ts RowParts, when it exceeds one binding) is gathered by one
 * dispatch per part, each writing the rows whose token lies in its part: the same values, one
 * dispatch more per part.
 */
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
  /**
   * (vocab, hidden) f32, or (vocab, ceil(hidden/2)) u32 of f16 pairs; or that table split by
   * rows: part i holds rows [i * partRows, (i + 1) * partRows) (EmbedOp's partRows).
   */
  table: GPUBuffer | readonly GPUBuffer[];
  /** (maxRows, hidden) f32. */
  out: GPUBuffer;
}

export class EmbedOp implements GpuOp {
  /** One gather per table part. */
  private readonly parts: { pipeline: GPUComputePipeline; bind: GPUBindGroup }[];
  private readonly maxRows: number;
  /** Threads per row: one per f32 element, or one per packed f16 pair. */
  private readonly perRow: number;

  /** `scale` multiplies every gathered value (Gemma's sqrt(hidden)); default 1. `partRows`: rows per part of a split table (default vocab). */
  constructor(env: KernelEnv, label: string, b: EmbedBuffers, readonly hidden: number, readonly vocab: number, readonly dtype: WeightDtype, scale = 1, partRows = vocab) {
    this.perRow = dtype === 'f16' ? f16RowStride(hidden) : hidden;
    this.maxRows = Math.min(MAX_ROWS, Math.floor(b.tokens.size / 4), Math.floor(b.out.size / (4 * hidden)));
    const tables = Array.isArray(b.table) ? b.table : [b.table as GPUBuffer];
    const counts = tables.map((_, i) => Math.min(partRows, vocab - i * partRows));
    if (tables.some((t, i) => !(counts[i] >= 1) || t.size < counts[i] * this.perRow * 4) || tables.length * partRows < vocab || this.maxRows < 1) {
      const sizes = tables.map((t) => t.size).join(' + ');
      throw new OpShapeError(`EmbedOp "${label}": table ${sizes} bytes (parts of ${partRows} rows), tokens ${b.tokens.size}, out ${b.out.size} do not fit vocab ${vocab} x hidden ${hidden} (${dtype})`);
    }
    this.parts = tables.map((table, i) => {
      // one part: no FIRST / COUNT constants, so the unsplit table keeps its pipeline
      const range: Record<string, number> = tables.length > 1 ? { FIRST: i * partRows, COUNT: counts[i] } : {};
      const pipeline = env.pipelines.get(`embed_${dtype}`, { WG, HIDDEN: hidden, SCALE: scale, ...range });
      return { pipeline, bind: bindBuffers(env.device, tables.length > 1 ? `${label}.bind${i}` : `${label}.bind`, pipeline, [env.step, b.tokens, table, b.out]) };
    });
  }

  encode(pass: GPUComputePassEncoder, rows: number): void {
    checkRows(rows, this.maxRows, 'EmbedOp.encode');
    for (const p of this.parts) {
      pass.setPipeline(p.pipeline);
      pass.setBindGroup(0, p.bind);
      dispatchLinear(pass, Math.ceil((rows * this.perRow) / WG));
    }
  }
}
