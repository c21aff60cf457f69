/**
 * From raw runs to the numbers of the report (DESIGN section 7): per (engine, strategy,
 * prompt) the median over repeats; per category the aggregate of those medians; speedup
 * over plain decoding (`ar`) of the same engine in the same run; and the equality check of
 * every strategy's greedy tokens against `ar`'s. With several weight formats every engine is
 * named with its weights ("treespec q8", "transformers.js q8"): speedups are against treespec
 * `ar` at the first listed weights, equality against `ar` at the same weights, and agreement with
 * `ar` at f16 (or the first weights) is reported per output, not failed.
 */
import type { RunRecord, RunnerResult } from './types';

export interface CellSummary {
  engine: string;
  strategy: string;
  promptId: string;
  category: string;
  /** Measured repeats (warm-up excluded, failed runs excluded). */
  n: number;
  generatedTokens: number;
  decodeMs: number;
  tokensPerSecond: number;
  tau: number;
  targetForwards: number;
  draftMsPerToken: number;
  verifyMsPerToken: number;
  otherMsPerToken: number;
  prefillMs: number;
  /** GPU work per generated token (stats.gpu; NaN for peers): dispatches, the drafters' share of them, readbacks, submits. */
  dispatchesPerToken: number;
  draftDispatchesPerToken: number;
  readbacksPerToken: number;
  submitsPerToken: number;
}

export interface GroupSummary {
  engine: string;
  strategy: string;
  /** A category, or "mean" (unweighted mean over categories). */
  category: string;
  prompts: number;
  tokensPerSecond: number;
  tau: number;
  /** tokensPerSecond / treespec `ar` tokensPerSecond in the same category and run. */
  speedup: number;
  draftMsPerToken: number;
  verifyMsPerToken: number;
  otherMsPerToken: number;
  dispatchesPerToken: number;
  draftDispatchesPerToken: number;
  readbacksPerToken: number;
  submitsPerToken: number;
}

export interface Mismatch {
  engine: string;
  strategy: string;
  promptId: string;
  repeat: number;
  /** First token index where the outputs differ (or where one ends). */
  at: number;
  expected: string;
  got: string;
}

export interface Summary {
  cells: CellSummary[];
  groups: GroupSummary[];
  /** Strategies whose greedy output differs from `ar`'s: failures. */
  mismatches: Mismatch[];
  /** Runs that threw. */
  failedRuns: { engine: string; strategy: string; promptId: string; repeat: number; error: string }[];
  /**
   * Peer engines: how much of their output matches treespec's `ar` output: the common text
   * prefix, and for peers that return token ids (fed treespec's prompt ids) the first index
   * where the ids differ (-1: identical; null: the peer returns no ids).
   */
  peerAgreement: { engine: string; promptId: string; matchingChars: number; ourChars: number; firstTokenDiff: number | null; ourTokens: number }[];
  /** The weights of the treespec `ar` that weightAgreement compares with (f16 when listed, else the first). */
  agreementWeights?: string;
  /**
   * With several weight formats: every first measured output (treespec strategies and peers, any
   * weights) against treespec `ar` at agreementWeights, same prompt and runtime (-1: identical).
   */
  weightAgreement: { engine: string; strategy: string; promptId: string; firstTokenDiff: number | null; ourTokens: number }[];
  categories: string[];
  strategies: { engine: string; strategy: string }[];
}

export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function summarizeCell(runs: RunRecord[]): CellSummary {
  const ok = runs.filter((r) => !r.error && r.repeat >= 0);
  const med = (f: (r: RunRecord) => number) => median(ok.map(f));
  const r0 = runs[0];
  return {
    engine: r0.engine,
    strategy: r0.strategy,
    promptId: r0.promptId,
    category: r0.category,
    n: ok.length,
    generatedTokens: med((r) => r.stats.generatedTokens),
    decodeMs: med((r) => r.stats.decodeMs),
    tokensPerSecond: med((r) => r.stats.tokensPerSecond),
    tau: med((r) => r.stats.tau),
    targetForwards: med((r) => r.stats.targetForwards),
    draftMsPerToken: med((r) => r.stats.draftMsPerToken),
    verifyMsPerToken: med((r) => r.stats.verifyMsPerToken),
    otherMsPerToken: med((r) => r.stats.otherMsPerToken),
    prefillMs: med((r) => r.stats.prefillMs),
    dispatchesPerToken: med((r) => perToken(r, (g) => g.dispatches)),
    draftDispatchesPerToken: med((r) => perToken(r, (g) => g.draftDispatches)),
    readbacksPerToken: med((r) => perToken(r, (g) => g.readbacks)),
    submitsPerToken: med((r) => perToken(r, (g) => g.submits)),
  };
}

