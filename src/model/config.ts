/**
 * config.json -> typed, validated ModelConfig (STYLE 7: parsed once, derived fields computed
 * here, bad values throw ConfigError naming the field). Supported: the Llama family as
 * implemented by Hugging Face transformers' LlamaForCausalLM, Qwen2ForCausalLM and
 * MistralForCausalLM (SmolLM/SmolLM2 ship `model_type: "llama"`). Defaults below are the
 * defaults of the corresponding transformers config classes, so a config.json that omits a
 * field means what it means to transformers.
 */
import { ConfigError, show } from '../errors.ts';
import type { RopeScaling } from './cpu-ops.ts';

export type { RopeScaling } from './cpu-ops.ts';

export interface ModelConfig {
  /** "llama" | "qwen2" | "mistral" (SmolLM is "llama"). */
  modelType: string;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  /** Per-head width; hidden/heads unless config.json says otherwise (Mistral-Nemo, Llama-3.2-1B variants). */
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  /** Llama-3 frequency scaling, or null for plain RoPE. */
  ropeScaling: RopeScaling | null;
  /** Longest sequence the model supports (capped at a sliding window, see below). */
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry a bias (Qwen2 always; Llama's `attention_bias` is refused, see checkUnsupported). */
  attentionBias: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
}

/** Width of the concatenated query heads: (numHeads * headDim). */
export function qDim(c: ModelConfig): number {
  return c.numHeads * c.headDim;
}

/** Width of the concatenated key (or value) heads: (numKvHeads * headDim). */
export function kvDim(c: ModelConfig): number {
  return c.numKvHeads * c.headDim;
}

/** Bounds beyond which a value is a corrupt or hostile file, not a model we could run. */
const LIMITS = {
  vocabSize: 1 << 22,
  hiddenSize: 1 << 16,
  intermediateSize: 1 << 18,
  numLayers: 1024,
  numHeads: 1024,
  headDim: 1024,
  maxPositionEmbeddings: 1 << 24,
} as const;

type Json = Record<string, unknown>;

class Reader {
  constructor(readonly obj: Json, readonly file: string) {}

  fail(field: string, value: unknown, expected: string): never {
    throw new ConfigError(`${this.file}: field "${field}" is ${show(value)}, expected ${expected}`);
  }

  has(field: string): boolean {
    return this.obj[field] !== undefined && this.obj[field] !== null;
  }

  int(field: string, max: number, fallback?: number): number {
    const v = this.has(field) ? this.obj[field] : fallback;
    if (v === undefined) this.fail(field, this.obj[field], `a positive integer (the field is required)`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) this.fail(field, v, `an integer in [1, ${max}]`);
    return v;
  }

  num(field: string, lo: number, hi: number, fallback?: number): number {
    const v = this.has(field) ? this.obj[field] : fallback;
    if (v === undefined) this.fail(field, this.obj[field], `a number (the field is required)`);
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= lo || v >= hi) this.fail(field, v, `a number in (${lo}, ${hi})`);
    return v;
  }

  bool(field: string, fallback: boolean): boolean {
    const v = this.has(field) ? this.obj[field] : fallback;
    if (typeof v !== 'boolean') this.fail(field, v, 'true or false');
    return v;
  }

  /** Token ids: null, one id, or a list of ids, each in [0, vocab). */
  ids(field: string, vocab: number): number[] {
    const v = this.obj[field];
    if (v === undefined || v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    for (const id of list) {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocab) {
        this.fail(field, v, `token ids in [0, ${vocab}) (vocab_size)`);
      }
    }
    return [...new Set(list as number[])];
  }
}

/** transformers class name -> model_type, for configs that only name the architecture. */
const ARCHITECTURES: Record<string, string> = {
  LlamaForCausalLM: 'llama',
  Qwen2ForCausalLM: 'qwen2',
  MistralForCausalLM: 'mistral',
};

function modelTypeOf(r: Reader): string {
  const mt = r.obj.model_type;
  if (mt === undefined) {
    const arch = Array.isArray(r.obj.architectures) ? r.obj.architectures[0] : undefined;
    const t = typeof arch === 'string' ? ARCHITECTURES[arch] : undefined;
    if (!t) r.fail('architectures', r.obj.architectures, `one of ${Object.keys(ARCHITECTURES).join(', ')} (model_type is absent)`);
    return t;
  }
  if (mt !== 'llama' && mt !== 'qwen2' && mt !== 'mistral') {
    r.fail('model_type', mt, '"llama", "qwen2" or "mistral" (SmolLM uses "llama"); other architectures are not supported');
  }
  return mt;
}

