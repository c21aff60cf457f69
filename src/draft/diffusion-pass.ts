/**
 * The block drafter's pass as the diffusion drafter uses it: after the context's last tokens,
 * the top candidates of each of the K masked positions (the lattice), or all K rows of logits
 * for a sampling request. CpuBlockPass runs the CPU reference; the GPU pass
 * (diffusion-gpu.ts) runs the same forward and top-k in kernels.
 */
import type { GpuCounter } from '../gpu/counter';
import type { DiffusionDrafterModel } from '../model/diffusion';
import { blockLogits, inputRows, trimIndex } from '../model/diffusion-reference';

export interface BlockLattice {
  /** (K, width) trimmed-vocabulary ids per position, most probable first. */
  ids: Int32Array;
  /** (K, width) their probabilities (softmax over the trimmed vocabulary). */
  probs: Float32Array;
  /** (K, trim) the logits, when asked for (sampling requests). */
  logits?: Float32Array;
}

export interface BlockPass {
  readonly model: DiffusionDrafterModel;
  /** Candidates per position. */
  readonly width: number;
  /** One pass after `tokens` (the last is the root): the lattice, with the logits when `withLogits`. */
  draft(tokens: Int32Array, withLogits: boolean): Promise<BlockLattice>;
  /** Counts the pass's GPU work (absent on the CPU). */
  readonly counter?: GpuCounter;
  destroy?(): void;
}

/** Top `width` of each row of (rows, n) logits, by value then lower index, as softmax probabilities. */
export function topKRows(logits: Float32Array, rows: number, width: number): BlockLattice {
  const n = logits.length / rows;
  const ids = new Int32Array(rows * width).fill(-1);
  const probs = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) {
    const row = logits.subarray(r * n, (r + 1) * n);
    let max = -Infinity;
    for (let i = 0; i < n; i++) max = Math.max(max, row[i]);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += Math.exp(row[i] - max);
    const best: number[] = [];
    for (let i = 0; i < n; i++) {
      if (best.length === width && row[i] <= row[best[width - 1]]) continue;
      let at = best.length;
      while (at > 0 && row[i] > row[best[at - 1]]) at--;
      best.splice(at, 0, i);
      if (best.length > width) best.pop();
    }
    best.forEach((i, k) => {
      ids[r * width + k] = i;
      probs[r * width + k] = Math.exp(row[i] - max) / sum;
    });
  }
  return { ids, probs };
}

export class CpuBlockPass implements BlockPass {
  private readonly trim: Map<number, number>;

  constructor(readonly model: DiffusionDrafterModel, readonly width = 4) {
    this.trim = trimIndex(model);
  }

  async draft(tokens: Int32Array, withLogits: boolean): Promise<BlockLattice> {
    const logits = blockLogits(this.model, inputRows(this.model, tokens, this.trim));
    return { ...topKRows(logits, this.model.block, this.width), logits: withLogits ? logits : undefined };
  }
}
