/**
 * The distribution plain sampling draws from, and drawing from it. Speculative verification
 * (DESIGN section 5) compares drafts against exactly this distribution, so sampled speculative
 * output has the same law as plain sampling. The processing order and rules are those of
 * Hugging Face transformers' generate(): RepetitionPenaltyLogitsProcessor, then
 * TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper.
 */
import { OptionsError } from '../errors.ts';
import { argmax } from '../model/cpu-ops.ts';
import type { Rng } from './rng.ts';

export interface SamplingOptions {
  /** 0 = greedy (argmax, ties to the lowest id); otherwise logits are divided by it. */
  temperature: number;
  /** Keep the k most likely tokens (ties at the k-th value kept, as transformers does); 0 = off. */
  topK: number;
  /** Keep the smallest most-likely set with probability mass >= topP; 1 = off. */
  topP: number;
  /** CTRL penalty on tokens already in the history (prompt and output); 1 = off. */
  repetitionPenalty: number;
}

/** Greedy decoding with every filter off. */
export const defaultSampling: SamplingOptions = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1 };

/** Throws OptionsError naming the first out-of-range option. */
export function validateSampling(o: SamplingOptions): void {
  const bad = (field: string, v: unknown, expected: string) => new OptionsError(`sampling option ${field} is ${String(v)}, expected ${expected}`);
  if (!Number.isFinite(o.temperature) || o.temperature < 0) throw bad('temperature', o.temperature, 'a finite number >= 0 (0 = greedy)');
  if (!Number.isInteger(o.topK) || o.topK < 0) throw bad('topK', o.topK, 'an integer >= 0 (0 = off)');
  if (!(o.topP > 0 && o.topP <= 1)) throw bad('topP', o.topP, 'a number in (0, 1] (1 = off)');
  if (!Number.isFinite(o.repetitionPenalty) || o.repetitionPenalty <= 0) throw bad('repetitionPenalty', o.repetitionPenalty, 'a finite number > 0 (1 = off)');
}

/** Argmax with ties to the lowest id: the one greedy rule of plain and speculative decoding. */
export function greedyToken(logits: Float32Array): number {
  return argmax(logits);
}

/**
 * CTRL repetition penalty (Keskar et al. 2019, as transformers applies it): a logit of a token
 * that occurred in the history is divided by the penalty when positive, multiplied when negative.
 * Each distinct token is penalised once. Returns a new (vocab) array.
 */
function penalize(logits: Float32Array, penalty: number, history: Int32Array | undefined): Float64Array {
  const out = Float64Array.from(logits); // (vocab)
  if (penalty === 1 || !history) return out;
  const seen = new Uint8Array(logits.length); // (vocab)
  for (const t of history) {
    if (t < 0 || t >= logits.length || seen[t]) continue;
    seen[t] = 1;
    out[t] = out[t] < 0 ? out[t] * penalty : out[t] / penalty;
  }
  return out;
}

/** Sets every logit below the k-th largest to -Infinity (ties with the k-th value survive). */
function applyTopK(l: Float64Array, k: number): void {
  if (k <= 0 || k >= l.length) return;
  const kth = Float64Array.from(l).sort().reverse()[k - 1];
  for (let i = 0; i < l.length; i++) if (l[i] < kth) l[i] = -Infinity;
}

/** Softmax in f64 (entries at -Infinity become exact zeros). */
function softmax64(l: Float64Array): Float64Array {
  let max = -Infinity;
  for (const v of l) if (v > max) max = v;
  const p = new Float64Array(l.length); // (vocab)
  let sum = 0;
  for (let i = 0; i < l.length; i++) {
    p[i] = l[i] === -Infinity ? 0 : Math.exp(l[i] - max);
    sum += p[i];
  }
  for (let i = 0; i < p.length; i++) p[i] /= sum;
  return p;
}

/**
 * Nucleus filter (Holtzman et al. 2019): tokens by probability descending (ties by lower id);
 * a token stays while the mass before it is below topP, so at least one token always stays.
 * transformers' TopPLogitsWarper removes ascending-sorted tokens with cumulative mass
 * <= 1 - topP, which is the same set up to ties and rounding.
 */
function applyTopP(p: Float64Array, topP: number): void {
  if (topP >= 1) return;
  const order = Array.from({ length: p.length }, (_, i) => i).filter((i) => p[i] > 0);
  order.sort((a, b) => p[b] - p[a] || a - b);
  let before = 0;
  let kept = 0;
  for (const i of order) {
    if (before >= topP) p[i] = 0;
    else kept += p[i];
    before += p[i];
  }
  for (let i = 0; i < p.length; i++) p[i] /= kept;
}

/**
 * The distribution (vocab) that plain sampling draws the next token from, with exact zeros
 * outside the kept set. Temperature 0 gives the one-hot of the (penalised) argmax.
 * `history` is the token sequence so far, for the repetition penalty.
 */
export function targetProbs(logits: Float32Array, opts: SamplingOptions, history?: Int32Array): Float32Array {
  validateSampling(opts);
  const l = penalize(logits, opts.repetitionPenalty, history); // (vocab)
  if (opts.temperature === 0) {
    const out = new Float32Array(logits.length);
    out[argmax(l)] = 1;
    return out;
  }
  for (let i = 0; i < l.length; i++) l[i] /= opts.temperature;
  applyTopK(l, opts.topK);
  const p = softmax64(l);
  applyTopP(p, opts.topP);
  return Float32Array.from(p);
}

/**
 * Inverse-CDF draw from (unnormalised) probabilities with exactly one rng.next(), so a seed
 * fixes every draw of a request. A zero entry is never returned.
 */
export function sampleFrom(probs: Float32Array, rng: Rng): number {
  let total = 0;
  let last = -1;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] > 0) { total += probs[i]; last = i; }
  }
  if (last < 0) throw new OptionsError('sampleFrom: every probability is zero (or NaN)');
  const u = rng.next() * total;
  let cum = 0;
  for (let i = 0; i < probs.length; i++) {
    if (!(probs[i] > 0)) continue;
    cum += probs[i];
    if (u < cum) return i;
  }
  // u < total always, but summation rounding may leave it just above the final cumulative value.
  return last;
}