/** A run's GPU count per generated token (NaN without stats.gpu). */
function perToken(r: RunRecord, f: (g: NonNullable<RunRecord['stats']['gpu']>) => number): number {
  const g = r.stats.gpu;
  return g && r.stats.generatedTokens > 0 ? f(g) / r.stats.generatedTokens : NaN;
}

/**
 * A group's throughput is its total tokens over its total decode time (of the per-prompt
 * medians), so long and short prompts weigh by their tokens; tau likewise is tokens over
 * target forwards; cost splits are weighted by tokens.
 */
function aggregate(cells: CellSummary[]): Omit<GroupSummary, 'engine' | 'strategy' | 'category' | 'speedup'> {
  const ok = cells.filter((c) => c.n > 0 && Number.isFinite(c.decodeMs));
  const tokens = ok.reduce((s, c) => s + c.generatedTokens, 0);
  const ms = ok.reduce((s, c) => s + c.decodeMs, 0);
  const fw = ok.reduce((s, c) => s + c.targetForwards, 0);
  const w = (f: (c: CellSummary) => number) => (tokens > 0 ? ok.reduce((s, c) => s + f(c) * c.generatedTokens, 0) / tokens : NaN);
  return {
    prompts: ok.length,
    tokensPerSecond: ms > 0 ? (tokens * 1000) / ms : NaN,
    tau: fw > 0 ? ok.reduce((s, c) => s + c.tau * c.targetForwards, 0) / fw : NaN,
    draftMsPerToken: w((c) => c.draftMsPerToken),
    verifyMsPerToken: w((c) => c.verifyMsPerToken),
    otherMsPerToken: w((c) => c.otherMsPerToken),
    dispatchesPerToken: w((c) => c.dispatchesPerToken),
    draftDispatchesPerToken: w((c) => c.draftDispatchesPerToken),
    readbacksPerToken: w((c) => c.readbacksPerToken),
    submitsPerToken: w((c) => c.submitsPerToken),
  };
}

