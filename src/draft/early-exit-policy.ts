/**
 * DEL's choice of exit layer and draft length (Zarch et al. 2025, "DEL: Context-Aware Dynamic
 * Exit Layer for Efficient Self-Speculative Decoding"): per candidate exit layer, a recency-
 * weighted acceptance rate measured on the verify passes; per step, the (layer, length) pair
 * that maximises expected tokens per unit time, DEL's "token-per-layer" criterion with the
 * costs measured in milliseconds instead of counted in layers.
 *
 * Model. With per-token acceptance alpha (the probability that the exit layer's token equals
 * the target's at a row whose context is right), a chain of k drafts yields in expectation
 * (1 - alpha^(k+1)) / (1 - alpha) tokens including the bonus (Leviathan et al. 2023, eq. 1).
 * Its cost is k * draft(L) + verify(k + 1) + probe, where draft(L) is the time of one exit
 * pass of L layers (its readback included), verify(rows) the target pass over the root and k
 * drafts, and probe the acceptance estimation amortised over `probePeriod` steps. verify(rows) = v0 + v1 * rows is fitted online
 * by recency-weighted least squares: on a GPU v1 is near 0, on a software rasteriser (CPU)
 * every row costs about as much as the first.
 * k = 0 is plain decoding; it wins when no layer agrees often enough.
 *
 * Costs not yet measured are extrapolated by layer count: a pass of L layers costs in
 * proportion to L + H, H = the LM head's multiply-adds in units of one layer's (with a 32k
 * vocabulary and a 256-wide model the head alone costs about ten layers).
 */
import { OptionsError } from '../errors';

export interface ExitPolicyOptions {
  /** Longest chain drafted (default 8). */
  maxDraft?: number;
  /** Weight kept by the old estimate per new acceptance sample (default 0.95: about the last 20 rows). */
  decay?: number;
  /** Weight of a new time sample in the EMAs of costs (default 0.2). */
  alpha?: number;
}

export interface ExitChoice {
  /** Exit layer L: the draft runs layers 0..L-1 (1..numLayers-1). */
  layer: number;
  /** Chain length; 0 = plain decoding this step. */
  length: number;
  /** Expected tokens per ms of the choice (for the stats and tests). */
  rate: number;
}

export class ExitPolicy {
  readonly maxDraft: number;
  private readonly decay: number;
  private readonly alpha: number;
  /** (candidates) recency-weighted agreeing rows and all rows, per candidate layer. */
  private readonly agree: Float64Array;
  private readonly seen: Float64Array;
  /** (candidates) EMA of ms per draft token, NaN until measured. */
  private readonly draftMs: Float64Array;
  /** Recency-weighted sums of the verify samples (rows x, ms y): weight, x, y, x^2, xy. */
  private readonly fit = new Float64Array(5);
  private probeMs = 0;

  /**
   * @param candidates exit layers to choose among (1..numLayers-1), ascending
   * @param headLayers the LM head's cost in layers (H above)
   */
  constructor(
    readonly numLayers: number,
    readonly candidates: number[],
    private readonly headLayers: number,
    options: ExitPolicyOptions = {},
  ) {
    if (candidates.length < 1 || candidates.some((l, i) => !Number.isInteger(l) || l < 1 || l >= numLayers || (i > 0 && l <= candidates[i - 1]))) {
      throw new OptionsError(`early-exit candidates ${JSON.stringify(candidates)} must be ascending integers in 1..${numLayers - 1}`);
    }
    this.maxDraft = options.maxDraft ?? 8;
    this.decay = options.decay ?? 0.95;
    this.alpha = options.alpha ?? 0.2;
    if (!Number.isInteger(this.maxDraft) || this.maxDraft < 1) throw new OptionsError(`early-exit maxDraft must be an integer >= 1, got ${this.maxDraft}`);
    if (!(this.decay > 0 && this.decay < 1)) throw new OptionsError(`early-exit decay must be in (0, 1), got ${this.decay}`);
    this.agree = new Float64Array(candidates.length);
    this.seen = new Float64Array(candidates.length);
    this.draftMs = new Float64Array(candidates.length).fill(NaN);
  }

  /**
   * Acceptance estimate of a layer: agreeing rows over rows, recency-weighted, with a prior
   * worth one row of L / numLayers (deeper exits agree more before any evidence).
   */
  acceptance(layer: number): number {
    const i = this.index(layer);
    return (this.agree[i] + layer / this.numLayers) / (this.seen[i] + 1);
  }

  /** One verified row at which the exit layer's argmax did (or did not) equal the target's. */
  recordRow(layer: number, agreed: boolean): void {
    const i = this.index(layer);
    this.agree[i] = this.agree[i] * this.decay + (agreed ? 1 : 0);
    this.seen[i] = this.seen[i] * this.decay + 1;
  }

