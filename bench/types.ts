/** Plain data exchanged by the benchmark's runners (browser page, Node), summary and report. */
import type { GenerationStats } from '../src/engine/stats';
import type { WeightDtype } from '../src/engine/options';

/** A weight format on the GPU (treespec's weightDtype; peers run their closest precision). */
export type BenchWeights = WeightDtype;

/** One line of the prompt suite (public/bench/prompts.jsonl). */
export interface BenchPrompt {
  id: string;
  /** stories | code | document | multiturn (any string; the report groups by it). */
  category: string;
  prompt: string;
  /** Documents for retrieval drafters; also pasted into the prompt by the suite's author. */
  documents?: string[];
  /** Where the text was copied from (held-out corpus part). */
  source?: string;
}

/** What a runner is asked to do. */
export interface SuiteConfig {
  /** Strategies to compare, `ar` first; empty = every strategy the engine offers except the test drafters (self, random). */
  strategies: string[];
  maxTokens: number;
  /** Measured repetitions of every (prompt, strategy) pair, after one warm-up round. */
  repeats: number;
  /** Draft tree budget (nodes); undefined = the engine's default. */
  treeBudget?: number;
  /**
   * Weight formats, one treespec engine each in the same run (interleaved like strategies);
   * the first is the reference of every speedup. Empty = the engine's default.
   */
  weights: BenchWeights[];
  maxContext?: number;
  /** Forget drafter state before every generation, so each run is independent of the order. */
  resetDrafters: boolean;
  /** Draft model folder or URL of the `draft` strategy (as given on the command line). */
  draftModel?: string;
}

/**
 * The subset of GenerationStats the benchmark keeps per run. finishReason is any string: peers
 * report reasons of their own ("unknown", "content_filter"), and failed runs "error".
 */
export type RunStats = Pick<
  GenerationStats,
  'promptTokens' | 'generatedTokens' | 'prefillMs' | 'decodeMs' | 'tokensPerSecond' | 'targetForwards' | 'tau' | 'draftMsPerToken' | 'verifyMsPerToken' | 'otherMsPerToken'
> & {
  finishReason: string;
  /** treespec's decode-loop GPU work (stats.gpu); absent for peers and in older results. */
  gpu?: GenerationStats['gpu'];
};

/** One generation: a (prompt, strategy, repeat) cell; repeat -1 is the warm-up. */
export interface RunRecord {
  engine: string;
  strategy: string;
  promptId: string;
  category: string;
  repeat: number;
  /** Weights of the engine that ran it (a peer: the format its precision matches); absent in older results. */
  weights?: BenchWeights;
  tokens: number[];
  text: string;
  stats: RunStats;
  /** Bytes of GPU buffers alive when the run ended. */
  gpuBytesLive?: number;
  error?: string;
}

/** GPU buffer bytes the engine allocated, counted by wrapping device.createBuffer. */
export interface GpuMemory {
  /** After Engine.load of every weight format (weights, KV cache, scratch; the draft models included). */
  afterLoadBytes: number;
  /** The draft model of the first weight format alone (weights and its cache), when one was loaded. */
  draftModelBytes?: number;
  /** Extra bytes each strategy's drafter allocated when first used ("strategy weights" keys with several weights). */
  byStrategyBytes: Record<string, number>;
  /** Largest total alive at any time. */
  peakBytes: number;
}

/** What a runner returns. */
export interface RunnerResult {
  runtime: 'browser' | 'node';
  /** Adapter description, user agent / Node version. */
  environment: Record<string, string>;
  model: { source: string; config: Record<string, unknown> };
  config: SuiteConfig;
  loadMs: number;
  gpuMemory: GpuMemory;
  runs: RunRecord[];
  /** Strategies the engine offers (strategyNames()). */
  available: string[];
  /** Fatal errors outside single runs. */
  errors: string[];
}
