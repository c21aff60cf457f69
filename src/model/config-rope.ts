/**
 * RoPE settings of config.json in both layouts transformers writes, resolved the way
 * transformers 5 resolves them (RotaryEmbeddingConfigMixin.convert_rope_params_to_dict and
 * standardize_rope_params in modeling_rope_utils.py):
 *
 *  - transformers 4.x: top-level `rope_theta` and `rope_scaling` ({rope_type | type, factor, ...}
 *    or null);
 *  - transformers 5: `rope_parameters` = {rope_theta, rope_type, factor, ...}, no top-level keys;
 *    possibly nested per layer type ({"full_attention": {...}, "sliding_attention": {...}}).
 *
 * Precedence, as in transformers 5: a non-empty `rope_scaling` replaces `rope_parameters`;
 * theta is the dict's `rope_theta`, else the top-level `rope_theta`, else 10000;
 * `original_max_position_embeddings` of a scaled type defaults to `max_position_embeddings`;
 * `partial_rotary_factor` is the dict's, else the top-level one, else 1 (rotaryDimOf).
 * A setting this engine cannot compute exactly (another rope type, a partial rotary factor
 * outside Phi-3, an unknown key) is refused with a ConfigError naming it: a misread RoPE gives
 * wrong tokens from the first one without any other symptom.
 */
import type { LongRope, RopeScaling } from './cpu-ops.ts';
import type { ConfigReader, Json } from './config-reader.ts';

export interface Rope {
  ropeTheta: number;
  /** Llama-3 frequency scaling, or null for plain RoPE. */
  ropeScaling: RopeScaling | null;
  /** LongRoPE (Phi-3) short and long factors, or null. */
  ropeLong: LongRope | null;
  /** The leading dims of each head that RoPE rotates (even, <= headDim); the rest pass unrotated (Phi-4-mini: 96 of 128). */
  rotaryDim: number;
}

/** What a RoPE dict is read against: the head width and the context, and Phi-3's top-level original length. */
export interface RopeContext {
  headDim: number;
  maxPositions: number;
  /** Phi3Config's original_max_position_embeddings, which transformers puts into the dict over the dict's own. */
  originalMaxPositions?: number;
  /** The architecture rotates only the first head_dim * partial_rotary_factor dims of a head (Phi-3); else a factor other than 1 is refused. */
  partialRotary?: boolean;
  /** The rotary dim of the top-level partial_rotary_factor, which a dict without its own factor takes (set by ropeOf). */
  rotaryDim?: number;
  /** Older names of rope types that the architecture's config class renames (Phi3Config: "su" and "yarn" are "longrope"). */
  typeAliases?: Readonly<Record<string, string>>;
}

/** Phi3Config's renaming of the rope types early Phi-3 configs wrote ("su" in Phi-3-mini-128k's first config.json). */
export const PHI3_TYPE_ALIASES: Readonly<Record<string, string>> = { su: 'longrope', yarn: 'longrope' };

/** Keys a RoPE dict may hold, per rope type; any other key is refused (it would change the angles). */
const KEYS: Record<string, string[]> = {
  default: ['rope_type', 'type', 'rope_theta', 'partial_rotary_factor'],
  llama3: ['rope_type', 'type', 'rope_theta', 'partial_rotary_factor', 'factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings'],
  longrope: ['rope_type', 'type', 'rope_theta', 'partial_rotary_factor', 'short_factor', 'long_factor', 'factor', 'attention_factor', 'original_max_position_embeddings'],
};

export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The RoPE dict and the field it came from: `rope_scaling` when it is a non-empty object
 * (transformers: `rope_scaling or rope_parameters`), else `rope_parameters`, else none.
 */
function sourceDict(r: ConfigReader): { dict: Json; field: string } | null {
  for (const field of ['rope_scaling', 'rope_parameters']) {
    const v = r.obj[field];
    if (v === undefined || v === null) continue;
    if (!isObject(v)) r.fail(field, v, 'null or an object');
    if (Object.keys(v).length > 0) return { dict: v, field };
  }
  return null;
}

/**
 * A dict nested by layer type ({"full_attention": {...}}) collapses to one dict when every
 * layer type has the same settings (the only case this engine runs: one RoPE table); different
 * settings per layer type are refused.
 */
function flatten(r: ConfigReader, dict: Json, field: string, layerTypes: readonly string[]): Json {
  const nested = Object.keys(dict).filter((k) => layerTypes.includes(k));
  if (nested.length === 0) return dict;
  const others = Object.keys(dict).filter((k) => !layerTypes.includes(k));
  if (others.length > 0) r.fail(`${field}.${others[0]}`, dict[others[0]], `absent: ${field} is nested by layer type (${nested.join(', ')})`);
  const dicts = nested.map((k) => dict[k]);
  for (const [i, d] of dicts.entries()) if (!isObject(d)) r.fail(`${field}.${nested[i]}`, d, 'an object of RoPE settings');
  const first = JSON.stringify(dicts[0]);
  const differs = dicts.findIndex((d) => JSON.stringify(d) !== first);
  if (differs >= 0) r.fail(`${field}.${nested[differs]}`, dicts[differs], `the same RoPE settings as ${field}.${nested[0]} (per-layer-type RoPE is not supported for this architecture)`);
  return dicts[0] as Json;
}

