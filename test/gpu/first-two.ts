/**
 * The engine-level lossless test under sampling (DESIGN section 6): the joint distribution of
 * the first two generated tokens, over many seeds, against the target's exact distribution
 * computed by the CPU reference. Top-k sampling keeps the support small (k x k cells), so a few
 * hundred trials give a chi-square test with power against a biased verifier.
 */
import { expect } from 'vitest';
import type { Engine } from '../../src/engine/engine';
import type { GenerateOptions } from '../../src/engine/options';
import type { GenerationStats } from '../../src/engine/stats';
import type { ModelFiles } from '../../src/model/weights';
import { ReferenceModel } from '../../src/model/reference';
import type { KvDtype } from '../../src/kv/cache';
import { targetProbs, type SamplingOptions } from '../../src/verify/sampler';
import { topK } from '../../src/model/cpu-ops';
import { chiSquarePValue, poolSmallCells } from '../unit/stats';

/** Cells "x1,x2" of the support and their exact probabilities. */
export interface FirstTwo {
  cells: string[];
  probs: number[];
}

/** Exact joint distribution of (x1, x2) after `prompt` under `sampling` (which must set topK), with the engine's KV cache format. */
export function exactFirstTwo(files: ModelFiles, prompt: Int32Array, sampling: SamplingOptions, kvDtype: KvDtype): FirstTwo {
  const ref = ReferenceModel.fromFiles(files, prompt.length + 2, prompt.length + 2, kvDtype);
  const vocab = files.config.vocabSize;
  const p1 = targetProbs(ref.forward(prompt).subarray((prompt.length - 1) * vocab), sampling);
  const out: FirstTwo = { cells: [], probs: [] };
  for (const x1 of topK(p1, sampling.topK)) {
    ref.truncate(prompt.length);
    const p2 = targetProbs(ref.forward(Int32Array.of(x1)), sampling);
    for (const x2 of topK(p2, sampling.topK)) {
      out.cells.push(`${x1},${x2}`);
      out.probs.push(p1[x1] * p2[x2]);
    }
  }
  return out;
}

/**
 * Generates with seeds 0..trials-1 and returns the chi-square p-value of the first two tokens
 * against `exact` (cells expected fewer than 5 times pooled); a pair outside the support fails
 * at once. `onStats` sees each generation's stats (e.g. to check that drafts were verified).
 */
export async function firstTwoPValue(
  engine: Engine,
  prompt: Int32Array,
  exact: FirstTwo,
  trials: number,
  opts: GenerateOptions,
  onStats?: (s: GenerationStats) => void,
): Promise<number> {
  const counts = new Map<string, number>(exact.cells.map((c) => [c, 0]));
  for (let seed = 0; seed < trials; seed++) {
    const { tokens, stats } = await engine.generateText(prompt, { ...opts, seed });
    onStats?.(stats);
    const key = tokens.slice(0, 2).join(',');
    expect(counts.has(key), `sampled pair ${key} outside the top-k support`).toBe(true);
    counts.set(key, counts.get(key)! + 1);
  }
  const pooled = poolSmallCells(exact.cells.map((c) => counts.get(c)!), exact.probs.map((p) => p * trials));
  return chiSquarePValue(pooled.observed, pooled.expected);
}
