import { ModelError, TreespecError } from '../errors';
import type { Rng } from './rng';

/** What one verify step keeps (DESIGN section 3, step 3). */
export interface AcceptResult {
  /** (k) accepted node indices, root excluded, in path order (depth 1 first). */
  nodes: Int32Array;
  /** The token the target emits after the accepted path; the step commits k + 1 tokens. */
  bonus: number;
}

/**
 * Throws ModelError unless the walk's bonus is a token: rows of NaN logits have no argmax (and no
 * distribution), so the walk returns no token, never a guess. `position` is the bonus row's.
 */
export function checkBonus(bonus: number, vocab: number, position: number): void {
  if (!(bonus >= 0 && bonus < vocab)) {
    throw new ModelError(`the target's logits at position ${position} are not finite (NaN or infinity): the weights overflow f32 on this input; no token was produced`);
  }
}

/**
 * Draws an index from a distribution held in `probs` (unnormalised, entries >= 0, positive
 * sum) by inverse CDF with exactly ONE rng.next() call. An index with probability 0 is never
 * returned: the walk stops only on an entry with u*total < cumulative, which a zero entry
 * cannot newly satisfy, and float round-off past the end falls back to the last positive entry.
 */
export function drawIndex(probs: Float64Array, total: number, rng: Rng): number {
  const target = rng.next() * total;
  let cum = 0;
  let last = -1;
  for (let i = 0; i < probs.length; i++) {
    const v = probs[i];
    if (v <= 0) continue;
    cum += v;
    last = i;
    if (target < cum) return i;
  }
  return last;
}

/** Sum of a distribution's entries (float64 accumulation). */
export function sum(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  return s;
}

/** A target distribution handed to verification is not a distribution (wrong length, NaN, negative, zero sum). */
export class VerifyError extends TreespecError {
  override name = 'VerifyError';
}
