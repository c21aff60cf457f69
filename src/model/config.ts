/**
 * config.json -> typed, validated ModelConfig (STYLE 7: parsed once, derived fields computed
 * here, bad values throw ConfigError naming the field). Supported: the architectures of
 * Hugging Face transformers' LlamaForCausalLM (also SmolLM/SmolLM2), MistralForCausalLM,
 * Qwen2ForCausalLM, Qwen3ForCausalLM, Phi3ForCausalLM, SmolLM3ForCausalLM, Gemma2ForCausalLM
 * and Gemma3ForCausalLM (text), read into family-neutral fields that one forward pass reads
 * (the Gemma settings in config-gemma.ts). RoPE settings are read in both layouts transformers
 * writes (config-rope.ts); every field that changes the arithmetic is listed in
 * config-fields.ts and is either implemented here or refused. Defaults below are the defaults
 * of the corresponding transformers config classes, so a config.json that omits a field means
 * what it means to transformers.
 */
import { ConfigError, show } from '../errors.ts';
import { ConfigReader as Reader, type Json } from './config-reader.ts';
import { ropeOf, PHI3_TYPE_ALIASES, type Rope } from './config-rope.ts';
import { gemmaOf } from './config-gemma.ts';
import type { LongRope, RopeScaling } from './cpu-ops.ts';

export type { RopeScaling } from './cpu-ops.ts';