function firstDiff(a: number[], b: number[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

const key = (...parts: string[]) => parts.join('\u0000');

/** "treespec", or "treespec q8", "treespec (node)", "treespec q8 (node)" with several weights or runtimes. */
export function isTreespec(engine: string): boolean {
  return engine === 'treespec' || engine.startsWith('treespec ');
}

/** A run with the runtime it ran in (engine renamed as the summary names it). */
type Run = RunRecord & { runtime: string };

export function summarize(results: RunnerResult[]): Summary {
  // With several runtimes in one report, every engine is named with its runtime, so browser
  // and Node numbers are never pooled and each runtime's strategies are checked against its own ar;
  // likewise with its weights when the run had several.
  const several = new Set(results.map((r) => r.runtime)).size > 1;
  const firstWeights = results[0]?.config.weights?.[0];
  const severalWeights = results.some((r) => (r.config.weights?.length ?? 0) > 1);
  const agreementWeights = severalWeights ? (results.some((r) => r.config.weights?.includes('f16')) ? 'f16' : firstWeights) : undefined;
  const nameOf = (engine: string, weights: string | undefined, runtime: string) =>
    `${engine}${severalWeights && weights ? ` ${weights}` : ''}${several ? ` (${runtime})` : ''}`;
  const runs: Run[] = results.flatMap((res) => res.runs.map((r) => ({ ...r, engine: nameOf(r.engine, r.weights, res.runtime), runtime: res.runtime })));
  // engine name -> its treespec at the first weights (the speedup reference) in the same runtime
  const speedupBase = new Map(runs.map((r) => [r.engine, nameOf('treespec', firstWeights, r.runtime)]));
  const categories = [...new Set(runs.map((r) => r.category))];
  const strategies: Summary['strategies'] = [];
  for (const r of runs) if (!strategies.some((s) => s.engine === r.engine && s.strategy === r.strategy)) strategies.push({ engine: r.engine, strategy: r.strategy });

  const byCell = new Map<string, RunRecord[]>();
  for (const r of runs) {
    const k = key(r.engine, r.strategy, r.promptId);
    byCell.set(k, [...(byCell.get(k) ?? []), r]);
  }
  const cells = [...byCell.values()].map(summarizeCell);

  const groups: GroupSummary[] = [];
  for (const { engine, strategy } of strategies) {
    const mine = cells.filter((c) => c.engine === engine && c.strategy === strategy);
    const perCat = categories.map((category) => ({ engine, strategy, category, ...aggregate(mine.filter((c) => c.category === category)), speedup: NaN }));
    groups.push(...perCat);
  }
  // Speedup against treespec's plain decoding in the same category: for treespec strategies
  // the speculative gain, for peers how they compare with treespec without speculation.
  for (const g of groups) {
    const base = groups.find((b) => b.engine === speedupBase.get(g.engine) && b.strategy === 'ar' && b.category === g.category);
    g.speedup = base ? g.tokensPerSecond / base.tokensPerSecond : NaN;
  }
  for (const { engine, strategy } of strategies) {
    const mine = groups.filter((g) => g.engine === engine && g.strategy === strategy && g.category !== 'mean');
    const mean = (f: (g: GroupSummary) => number) => {
      const xs = mine.map(f).filter(Number.isFinite);
      return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
    };
    groups.push({
      engine, strategy, category: 'mean', prompts: mine.reduce((s, g) => s + g.prompts, 0),
      tokensPerSecond: mean((g) => g.tokensPerSecond), tau: mean((g) => g.tau), speedup: mean((g) => g.speedup),
      draftMsPerToken: mean((g) => g.draftMsPerToken), verifyMsPerToken: mean((g) => g.verifyMsPerToken), otherMsPerToken: mean((g) => g.otherMsPerToken),
      dispatchesPerToken: mean((g) => g.dispatchesPerToken), draftDispatchesPerToken: mean((g) => g.draftDispatchesPerToken),
      readbacksPerToken: mean((g) => g.readbacksPerToken), submitsPerToken: mean((g) => g.submitsPerToken),
    });
  }

  // Equality: every treespec measured run against treespec `ar`'s first measured run of the
  // same prompt (so `ar` disagreeing with itself across repeats is caught too); warm-up runs
  // (shorter) against `ar`'s warm-up run.
  const mismatches: Mismatch[] = [];
  const reference = new Map<string, RunRecord>();
  const refKey = (r: Run, weights = r.weights) => key(r.runtime, weights ?? '', r.promptId, r.repeat < 0 ? 'warm-up' : 'measured');
  for (const r of runs) {
    if (!isTreespec(r.engine) || r.strategy !== 'ar' || r.error) continue;
    const cur = reference.get(refKey(r));
    if (!cur || r.repeat < cur.repeat) reference.set(refKey(r), r);
  }
  for (const r of runs) {
    if (!isTreespec(r.engine) || r.error) continue;
    const ref = reference.get(refKey(r));
    if (!ref || ref === r) continue;
    const at = firstDiff(ref.tokens, r.tokens);
    if (at >= 0) {
      mismatches.push({
        engine: r.engine, strategy: r.strategy, promptId: r.promptId, repeat: r.repeat, at,
        expected: JSON.stringify(ref.tokens.slice(at, at + 8)), got: JSON.stringify(r.tokens.slice(at, at + 8)),
      });
    }
  }

  const failedRuns = runs.filter((r) => r.error).map((r) => ({ engine: r.engine, strategy: r.strategy, promptId: r.promptId, repeat: r.repeat, error: r.error! }));
  const peerAgreement: Summary['peerAgreement'] = [];
  for (const r of runs) {
    if (isTreespec(r.engine) || r.error || r.repeat !== 0) continue;
    const ref = reference.get(refKey(r));
    // Leading whitespace differs by detokenizer (SentencePiece's dummy prefix), not by model.
    const ours = ref?.text.trimStart();
    if (ref && ours !== undefined) {
      peerAgreement.push({
        engine: r.engine, promptId: r.promptId, matchingChars: commonPrefix(ours, r.text.trimStart()), ourChars: ours.length,
        firstTokenDiff: r.tokens.length ? firstDiff(ref.tokens, r.tokens) : null, ourTokens: ref.tokens.length,
      });
    }
  }
  const weightAgreement: Summary['weightAgreement'] = [];
  for (const r of runs) {
    if (!agreementWeights || r.error || r.repeat !== 0) continue;
    const ref = reference.get(refKey(r, agreementWeights));
    if (ref && ref !== r) {
      weightAgreement.push({
        engine: r.engine, strategy: r.strategy, promptId: r.promptId,
        firstTokenDiff: r.tokens.length || !ref.tokens.length ? firstDiff(ref.tokens, r.tokens) : null, ourTokens: ref.tokens.length,
      });
    }
  }
  return { cells, groups, mismatches, failedRuns, peerAgreement, agreementWeights, weightAgreement, categories, strategies };
}