/** `layerTypes`: the layer type names transformers nests RoPE settings under for this architecture. */
export function ropeOf(r: ConfigReader, ctx: RopeContext, layerTypes: readonly string[]): Rope {
  const src = sourceDict(r);
  const topTheta = r.num('rope_theta', 1, 1e12, 10000);
  // transformers moves a top-level partial_rotary_factor into the dict unless the dict has its own (setdefault)
  const rotaryDim = rotaryDimOf(r, ctx);
  if (!src) return { ropeTheta: topTheta, ropeScaling: null, ropeLong: null, rotaryDim };
  return ropeDict(r.child(flatten(r, src.dict, src.field, layerTypes), src.field), topTheta, { ...ctx, rotaryDim });
}

/** One RoPE dict ({rope_type, rope_theta, ...}); `theta` where the dict has no rope_theta. */
export function ropeDict(s: ConfigReader, theta: number, ctx: RopeContext): Rope {
  const maxPositions = ctx.maxPositions;
  const written = s.obj.rope_type ?? s.obj.type ?? 'default';
  const type = (typeof written === 'string' ? ctx.typeAliases?.[written] : undefined) ?? written;
  const keys = typeof type === 'string' ? KEYS[type] : undefined;
  if (!keys) s.fail('rope_type', type, `one of ${Object.keys(KEYS).map((k) => `"${k}"`).join(', ')} (other RoPE types are not supported)`);
  const unknown = Object.keys(s.obj).find((k) => !keys.includes(k));
  if (unknown !== undefined) s.fail(unknown, s.obj[unknown], `absent (not a setting of rope_type "${type}" this engine implements)`);
  const rotaryDim = s.obj.partial_rotary_factor === undefined ? (ctx.rotaryDim ?? ctx.headDim) : rotaryDimOf(s, ctx);
  const ropeTheta = s.num('rope_theta', 1, 1e12, theta);
  if (type === 'default') return { ropeTheta, ropeScaling: null, ropeLong: null, rotaryDim };
  if (type === 'longrope') return { ropeTheta, ropeScaling: null, ropeLong: longRopeOf(s, ctx, rotaryDim), rotaryDim };
  const scaling: RopeScaling = {
    factor: s.num('factor', 0, 1e6),
    lowFreqFactor: s.num('low_freq_factor', 0, 1e6),
    highFreqFactor: s.num('high_freq_factor', 0, 1e6),
    originalMaxPositionEmbeddings: s.int('original_max_position_embeddings', 1 << 24, maxPositions),
  };
  if (scaling.highFreqFactor <= scaling.lowFreqFactor) {
    s.fail('high_freq_factor', scaling.highFreqFactor, `a value above low_freq_factor (${scaling.lowFreqFactor})`);
  }
  return { ropeTheta, ropeScaling: scaling, ropeLong: null, rotaryDim };
}

/**
 * LongRoPE as transformers computes it (_compute_longrope_parameters): inv_freq / short_factor
 * up to the original length, inv_freq / long_factor beyond it; attention factor
 * `attention_factor`, else sqrt(1 + ln(factor) / ln(original)) with factor `factor`, else
 * max_position_embeddings / original (1 when <= 1), the same for both factor sets. Which set an
 * engine uses is fixed by its context (cpu-ops.ts `longRopeFactors`).
 * One factor per rotated pair: rotaryDim / 2 of them (Phi-4-mini: 48 for a 128-wide head at
 * partial_rotary_factor 0.75).
 */
function longRopeOf(s: ConfigReader, ctx: RopeContext, rotaryDim: number): LongRope {
  const half = rotaryDim / 2;
  const what = rotaryDim === ctx.headDim ? 'head_dim / 2' : `head_dim ${ctx.headDim} * partial_rotary_factor / 2`;
  const factors = (field: string): number[] => {
    const v = s.obj[field];
    if (!Array.isArray(v) || v.length !== half || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0)) {
      s.fail(field, v, `a list of ${half} (${what}) positive numbers`);
    }
    return v as number[];
  };
  const shortFactor = factors('short_factor');
  const longFactor = factors('long_factor');
  const original = ctx.originalMaxPositions ?? s.int('original_max_position_embeddings', 1 << 24, ctx.maxPositions);
  const factor = s.has('factor') ? s.num('factor', 0, 1e9) : ctx.maxPositions / original;
  const fallback = factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(original));
  return { shortFactor, longFactor, attentionFactor: s.num('attention_factor', 0, 1e9, fallback), originalMaxPositions: original };
}

/**
 * The rotary dim of `r`'s partial_rotary_factor: transformers computes the frequencies over
 * dim = int(head_dim * partial_rotary_factor) (compute_default_rope_parameters,
 * _compute_longrope_parameters), and Phi-3's apply_rotary_pos_emb rotates q[..., :dim] with
 * rotate_half over those dims and passes q[..., dim:] unchanged. Only Phi-3 does so: the
 * Llama, Qwen, Mistral, SmolLM3 and Gemma classes of transformers 5 rotate the whole head
 * whatever the factor (their default RoPE ignores it, llama3 scaling fails on it), so there a
 * factor other than 1 is refused rather than guessed. A factor whose dim is not an even
 * integer in (0, head_dim] is refused too (int() would truncate it silently).
 */
export function rotaryDimOf(r: ConfigReader, ctx: RopeContext): number {
  const field = 'partial_rotary_factor';
  const v = r.obj[field];
  if (v === undefined || v === null || v === 1) return ctx.headDim;
  if (!ctx.partialRotary) r.fail(field, v, '1 (only Phi-3 rotates part of each head; this architecture rotates all of it in transformers)');
  const dim = typeof v === 'number' ? ctx.headDim * v : NaN;
  if (!Number.isInteger(dim) || dim % 2 !== 0 || dim <= 0 || dim > ctx.headDim) {
    r.fail(field, v, `a factor in (0, 1] whose head_dim * factor (head_dim ${ctx.headDim}) is an even integer`);
  }
  return dim;
}
