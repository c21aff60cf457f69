/**
 * Engine and generation options with their defaults, in one place. Options are validated
 * once, when they enter the engine; bad values throw OptionsError naming the field.
 */
import { modelDefaults } from '../model/defaults';
import { OptionsError, show } from '../errors';
import { defaultKvDtype, isKvDtype, type KvDtype } from '../ops/kv-storage.ts';

export { OptionsError };

/** Matrix storage on the GPU: f32, f16, or int8 / int4 blocks (docs/quantization.md). */
export type WeightDtype = 'f32' | 'f16' | 'q8' | 'q4';

export function isWeightDtype(v: string): v is WeightDtype {
  return v === 'f32' || v === 'f16' || v === 'q8' || v === 'q4';
}

/** Options fixed when an engine is created. */
export interface EngineOptions {
  /** Largest context (prompt + generated tokens). Default: min(model max positions, 2048). */
  maxContext?: number;
  /**
   * How weights are stored on the GPU. Default 'f16' (half the memory traffic of f32). 'auto':
   * the most precise of f32, f16, q8, q4 whose memory estimate (src/model/memory.ts) fits the
   * adapter's buffer limits and `memoryBudget`.
   */
  weightDtype?: WeightDtype | 'auto';
  /**
   * How the KV cache stores K and V. Default: it follows the weights, 'f32' for f32 weights and
   * 'f16' for f16, q8 and q4 ones (defaultKvDtype). 'f16': half the cache's memory (two per u32
   * word, like f16 weights); every K and V is rounded to f16 when written, so greedy output
   * equals the CPU reference run with the same f16 cache (and every strategy equals 'ar' on
   * it), not necessarily the f32 cache's output: a near tie may flip.
   */
  kvDtype?: KvDtype;
  /**
   * GPU memory the model may take in all, in bytes (WebGPU has no query for it): Engine.load
   * refuses with ModelTooLargeError, before downloading weights, when the estimate of weights,
   * KV cache, activations and staging exceeds it. Default: unchecked (only the adapter's
   * per-buffer limits are).
   */
  memoryBudget?: number;
  /** Largest draft tree (nodes below the root); verify passes have up to this + 1 rows. Default 127. */
  maxTreeNodes?: number;
  /**
   * Steps in flight: the CPU encodes step t+1 before it has read step t back, the next step
   * reading what it needs of the last (its token; with a draft model or Hydra heads, its prefix
   * and root too, and the heads' drafted ids) on the GPU. Applies to plain decoding
   * (src/engine/ahead.ts), to `draft` steps grown on the GPU (src/draft/gpu-grow-ahead.ts), greedy
   * or sampled, and to greedy `hydra` steps (src/draft/hydra-ahead.ts), without repetition
   * penalty and unprofiled. 1 = each step read back before the next is encoded. An integer in
   * 1..MAX_STEPS_AHEAD. Greedy output is the same for every value, and plain sampled output for
   * a seed (a sampled draft step encoded ahead may draft another tree near the end, so a seed can
   * give other tokens, from the same distribution); a generation that ends on an end-of-sequence
   * token or a stop string has run up to stepsAhead - 1 steps more than needed (dropped).
   * Default: 1 on a software adapter (SwiftShader: the passes run on the CPU cores the encoding
   * needs, nothing to overlap), 2 on a GPU (hides the round trip and the encoding of the next
   * step behind a pass).
   */
  stepsAhead?: number;
  /** An existing device to run on (shared by several engines). Default: acquire one. */
  device?: GPUDevice;
}

/** Most steps in flight (EngineOptions.stepsAhead; the draft model's steps allow as many, MAX_AHEAD in src/draft/gpu-grow.ts). */
export const MAX_STEPS_AHEAD = 8;

