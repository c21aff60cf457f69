/** Per-step and per-generation statistics (DESIGN section 7). */
import { zeroCounts, type GpuCounts } from '../gpu/counter';

export type FinishReason = 'length' | 'eos' | 'stop' | 'aborted' | 'context';

export interface StepRecord {
  /** Draft nodes verified in this step (0 for plain decoding). */
  treeSize: number;
  /** Draft tokens accepted (the bonus token is not counted). */
  accepted: number;
  /** Strategy that drafted this step. */
  strategy: string;
  /** With `profile`: GPU ms of this step's target passes per kernel (summed over layers), e.g. { q: 1.2, attention: 0.8 }. */
  kernelMs?: Record<string, number>;
}

/** A profiled generation's kernel times (GenerateOptions.profile). */
export interface ProfileStats {
  /** 'gpu-timestamps': timestamp queries around each kernel; 'cpu-submit': each kernel submitted alone and timed from the CPU. */
  timing: 'gpu-timestamps' | 'cpu-submit';
  /** GPU ms per kernel over the whole decode (summed over layers and steps), largest first. */
  kernelMs: Record<string, number>;
  /** Kernel ms per generated token. */
  msPerToken: number;
}

/**
 * The GPU work of the decode loop (prefill excluded; the drafters' own prefill in begin() too),
 * counted as it was encoded (src/gpu/counter.ts): exact on any adapter (DESIGN section 8).
 * The first four are totals over the target and the drafters; the draft* fields are the
 * drafters' share of them (their draft models, or the target's layers run for drafting).
 */
export interface GpuStats extends GpuCounts {
  draftDispatches: number;
  draftSubmits: number;
  draftReadbacks: number;
  draftBytesRead: number;
}

export interface GenerationStats {
  strategy: string;
  promptTokens: number;
  generatedTokens: number;
  prefillMs: number;
  /** Wall time from the first step to the end. */
  decodeMs: number;
  /** generatedTokens / decodeMs. */
  tokensPerSecond: number;
  /** Target forward passes in the decode loop (one per step). */
  targetForwards: number;
  /** Tokens per target forward: the mean accepted length + 1 bonus. */
  tau: number;
  /** Time spent drafting, verifying (target pass + readback + acceptance) and elsewhere, per generated token. */
  draftMsPerToken: number;
  verifyMsPerToken: number;
  otherMsPerToken: number;
  /** Acceptance rate per depth: accepted at depth d / steps that drafted depth d (index 0 = depth 1). */
  acceptanceByDepth: number[];
  finishReason: FinishReason;
  steps: StepRecord[];
  /** Dispatches, submits, readbacks and bytes read back by the decode loop. */
  gpu: GpuStats;
  /** Passes that were in flight at most (EngineOptions.stepsAhead where plain greedy decoding encoded ahead, else 1). */
  stepsAhead: number;
  /** Present when the generation was profiled. */
  profile?: ProfileStats;
}

/** Accumulates timings and acceptance during one generation. */
export class StatsCollector {
  readonly steps: StepRecord[] = [];
  draftMs = 0;
  verifyMs = 0;
  prefillMs = 0;
  /** See GenerationStats.stepsAhead. */
  stepsAhead = 1;
  private decodeStart = 0;
  private readonly drafted: number[] = [];
  private readonly acceptedAt: number[] = [];
  /** The decode loop's GPU work: the target's and the drafters'. */
  private gpuTarget = zeroCounts();
  private gpuDraft = zeroCounts();
  /** Set by profiled(): the generation's kernel times are summed into `profile`. */
  private timing: ProfileStats['timing'] | null = null;

  constructor(
    private readonly strategy: string,
    private readonly promptTokens: number,
  ) {}

  startDecode(): void {
    this.decodeStart = performance.now();
  }

  /** maxDepth = deepest node of the tree; accepted = accepted path length. */
  recordStep(treeSize: number, maxDepth: number, accepted: number, strategy: string, kernelMs?: Record<string, number>): void {
    this.steps.push(kernelMs ? { treeSize, accepted, strategy, kernelMs } : { treeSize, accepted, strategy });
    for (let d = 0; d < maxDepth; d++) {
      this.drafted[d] = (this.drafted[d] ?? 0) + 1;
      if (d < accepted) this.acceptedAt[d] = (this.acceptedAt[d] ?? 0) + 1;
    }
  }

  finish(generatedTokens: number, finishReason: FinishReason): GenerationStats {
    const decodeMs = this.decodeStart ? performance.now() - this.decodeStart : 0;
    const per = (ms: number) => (generatedTokens > 0 ? ms / generatedTokens : 0);
    const forwards = this.steps.length;
    return {
      strategy: this.strategy,
      promptTokens: this.promptTokens,
      generatedTokens,
      prefillMs: this.prefillMs,
      decodeMs,
      tokensPerSecond: decodeMs > 0 ? (generatedTokens * 1000) / decodeMs : 0,
      targetForwards: forwards,
      tau: forwards > 0 ? this.steps.reduce((s, r) => s + r.accepted + 1, 0) / forwards : 0,
      draftMsPerToken: per(this.draftMs),
      verifyMsPerToken: per(this.verifyMs),
      otherMsPerToken: per(Math.max(0, decodeMs - this.draftMs - this.verifyMs)),
      acceptanceByDepth: this.drafted.map((n, d) => (this.acceptedAt[d] ?? 0) / n),
      finishReason,
      steps: this.steps,
      gpu: this.gpuTotals(),
      stepsAhead: this.stepsAhead,
      ...(this.timing ? { profile: this.profileTotals(generatedTokens) } : {}),
    };
  }

  /** The GPU work counted over the decode loop: the target's, and the drafters' (each counted once). */
  gpuWork(target: GpuCounts, draft: GpuCounts): void {
    this.gpuTarget = target;
    this.gpuDraft = draft;
  }

  private gpuTotals(): GpuStats {
    const t = this.gpuTarget;
    const d = this.gpuDraft;
    return {
      dispatches: t.dispatches + d.dispatches,
      submits: t.submits + d.submits,
      readbacks: t.readbacks + d.readbacks,
      bytesRead: t.bytesRead + d.bytesRead,
      draftDispatches: d.dispatches,
      draftSubmits: d.submits,
      draftReadbacks: d.readbacks,
      draftBytesRead: d.bytesRead,
    };
  }

  /** Marks the generation as profiled with this timing source. */
  profiled(timing: ProfileStats['timing']): void {
    this.timing = timing;
  }

  private profileTotals(generatedTokens: number): ProfileStats {
    const totals = new Map<string, number>();
    for (const s of this.steps) for (const [k, ms] of Object.entries(s.kernelMs ?? {})) totals.set(k, (totals.get(k) ?? 0) + ms);
    const sorted = [...totals].sort((a, b) => b[1] - a[1]);
    const all = sorted.reduce((t, [, ms]) => t + ms, 0);
    return { timing: this.timing!, kernelMs: Object.fromEntries(sorted), msPerToken: generatedTokens > 0 ? all / generatedTokens : 0 };
  }
}

/** Spans ("layer3.q", ms) summed by kernel ("q"): the per-step breakdown of a profile. */
export function kernelTotals(spans: { label: string; ms: number }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { label, ms } of spans) {
    const kernel = label.replace(/^layer\d+\./, '');
    out[kernel] = (out[kernel] ?? 0) + ms;
  }
  return out;
}