  recordDraftMs(layer: number, msPerToken: number): void {
    const i = this.index(layer);
    this.draftMs[i] = Number.isNaN(this.draftMs[i]) ? msPerToken : this.draftMs[i] + this.alpha * (msPerToken - this.draftMs[i]);
  }

  /** One verify step over `rows` rows (root + drafts) took `ms`. */
  recordVerifyMs(ms: number, rows: number): void {
    const f = this.fit;
    const keep = 1 - this.alpha;
    for (let i = 0; i < 5; i++) f[i] *= keep;
    f[0] += 1;
    f[1] += rows;
    f[2] += ms;
    f[3] += rows * rows;
    f[4] += rows * ms;
  }

  /** Expected ms of a verify pass of `rows` rows: the fitted line (slope >= 0), the mean when rows never varied, 1 before any sample. */
  verifyCost(rows: number): number {
    const [w, x, y, xx, xy] = this.fit;
    if (w === 0) return 1;
    const mx = x / w;
    const my = y / w;
    const varX = xx / w - mx * mx;
    const slope = varX > 1e-6 ? Math.max(0, (xy / w - mx * my) / varX) : 0;
    return Math.max(1e-3, my + slope * (rows - mx));
  }

  recordProbeMs(ms: number): void {
    this.probeMs += this.alpha * (ms - this.probeMs);
  }

  /**
   * Steps between two probes: 1 while a probe costs under `probeShare` of a one-row verify
   * pass (a GPU: the probe's LM head over a few rows is nearly free), else as many as keep the
   * probes' share of the time there (a CPU rasteriser, where the head alone costs ten layers).
   */
  probePeriod(probeShare = 0.1): number {
    return Math.max(1, Math.ceil(this.probeMs / (probeShare * this.verifyCost(1))));
  }

  /** ms of one draft token at `layer`: measured, else extrapolated from a measured layer or the verify pass. */
  draftCost(layer: number): number {
    const i = this.index(layer);
    if (!Number.isNaN(this.draftMs[i])) return this.draftMs[i];
    const H = this.headLayers;
    const j = this.candidates.findIndex((_, c) => !Number.isNaN(this.draftMs[c]));
    if (j >= 0) return (this.draftMs[j] * (layer + H)) / (this.candidates[j] + H);
    return (this.verifyCost(1) * (layer + H)) / (this.numLayers + H);
  }

  /** The (layer, length <= budget) of highest expected tokens per ms; length 0 if plain decoding is best. */
  choose(budget: number): ExitChoice {
    const probe = this.probeMs / this.probePeriod();
    let best: ExitChoice = { layer: this.candidates[this.candidates.length - 1], length: 0, rate: 1 / (this.verifyCost(1) + probe) };
    const kMax = Math.min(budget, this.maxDraft);
    for (const layer of this.candidates) {
      const a = Math.min(this.acceptance(layer), 1 - 1e-9);
      const c = this.draftCost(layer);
      for (let k = 1; k <= kMax; k++) {
        const rate = expectedTokens(a, k) / (k * c + this.verifyCost(k + 1) + probe);
        if (rate > best.rate) best = { layer, length: k, rate };
      }
    }
    return best;
  }

  reset(): void {
    this.agree.fill(0);
    this.seen.fill(0);
    this.draftMs.fill(NaN);
    this.fit.fill(0);
    this.probeMs = 0;
  }

  private index(layer: number): number {
    const i = this.candidates.indexOf(layer);
    if (i < 0) throw new OptionsError(`early-exit layer ${layer} is not a candidate (${this.candidates.join(', ')})`);
    return i;
  }
}

/** Expected tokens of a step drafting a chain of k with per-token acceptance a (bonus included). */
export function expectedTokens(a: number, k: number): number {
  return a >= 1 ? k + 1 : (1 - a ** (k + 1)) / (1 - a);
}

/**
 * The LM head's multiply-adds per row over one decoder layer's (H above). A layer: q, k, v, o
 * projections and the three MLP matrices; attention itself is ignored (short contexts).
 */
export function headCostInLayers(c: { hiddenSize: number; vocabSize: number; intermediateSize: number; numHeads: number; numKvHeads: number; headDim: number }): number {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const layer = c.hiddenSize * (2 * q + 2 * kv) + 3 * c.hiddenSize * c.intermediateSize;
  return (c.vocabSize * c.hiddenSize) / layer;
}

/** Candidate exit layers: every layer 1..n-1, or at most `max` of them evenly spaced. */
export function candidateLayers(numLayers: number, max = 8): number[] {
  const all = Array.from({ length: numLayers - 1 }, (_, i) => i + 1);
  if (all.length <= max) return all;
  return [...new Set(Array.from({ length: max }, (_, i) => all[Math.round((i * (all.length - 1)) / (max - 1))]))];
}