/** EngineOptions.stepsAhead (CLI --steps-ahead) checked; undefined when the user names none. */
export function checkStepsAhead(value: unknown): number | undefined {
  if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_STEPS_AHEAD)) {
    throw new OptionsError(`engine option "stepsAhead" is ${given(value)}; expected an integer in [1, ${MAX_STEPS_AHEAD}]`);
  }
  return value;
}

/** EngineOptions.stepsAhead checked, or the adapter's default (see there). */
export function resolveStepsAhead(value: unknown, softwareAdapter: boolean): number {
  return checkStepsAhead(value) ?? (softwareAdapter ? 1 : 2);
}

export const engineDefaults = {
  ...modelDefaults,
  maxTreeNodes: 127,
  /** Retrieval documents per request, in characters: the suffix array needs ~20 bytes per token while it is built. */
  maxDocumentChars: 16 * 1024 * 1024,
};

/** How far indexing a request's documents has come: `done` of `total` characters (tokenize) or tokens (index). */
export interface DocumentsProgress {
  stage: 'tokenize' | 'index';
  done: number;
  total: number;
}

/** Options of one generate() call. */
export interface GenerateOptions {
  /** Tokens to generate at most. Default 128. */
  maxTokens?: number;
  /** 0 = greedy (default); > 0 samples from softmax(logits / temperature). */
  temperature?: number;
  /** Keep only the k most likely tokens when sampling; 0 = off (default). */
  topK?: number;
  /** Nucleus sampling mass; 1 = off (default). */
  topP?: number;
  /** CTRL repetition penalty over prompt and output; 1 = off (default). */
  repetitionPenalty?: number;
  /** Seed of the request's random generator (sampling and random drafters). Default 0. */
  seed?: number;
  /** Stops generation within one step. */
  signal?: AbortSignal;
  /** Drafting strategy: 'auto' (default: the controller picks drafter and tree size per step), 'ar' (plain decoding), 'lookup', ... */
  strategy?: string;
  /** Nodes per draft tree. Default 16. */
  treeBudget?: number;
  /** Stop when the output contains one of these strings (the string is not emitted). */
  stop?: string[];
  /** Apply the model's chat template to the prompt as one user message. Default false. */
  chat?: boolean;
  /** Add the tokenizer's special tokens (BOS) when encoding the prompt. Default true. */
  addSpecialTokens?: boolean;
  /** Documents for retrieval drafters (token ids are built by the engine). */
  documents?: string[];
  /** Progress of indexing `documents` (tokenizing, then the suffix array), when they change. Not sent across a worker. */
  onProgress?: (p: DocumentsProgress) => void;
  /**
   * Time every kernel of the target's passes (timestamp queries, or per-kernel submits timed
   * from the CPU without them); the stats then hold a per-step and a total breakdown. Each
   * kernel runs in its own pass, so a profiled generation is slower. Default false.
   */
  profile?: boolean;
}

export interface ResolvedGenerateOptions {
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
  seed: number;
  strategy: string;
  treeBudget: number;
  stop: string[];
  chat: boolean;
  addSpecialTokens: boolean;
  documents: string[];
  profile: boolean;
}

export const generateDefaults: ResolvedGenerateOptions = {
  maxTokens: 128,
  temperature: 0,
  topK: 0,
  topP: 1,
  repetitionPenalty: 1,
  seed: 0,
  strategy: 'auto',
  treeBudget: 16,
  stop: [],
  chat: false,
  addSpecialTokens: true,
  documents: [],
  profile: false,
};

/** A value as the caller gave it: NaN, Infinity and undefined as such, strings quoted. */
export function given(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'bigint' || v === undefined || typeof v === 'function' || typeof v === 'symbol') return String(v);
  return show(v);
}

function check(ok: boolean, field: string, value: unknown, expected: string): void {
  if (!ok) throw new OptionsError(`generate option "${field}" is ${given(value)}; expected ${expected}`);
}

/**
 * The context (prompt + output tokens) of an engine or a CPU run: the same rule on both devices.
 * Default min(max_position_embeddings, engineDefaults.maxContextCap); at most max_position_embeddings.
 */
