/** Per-step and per-generation statistics (DESIGN section 7). */

export type FinishReason = 'length' | 'eos' | 'stop' | 'aborted' | 'context';

export interface StepRecord {
  /** Draft nodes verified in this step (0 for plain decoding). */
  treeSize: number;
  /** Draft tokens accepted (the bonus token is not counted). */
  accepted: number;
  /** Strategy that drafted this step. */
  strategy: string;
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
}

/** Accumulates timings and acceptance during one generation. */
export class StatsCollector {
  readonly steps: StepRecord[] = [];
  draftMs = 0;
  verifyMs = 0;
  prefillMs = 0;
  private decodeStart = 0;
  private readonly drafted: number[] = [];
  private readonly acceptedAt: number[] = [];

  constructor(
    private readonly strategy: string,
    private readonly promptTokens: number,
  ) {}

  startDecode(): void {
    this.decodeStart = performance.now();
  }

  /** maxDepth = deepest node of the tree; accepted = accepted path length. */
  recordStep(treeSize: number, maxDepth: number, accepted: number, strategy: string): void {
    this.steps.push({ treeSize, accepted, strategy });
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
    };
  }
}
