/**
 * One target pass over a draft tree and the acceptance walk (DESIGN section 3, steps 2-4).
 * The GPU computes logits, argmax and top-k for every row; under greedy decoding the CPU
 * reads back only (rows) argmax ids and (rows, k) top-k ids.
 */
import type { GpuModel } from '../model/gpu-model';
import type { DraftTree } from '../tree/types';
import type { TreeLayout } from '../tree/layout';
import { acceptGreedy } from '../verify/greedy';
import { acceptStochastic } from '../verify/stochastic';
import { targetProbs, type SamplingOptions } from '../verify/sampler';
import type { Rng } from '../verify/rng';

export interface StepOutcome {
  /** Accepted node indices in path order. */
  nodes: Int32Array;
  /** The token drawn from the target at the last accepted row. */
  bonus: number;
  /** (rows, k) target top-k ids per row, for drafters that learn from verification. */
  topK: Int32Array;
  k: number;
}

/** Row tokens of a verify pass: the root, then the nodes. (rows) */
export function rowTokens(root: number, tree: DraftTree): Int32Array {
  const rows = new Int32Array(tree.tokens.length + 1);
  rows[0] = root;
  rows.set(tree.tokens, 1);
  return rows;
}

/** Whether the target distribution must be computed on the CPU from logits. */
export function needsLogits(s: SamplingOptions): boolean {
  return s.temperature > 0 || s.repetitionPenalty !== 1;
}

/**
 * Tokens that repetition penalty sees at `row`: the committed tokens (root included), then
 * the tokens of the row's ancestors and itself (the row's own context, not its siblings').
 */
function rowHistory(committed: Int32Array, tree: DraftTree, row: number): Int32Array {
  const path: number[] = [];
  for (let node = row - 1; node >= 0; node = tree.parents[node]) path.push(tree.tokens[node]);
  const h = new Int32Array(committed.length + path.length);
  h.set(committed);
  for (let i = 0; i < path.length; i++) h[committed.length + i] = path[path.length - 1 - i];
  return h;
}

/**
 * Runs the target over root + tree at cache prefix `committed.length - 1`, then walks the
 * tree. Does not commit: the caller commits the accepted rows.
 */
export async function verifyTree(
  model: GpuModel,
  committed: Int32Array,
  tree: DraftTree,
  layout: TreeLayout,
  sampling: SamplingOptions,
  rng: Rng,
): Promise<StepOutcome> {
  const n = committed.length;
  const root = committed[n - 1];
  const positions = new Int32Array(layout.rows);
  for (let r = 0; r < layout.rows; r++) positions[r] = n - 1 + layout.depth[r];
  model.forward(rowTokens(root, tree), positions, layout.mask);
  const { argmax, topK, k } = await model.readArgmaxTopK(layout.rows);
  if (!needsLogits(sampling)) {
    const { nodes, bonus } = acceptGreedy(tree, layout, argmax);
    return { nodes, bonus, topK, k };
  }
  // Sampling (or penalised greedy): the target distribution of each visited row is computed
  // on the CPU exactly as plain sampling computes it, so acceptance stays lossless.
  const logits = await model.readLogits(layout.rows);
  const vocab = model.config.vocabSize;
  const cache = new Map<number, Float32Array>();
  const rowProbs = (row: number): Float32Array => {
    let p = cache.get(row);
    if (!p) {
      p = targetProbs(logits.subarray(row * vocab, (row + 1) * vocab), sampling, rowHistory(committed, tree, row));
      cache.set(row, p);
    }
    return p;
  };
  const { nodes, bonus } = acceptStochastic(tree, layout, rowProbs, rng);
  return { nodes, bonus, topK, k };
}