/** `rope_scaling`: null/absent/"default" -> null; "llama3" -> RopeScaling; anything else is refused. */
function ropeScalingOf(r: Reader): RopeScaling | null {
  const rs = r.obj.rope_scaling;
  if (rs === undefined || rs === null) return null;
  if (typeof rs !== 'object' || Array.isArray(rs)) r.fail('rope_scaling', rs, 'null or an object');
  const s = new Reader(rs as Json, r.file);
  // transformers reads `rope_type`, falling back to the legacy key `type`.
  const type = s.obj.rope_type ?? s.obj.type;
  if (type === 'default') return null;
  if (type !== 'llama3') r.fail('rope_scaling.rope_type', type, '"llama3" or "default" (other RoPE scalings are not supported)');
  const scaling: RopeScaling = {
    factor: s.num('factor', 0, 1e6),
    lowFreqFactor: s.num('low_freq_factor', 0, 1e6),
    highFreqFactor: s.num('high_freq_factor', 0, 1e6),
    originalMaxPositionEmbeddings: s.int('original_max_position_embeddings', LIMITS.maxPositionEmbeddings),
  };
  if (scaling.highFreqFactor <= scaling.lowFreqFactor) {
    r.fail('rope_scaling.high_freq_factor', scaling.highFreqFactor, `a value above low_freq_factor (${scaling.lowFreqFactor})`);
  }
  return scaling;
}

function headsOf(r: Reader, hiddenSize: number): { numHeads: number; numKvHeads: number; headDim: number } {
  const numHeads = r.int('num_attention_heads', LIMITS.numHeads);
  // transformers: num_key_value_heads defaults to num_attention_heads (plain multi-head attention).
  const numKvHeads = r.int('num_key_value_heads', LIMITS.numHeads, numHeads);
  if (numHeads % numKvHeads !== 0) {
    r.fail('num_key_value_heads', numKvHeads, `a divisor of num_attention_heads (${numHeads})`);
  }
  let headDim: number;
  if (r.has('head_dim')) headDim = r.int('head_dim', LIMITS.headDim);
  else {
    if (hiddenSize % numHeads !== 0) {
      r.fail('num_attention_heads', numHeads, `a divisor of hidden_size (${hiddenSize}) since head_dim is absent`);
    }
    headDim = hiddenSize / numHeads;
  }
  // RoPE rotates pairs (i, i + headDim/2).
  if (headDim % 2 !== 0 || headDim > LIMITS.headDim) r.fail('head_dim', headDim, `an even integer in [2, ${LIMITS.headDim}]`);
  return { numHeads, numKvHeads, headDim };
}

/** Variants of the family this engine does not implement are refused, not run wrongly. */
function checkUnsupported(r: Reader, modelType: string): void {
  const act = r.obj.hidden_act ?? r.obj.hidden_activation;
  if (act !== undefined && act !== 'silu') r.fail('hidden_act', act, '"silu" (the SwiGLU MLP)');
  // Llama's `attention_bias` also puts a bias on o_proj and `mlp_bias` on the MLP
  // (transformers LlamaAttention / LlamaMLP); only Qwen2's q/k/v biases are implemented.
  if (modelType !== 'qwen2' && r.obj.attention_bias === true) r.fail('attention_bias', true, 'false (o_proj bias is not supported)');
  if (r.obj.mlp_bias === true) r.fail('mlp_bias', true, 'false (MLP biases are not supported)');
}

/** transformers' defaults of max_position_embeddings per config class. */
const DEFAULT_MAX_POSITIONS: Record<string, number> = { llama: 2048, qwen2: 32768, mistral: 4096 * 32 };

/**
 * Sliding-window attention (Mistral v0.1 `sliding_window`, Qwen2 `use_sliding_window`) equals
 * full attention while the sequence fits the window, so capping the context at the window keeps
 * every output exact without a windowed kernel.
 */
function contextOf(r: Reader, modelType: string): number {
  const maxPos = r.int('max_position_embeddings', LIMITS.maxPositionEmbeddings, DEFAULT_MAX_POSITIONS[modelType]);
  const windowed = modelType === 'mistral' || (modelType === 'qwen2' && r.obj.use_sliding_window === true);
  if (!windowed || !r.has('sliding_window')) return maxPos;
  return Math.min(maxPos, r.int('sliding_window', LIMITS.maxPositionEmbeddings));
}

/** Parses and validates a config.json object. `file` names the source in error messages. */
export function parseConfig(json: unknown, file = 'config.json'): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ConfigError(`${file}: expected a JSON object, got ${show(json)}`);
  }
  const r = new Reader(json as Json, file);
  const modelType = modelTypeOf(r);
  checkUnsupported(r, modelType);
  const vocabSize = r.int('vocab_size', LIMITS.vocabSize);
  const hiddenSize = r.int('hidden_size', LIMITS.hiddenSize);
  const bos = r.ids('bos_token_id', vocabSize);
  return {
    modelType,
    vocabSize,
    hiddenSize,
    intermediateSize: r.int('intermediate_size', LIMITS.intermediateSize),
    numLayers: r.int('num_hidden_layers', LIMITS.numLayers),
    ...headsOf(r, hiddenSize),
    rmsNormEps: r.num('rms_norm_eps', 0, 1, 1e-6),
    ropeTheta: r.num('rope_theta', 1, 1e12, 10000),
    ropeScaling: ropeScalingOf(r),
    maxPositionEmbeddings: contextOf(r, modelType),
    tieWordEmbeddings: r.bool('tie_word_embeddings', false),
    // Qwen2's attention always has q/k/v biases (transformers hard-codes bias=True there).
    attentionBias: modelType === 'qwen2',
    bosTokenId: bos.length > 0 ? bos[0] : null,
    eosTokenIds: r.ids('eos_token_id', vocabSize),
  };
}
