/**
 * A matmul whose weight is split by rows into several buffers (src/model/upload.ts RowParts:
 * an LM head larger than one storage binding): one MatmulOp per part, part i writing output
 * columns [i * partRows, i * partRows + its rows) of the one y (rows, outDim). Each output
 * column is the same dot product as with the whole weight (a column's sum never depends on the
 * column's place in the dispatch), so the logits equal the unsplit ones bit for bit; the cost is
 * one dispatch per part.
 */
import { OpShapeError } from '../gpu/errors.ts';
import type { GpuOp, KernelEnv } from '../gpu/pipelines.ts';
import { MatmulOp, type MatmulBuffers, type MatmulOptions } from './matmul.ts';

export interface RowSplitBuffers extends Omit<MatmulBuffers, 'w' | 'bias'> {
  /** Part i: (rows of part i, matrixRowWords(inDim, dtype)); rows [i * partRows, ...) of the (outDim, inDim) weight. */
  w: readonly GPUBuffer[];
}

export class RowSplitMatmul implements GpuOp {
  /** One matmul per weight part (one, the plain MatmulOp, when the weight is whole). */
  readonly parts: MatmulOp[];

  /** `partRows`: rows of every part but the last (RowParts.partRows). */
  constructor(env: KernelEnv, label: string, b: RowSplitBuffers, partRows: number, opts: MatmulOptions) {
    const n = b.w.length;
    if (n < 1 || (n - 1) * partRows >= opts.outDim || n * partRows < opts.outDim) {
      throw new OpShapeError(`RowSplitMatmul "${label}": ${n} weight parts of ${partRows} rows do not make ${opts.outDim} output rows`);
    }
    this.parts = b.w.map((w, i) => {
      if (n === 1) return new MatmulOp(env, label, { ...b, w }, opts);
      const part = { ...opts, outDim: Math.min(partRows, opts.outDim - i * partRows), yStride: opts.outDim, yColumn: i * partRows };
      return new MatmulOp(env, `${label}.part${i}`, { ...b, w }, part);
    });
  }

  encode(pass: GPUComputePassEncoder, rows: number): void {
    for (const p of this.parts) p.encode(pass, rows);
  }
}