export interface ModelConfig {
  /** "llama" | "qwen2" | "qwen3" | "mistral" (SmolLM is "llama"). */
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
  /** LongRoPE (Phi-3) short and long factors and attention factor, or null; an engine's context picks the factors (cpu-ops.ts longRopeFactors). */
  ropeLong: LongRope | null;
  /**
   * The leading dims of each query and key head that RoPE rotates (rotate-half pairs i and
   * i + rotaryDim/2); the dims after it pass unrotated. headDim, or Phi-3's head_dim *
   * partial_rotary_factor (Phi-4-mini: 96 of 128).
   */
  rotaryDim: number;
  /** Phi-3: q/k/v stored as one qkv_proj and gate/up as one gate_up_proj (split at load, weights.ts). */
  fusedProjections: boolean;
  /** Longest sequence the model supports (max_position_embeddings). */
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry a bias (Qwen2 always; Llama's `attention_bias` is refused, see checkUnsupported). */
  attentionBias: boolean;
  /**
   * Qwen3: each query and key head is RMS-normalised over its headDim (weights q_norm, k_norm,
   * eps rmsNormEps) after the projection and before RoPE.
   */
  qkNorm: boolean;
  /** RMSNorm scales by (normOffset + w): 0, or 1 for Gemma's (1 + w) norms (added to the weights at load). */
  normOffset: number;
  /** Embedding rows are multiplied by this: 1, or Gemma's sqrt(hidden) rounded to f32. */
  embedScale: number;
  /** The gated MLP's activation: SwiGLU's silu, or GeGLU's tanh-approximated GELU (Gemma). */
  hiddenAct: 'silu' | 'gelu_tanh';
  /**
   * Gemma: post_attention_layernorm normalises the attention output before the residual add,
   * and pre_/post_feedforward_layernorm wrap the MLP (four norms per layer); else
   * post_attention_layernorm is the MLP's input norm.
   */
  sandwichNorms: boolean;
  /** Attention logits are q.k times this: headDim^-0.5, or Gemma's query_pre_attn_scalar^-0.5. */
  attentionScale: number;
  /** Gemma 2: attention scores become cap * tanh(score / cap) (after the scale), else null. */
  attnSoftcap: number | null;
  /** Gemma 2: logits become cap * tanh(logit / cap), else null. */
  finalSoftcap: number | null;
  /** (numLayers) true where the layer uses localRope (Gemma's sliding layers). */
  localLayers: boolean[];
  /** RoPE of the local layers; equal to the global one where no layer is local. */
  localRope: Rope;
  /** (numLayers) true where the layer applies no RoPE (SmolLM3's `no_rope_layers` entries 0, NoPE). */
  noRopeLayers: boolean[];
  /**
   * (numLayers) each layer's sliding window, 0 for full attention: a query at position p sees
   * the keys at positions p - window < k <= p (transformers' sliding_window_overlay).
   */
  layerWindows: number[];
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

/** transformers class name -> model_type, for configs that only name the architecture. */
const ARCHITECTURES: Record<string, string> = {
  LlamaForCausalLM: 'llama',
  Qwen2ForCausalLM: 'qwen2',
  Qwen3ForCausalLM: 'qwen3',
  MistralForCausalLM: 'mistral',
  Phi3ForCausalLM: 'phi3',
  SmolLM3ForCausalLM: 'smollm3',
  Gemma2ForCausalLM: 'gemma2',
  Gemma3ForCausalLM: 'gemma3_text',
};

const MODEL_TYPES = Object.values(ARCHITECTURES);

function modelTypeOf(r: Reader): string {
  const mt = r.obj.model_type;
  if (mt === undefined) {
    const arch = Array.isArray(r.obj.architectures) ? r.obj.architectures[0] : undefined;
    const t = typeof arch === 'string' ? ARCHITECTURES[arch] : undefined;
    if (!t) r.fail('architectures', r.obj.architectures, `one of ${Object.keys(ARCHITECTURES).join(', ')} (model_type is absent)`);
    return t;
  }
  if (typeof mt !== 'string' || !MODEL_TYPES.includes(mt)) {
    r.fail('model_type', mt, `one of ${MODEL_TYPES.map((t) => `"${t}"`).join(', ')} (SmolLM uses "llama"); other architectures are not supported`);
  }
  return mt;
}

/** transformers' head_dim when config.json omits it: Qwen3Config defaults to 128, the others derive hidden / heads. */
const DEFAULT_HEAD_DIM: Record<string, number> = { qwen3: 128, gemma2: 256, gemma3_text: 256 };

function headsOf(r: Reader, modelType: string, hiddenSize: number): { numHeads: number; numKvHeads: number; headDim: number } {
  const numHeads = r.int('num_attention_heads', LIMITS.numHeads);
  // transformers: num_key_value_heads defaults to num_attention_heads (plain multi-head attention).
  const numKvHeads = r.int('num_key_value_heads', LIMITS.numHeads, numHeads);
  if (numHeads % numKvHeads !== 0) {
    r.fail('num_key_value_heads', numKvHeads, `a divisor of num_attention_heads (${numHeads})`);
  }
  let headDim: number;
  if (r.has('head_dim') || DEFAULT_HEAD_DIM[modelType]) headDim = r.int('head_dim', LIMITS.headDim, DEFAULT_HEAD_DIM[modelType]);
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
  if (modelType === 'gemma2' || modelType === 'gemma3_text') return; // config-gemma.ts
  const act = r.obj.hidden_act ?? r.obj.hidden_activation;
  if (act !== undefined && act !== 'silu') r.fail('hidden_act', act, '"silu" (the SwiGLU MLP)');
  // Llama's and Qwen3's `attention_bias` also puts a bias on o_proj and Llama's `mlp_bias` on
  // the MLP (transformers LlamaAttention / LlamaMLP); only Qwen2's q/k/v biases are implemented.
  if (modelType !== 'qwen2' && r.obj.attention_bias === true) r.fail('attention_bias', true, 'false (o_proj bias is not supported)');
  if (r.obj.mlp_bias === true) r.fail('mlp_bias', true, 'false (MLP biases are not supported)');
}

/** transformers' defaults of max_position_embeddings per config class. */
const DEFAULT_MAX_POSITIONS: Record<string, number> = { llama: 2048, qwen2: 32768, qwen3: 32768, mistral: 4096 * 32, phi3: 4096, smollm3: 32768, gemma2: 8192, gemma3_text: 131072 };

/** The layer types of Qwen2/Qwen3 configs (their `layer_types`, and the keys a nested rope_parameters may use). */
const LAYER_TYPES = ['full_attention', 'sliding_attention'] as const;

/** A window field: absent means `fallback`, null none (0). */
function windowOf(r: Reader, fallback: number | null): number {
  if (r.obj.sliding_window === null) return 0;
  return r.has('sliding_window') || fallback !== null ? r.int('sliding_window', LIMITS.maxPositionEmbeddings, fallback ?? undefined) : 0;
}

/**
 * Each layer's sliding window (0: full attention), as transformers 5 sets it: Mistral's and
 * Phi-3's `sliding_window` on every layer (MistralConfig default 4096, Phi3Config none); Qwen2's
 * and Qwen3's only with `use_sliding_window`, on the layers `layer_types` marks sliding, by
 * default those at index >= `max_window_layers` (default 28); SmolLM3's likewise, by default on
 * its NoPE layers (SmolLM3Config.__post_init__). Attention masks keys older than the window
 * (cpu-ops.ts attention, shaders/attention_tree_f32.wgsl WINDOW); the context is not capped.
 */
function windowsOf(r: Reader, modelType: string, numLayers: number, noRope: boolean[]): number[] {
  const qwen = modelType === 'qwen2' || modelType === 'qwen3' || modelType === 'smollm3';
  if (!qwen) {
    const all = modelType === 'mistral' ? windowOf(r, 4096) : modelType === 'phi3' ? windowOf(r, null) : 0;
    return new Array<number>(numLayers).fill(all);
  }
  const use = r.bool('use_sliding_window', false);
  const maxWindowLayers = r.has('max_window_layers') ? r.int('max_window_layers', LIMITS.numLayers) : 28;
  let sliding = Array.from({ length: numLayers }, (_, i) => (modelType === 'smollm3' ? noRope[i] : i >= maxWindowLayers));
  const lt = r.obj.layer_types;
  if (lt !== undefined && lt !== null) {
    const ok = Array.isArray(lt) && lt.length === numLayers && lt.every((t) => (LAYER_TYPES as readonly unknown[]).includes(t));
    if (!ok) r.fail('layer_types', lt, `a list of ${numLayers} (num_hidden_layers) of ${LAYER_TYPES.map((t) => `"${t}"`).join(' / ')}`);
    sliding = (lt as string[]).map((t) => t === 'sliding_attention');
  }
  // transformers sets sliding_window to None without use_sliding_window (SmolLM3: default none)
  const window = use ? windowOf(r, modelType === 'smollm3' ? null : 4096) : 0;
  return sliding.map((s) => (s ? window : 0));
}

/**
 * SmolLM3's NoPE layers: `no_rope_layers` (1 = RoPE, 0 = none), else every
 * `no_rope_layer_interval`-th layer (default 4) without RoPE (SmolLM3Config.__post_init__).
 */
function noRopeLayersOf(r: Reader, numLayers: number): boolean[] {
  const v = r.obj.no_rope_layers;
  if (v === undefined || v === null) {
    const interval = r.int('no_rope_layer_interval', LIMITS.numLayers, 4);
    return Array.from({ length: numLayers }, (_, i) => (i + 1) % interval === 0);
  }
  if (!Array.isArray(v) || v.length !== numLayers || !v.every((x) => x === 0 || x === 1)) {
    r.fail('no_rope_layers', v, `a list of ${numLayers} (num_hidden_layers) of 1 (RoPE) / 0 (no RoPE)`);
  }
  return (v as number[]).map((x) => x === 0);
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
  const numLayers = r.int('num_hidden_layers', LIMITS.numLayers);
  const bos = r.ids('bos_token_id', vocabSize);
  // llama3 scaling's original_max_position_embeddings defaults to the unwindowed maximum.
  const maxPos = r.int('max_position_embeddings', LIMITS.maxPositionEmbeddings, DEFAULT_MAX_POSITIONS[modelType]);
  const heads = headsOf(r, modelType, hiddenSize);
  const gemma = modelType === 'gemma2' || modelType === 'gemma3_text';
  const g = gemma ? gemmaOf(r, modelType, numLayers, { headDim: heads.headDim, maxPositions: maxPos }) : null;
  const phi3 = modelType === 'phi3';
  // Phi3Config's original_max_position_embeddings (default 4096) overrides the RoPE dict's;
  // Phi-3 alone rotates part of each head (partial_rotary_factor, config-rope.ts rotaryDimOf)
  const ctx = {
    headDim: heads.headDim, maxPositions: maxPos, partialRotary: phi3, typeAliases: phi3 ? PHI3_TYPE_ALIASES : undefined,
    originalMaxPositions: phi3 ? r.int('original_max_position_embeddings', LIMITS.maxPositionEmbeddings, 4096) : undefined,
  };
  const rope = g ? g.globalRope : ropeOf(r, ctx, ['qwen2', 'qwen3', 'smollm3'].includes(modelType) ? LAYER_TYPES : []);
  // Phi3Config.validate_rope allows only these two
  if (phi3 && rope.ropeScaling) r.fail('rope_parameters.rope_type', 'llama3', '"default" or "longrope" (the RoPE types of Phi-3)');
  const noRopeLayers = modelType === 'smollm3' ? noRopeLayersOf(r, numLayers) : new Array<boolean>(numLayers).fill(false);
  return {
    modelType,
    vocabSize,
    hiddenSize,
    intermediateSize: r.int('intermediate_size', LIMITS.intermediateSize),
    numLayers,
    ...heads,
    // Phi3Config's default is 1e-5, the others' 1e-6
    rmsNormEps: r.num('rms_norm_eps', 0, 1, phi3 ? 1e-5 : 1e-6),
    fusedProjections: phi3,
    ...rope,
    // neither a sliding window nor LongRoPE caps the context (beyond original_max_position_embeddings the long factors apply)
    maxPositionEmbeddings: maxPos,
    tieWordEmbeddings: r.bool('tie_word_embeddings', gemma || modelType === 'smollm3'),
    // Qwen2's attention always has q/k/v biases (transformers hard-codes bias=True there).
    attentionBias: modelType === 'qwen2',
    qkNorm: modelType === 'qwen3' || modelType === 'gemma3_text',
    normOffset: gemma ? 1 : 0,
    embedScale: gemma ? Math.fround(Math.sqrt(hiddenSize)) : 1,
    hiddenAct: gemma ? 'gelu_tanh' : 'silu',
    sandwichNorms: gemma,
    attentionScale: g ? g.attentionScale : 1 / Math.sqrt(heads.headDim),
    attnSoftcap: g ? g.attnSoftcap : null,
    finalSoftcap: g ? g.finalSoftcap : null,
    localLayers: g ? g.localLayers : new Array<boolean>(numLayers).fill(false),
    localRope: g ? g.localRope : rope,
    noRopeLayers,
    layerWindows: g ? g.layerWindows : windowsOf(r, modelType, numLayers, noRopeLayers),
    bosTokenId: bos.length > 0 ? bos[0] : null,
    eosTokenIds: r.ids('eos_token_id', vocabSize),
  };
}
