/**
 * Gemma 2 and Gemma 3 (text) settings of config.json: transformers 5's Gemma2Config /
 * Gemma2ForCausalLM (model_type "gemma2") and Gemma3TextConfig / Gemma3ForCausalLM
 * ("gemma3_text"), read into the family-neutral fields of ModelConfig (config.ts) that the
 * forward passes read. Both:
 *  - RMSNorm scales by (1 + w), embeddings are multiplied by sqrt(hidden) (the scale rounded to
 *    f32), GeGLU with tanh-GELU (`hidden_activation` "gelu_pytorch_tanh"), four norms per layer;
 *  - attention logits scaled by query_pre_attn_scalar^-0.5 instead of head_dim^-0.5;
 *  - `layer_types` marks sliding (local) layers (default: Gemma 2 every other layer from the
 *    first, Gemma 3 all but every `sliding_window_pattern`-th); their attention sees the last
 *    `sliding_window` positions (default 4096; null: full attention), the context is not capped.
 * Gemma 2: attention and final logit soft-capping (cap * tanh(x / cap)), one RoPE.
 * Gemma 3: per-head q/k norm; the local layers use their own RoPE,
 * rope_parameters.sliding_attention (4.x: theta `rope_local_base_freq`), the global layers
 * rope_parameters.full_attention (4.x: `rope_theta`, `rope_scaling`); soft-capping refused.
 * Bidirectional attention and biases are refused.
 */
import type { ConfigReader } from './config-reader.ts';
import { isObject, ropeDict, ropeOf, rotaryDimOf, type Rope, type RopeContext } from './config-rope.ts';

const LIMIT_POSITIONS = 1 << 24;

export interface GemmaSettings {
  attentionScale: number;
  /** Gemma 2's caps (cap * tanh(x / cap)) of attention scores and final logits, else null. */
  attnSoftcap: number | null;
  finalSoftcap: number | null;
  localLayers: boolean[];
  localRope: Rope;
  globalRope: Rope;
  /** (numLayers) the sliding window of each local layer, 0 on the global ones. */
  layerWindows: number[];
}

/** Each layer's type: `layer_types`, else the family's pattern (every `pattern`-th layer global). */
function localLayersOf(r: ConfigReader, numLayers: number, gemma3: boolean): boolean[] {
  const lt = r.obj.layer_types;
  if (lt === undefined || lt === null) {
    const pattern = gemma3 ? r.int('sliding_window_pattern', 1 << 10, 6) : 2;
    return Array.from({ length: numLayers }, (_, i) => (i + 1) % pattern !== 0);
  }
  const ok = Array.isArray(lt) && lt.length === numLayers && lt.every((t) => t === 'sliding_attention' || t === 'full_attention');
  if (!ok) r.fail('layer_types', lt, `a list of ${numLayers} (num_hidden_layers) of "sliding_attention" / "full_attention"`);
  return (lt as string[]).map((t) => t === 'sliding_attention');
}

/** Refused: settings of Gemma 2/3 this engine does not compute. */
function checkGemmaUnsupported(r: ConfigReader): void {
  if (r.obj.use_bidirectional_attention === true) r.fail('use_bidirectional_attention', true, 'false or null (causal attention only)');
  if (r.obj.attention_bias === true) r.fail('attention_bias', true, 'false (projection biases are not supported)');
  const act = r.obj.hidden_activation ?? 'gelu_pytorch_tanh';
  if (act !== 'gelu_pytorch_tanh') r.fail('hidden_activation', act, '"gelu_pytorch_tanh" (GeGLU with tanh-approximated GELU)');
}

/**
 * Both RoPEs with transformers 5's precedence (Gemma3TextConfig.convert_rope_params_to_dict):
 * rope_parameters.{full_attention, sliding_attention}, a 4.x `rope_scaling` merged into the
 * global one, thetas defaulting to `rope_theta` (1e6) and `rope_local_base_freq` (1e4).
 */
function gemmaRopes(r: ConfigReader, ctx: RopeContext): { globalRope: Rope; localRope: Rope } {
  // refused unless 1: Gemma rotates the whole head (ctx.partialRotary is unset)
  rotaryDimOf(r, ctx);
  const rp = r.obj.rope_parameters;
  if (rp !== undefined && rp !== null) {
    if (!isObject(rp)) r.fail('rope_parameters', rp, 'null or an object');
    const extra = Object.keys(rp).find((k) => k !== 'full_attention' && k !== 'sliding_attention');
    if (extra !== undefined) r.fail(`rope_parameters.${extra}`, rp[extra], 'absent (Gemma 3 nests RoPE settings under "full_attention" and "sliding_attention")');
  }
  const nested = (key: string): Record<string, unknown> => {
    const v = isObject(rp) ? rp[key] : undefined;
    if (v === undefined || v === null) return { rope_type: 'default' };
    if (!isObject(v)) r.fail(`rope_parameters.${key}`, v, 'an object of RoPE settings');
    return v;
  };
  const scaling = r.obj.rope_scaling;
  if (scaling !== undefined && scaling !== null && !isObject(scaling)) r.fail('rope_scaling', scaling, 'null or an object');
  const full = { ...nested('full_attention'), ...(isObject(scaling) ? scaling : {}) };
  const globalTheta = r.num('rope_theta', 1, 1e12, 1_000_000);
  const localTheta = r.num('rope_local_base_freq', 1, 1e12, 10_000);
  return {
    globalRope: ropeDict(r.child(full, 'rope_parameters.full_attention'), globalTheta, ctx),
    localRope: ropeDict(r.child(nested('sliding_attention'), 'rope_parameters.sliding_attention'), localTheta, ctx),
  };
}

/** A soft-capping field: Gemma 2's (default `fallback`), or refused for Gemma 3 unless null. */
function softcapOf(r: ConfigReader, field: string, gemma3: boolean, fallback: number): number | null {
  if (gemma3) {
    if (r.has(field)) r.fail(field, r.obj[field], 'null (Gemma 3 has no logit soft-capping)');
    return null;
  }
  // an explicit null turns it off, as in transformers
  if (r.obj[field] === null) return null;
  return r.num(field, 0, 1e9, fallback);
}

/** `modelType`: "gemma2" or "gemma3_text". */
export function gemmaOf(r: ConfigReader, modelType: string, numLayers: number, ctx: RopeContext): GemmaSettings {
  const gemma3 = modelType === 'gemma3_text';
  checkGemmaUnsupported(r);
  const localLayers = localLayersOf(r, numLayers, gemma3);
  // an explicit null: transformers' sliding layers attend to every key
  const window = r.obj.sliding_window === null ? 0 : r.int('sliding_window', LIMIT_POSITIONS, 4096);
  let ropes: { globalRope: Rope; localRope: Rope };
  if (gemma3) ropes = gemmaRopes(r, ctx);
  else {
    const rope = ropeOf(r, ctx, ['full_attention', 'sliding_attention']);
    ropes = { globalRope: rope, localRope: rope };
  }
  return {
    attentionScale: 1 / Math.sqrt(r.num('query_pre_attn_scalar', 0, 1e9, 256)),
    attnSoftcap: softcapOf(r, 'attn_logit_softcapping', gemma3, 50),
    finalSoftcap: softcapOf(r, 'final_logit_softcapping', gemma3, 30),
    localLayers,
    ...ropes,
    layerWindows: localLayers.map((l) => (l ? window : 0)),
  };
}