export function resolveMaxContext(maxContext: unknown, maxPositions: number): number {
  if (maxContext === undefined) return Math.min(maxPositions, engineDefaults.maxContextCap);
  if (typeof maxContext !== 'number' || !Number.isInteger(maxContext) || maxContext < 2 || maxContext > maxPositions) {
    throw new OptionsError(`engine option "maxContext" (--max-context) is ${given(maxContext)}; expected an integer in [2, ${maxPositions}] (the model's max_position_embeddings)`);
  }
  return maxContext;
}

/** EngineOptions.kvDtype (CLI --kv-dtype) checked; undefined when the user names none. */
export function checkKvDtype(kvDtype: unknown): KvDtype | undefined {
  if (kvDtype !== undefined && !isKvDtype(kvDtype)) throw new OptionsError(`engine option "kvDtype" (--kv-dtype) is ${given(kvDtype)}; expected "f32" or "f16"`);
  return kvDtype;
}

/** EngineOptions.kvDtype checked, its default filled: the one the weights (already resolved, not 'auto') call for. */
export function resolveKvDtype(kvDtype: unknown, weights: WeightDtype): KvDtype {
  return checkKvDtype(kvDtype) ?? defaultKvDtype(weights);
}

/** Fills defaults and validates a generate() call's options. */
export function resolveGenerateOptions(opts: GenerateOptions, maxTreeNodes: number): ResolvedGenerateOptions {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw new OptionsError(`generate options are ${given(opts)}; expected an object`);
  const set = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
  // The default tree budget never exceeds what the engine was built for.
  const r = { ...generateDefaults, treeBudget: Math.min(generateDefaults.treeBudget, maxTreeNodes), ...set } as ResolvedGenerateOptions;
  check(Number.isInteger(r.maxTokens) && r.maxTokens >= 1, 'maxTokens', r.maxTokens, 'an integer >= 1');
  check(Number.isFinite(r.temperature) && r.temperature >= 0, 'temperature', r.temperature, 'a number >= 0');
  check(Number.isInteger(r.topK) && r.topK >= 0, 'topK', r.topK, 'an integer >= 0');
  check(Number.isFinite(r.topP) && r.topP > 0 && r.topP <= 1, 'topP', r.topP, 'a number in (0, 1]');
  check(Number.isFinite(r.repetitionPenalty) && r.repetitionPenalty > 0, 'repetitionPenalty', r.repetitionPenalty, 'a number > 0');
  check(Number.isInteger(r.seed), 'seed', r.seed, 'an integer');
  check(Number.isInteger(r.treeBudget) && r.treeBudget >= 0 && r.treeBudget <= maxTreeNodes, 'treeBudget', r.treeBudget, `an integer in [0, ${maxTreeNodes}]`);
  check(Array.isArray(r.stop) && r.stop.every((s) => typeof s === 'string' && s.length > 0), 'stop', r.stop, 'an array of non-empty strings');
  check(typeof r.profile === 'boolean', 'profile', r.profile, 'true or false');
  check(typeof r.chat === 'boolean', 'chat', r.chat, 'true or false');
  check(typeof r.addSpecialTokens === 'boolean', 'addSpecialTokens', r.addSpecialTokens, 'true or false');
  check(typeof r.strategy === 'string', 'strategy', r.strategy, 'a strategy name (a string)');
  check(opts.onProgress === undefined || typeof opts.onProgress === 'function', 'onProgress', opts.onProgress, 'a function');
  check(Array.isArray(r.documents) && r.documents.every((s) => typeof s === 'string'), 'documents', '[...]', 'an array of strings');
  const docChars = r.documents.reduce((n, d) => n + d.length, 0);
  check(docChars <= engineDefaults.maxDocumentChars, 'documents', `${docChars} characters`, `at most ${engineDefaults.maxDocumentChars} characters in all`);
  return r;
}
