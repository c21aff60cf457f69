import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseConfig, kvDim, qDim, type ModelConfig } from '../../src/model/config.ts';
import { ConfigError } from '../../src/errors.ts';

// Abridged from the published config.json files of each model (fields treespec reads kept as published).
const LLAMA2_7B = {
  architectures: ['LlamaForCausalLM'], bos_token_id: 1, eos_token_id: 2, hidden_act: 'silu', hidden_size: 4096,
  initializer_range: 0.02, intermediate_size: 11008, max_position_embeddings: 4096, model_type: 'llama',
  num_attention_heads: 32, num_hidden_layers: 32, num_key_value_heads: 32, pretraining_tp: 1, rms_norm_eps: 1e-5,
  rope_scaling: null, tie_word_embeddings: false, torch_dtype: 'float16', vocab_size: 32000,
};
const LLAMA32_1B = {
  architectures: ['LlamaForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009], head_dim: 64, hidden_act: 'silu', hidden_size: 2048, intermediate_size: 8192,
  max_position_embeddings: 131072, mlp_bias: false, model_type: 'llama', num_attention_heads: 32, num_hidden_layers: 16,
  num_key_value_heads: 8, rms_norm_eps: 1e-5,
  rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  rope_theta: 500000.0, tie_word_embeddings: true, torch_dtype: 'bfloat16', vocab_size: 128256,
};
const QWEN25_05B = {
  architectures: ['Qwen2ForCausalLM'], attention_dropout: 0.0, bos_token_id: 151643, eos_token_id: 151645, hidden_act: 'silu',
  hidden_size: 896, intermediate_size: 4864, max_position_embeddings: 32768, max_window_layers: 21, model_type: 'qwen2',
  num_attention_heads: 14, num_hidden_layers: 24, num_key_value_heads: 2, rms_norm_eps: 1e-6, rope_theta: 1000000.0,
  sliding_window: 32768, tie_word_embeddings: true, torch_dtype: 'bfloat16', use_cache: true, use_sliding_window: false, vocab_size: 151936,
};
const MISTRAL_7B_V01 = {
  architectures: ['MistralForCausalLM'], bos_token_id: 1, eos_token_id: 2, hidden_act: 'silu', hidden_size: 4096,
  intermediate_size: 14336, max_position_embeddings: 32768, model_type: 'mistral', num_attention_heads: 32,
  num_hidden_layers: 32, num_key_value_heads: 8, rms_norm_eps: 1e-5, rope_theta: 10000.0, sliding_window: 4096,
  tie_word_embeddings: false, torch_dtype: 'bfloat16', vocab_size: 32000,
};
// A Phi-3 128k config: Phi-3-mini's shape, the factors published for Phi-3-vision-128k-instruct (rounded to 0.01; type "su" there).
const PHI3_128K = {
  architectures: ['Phi3ForCausalLM'], bos_token_id: 1, eos_token_id: 32000, hidden_act: 'silu', hidden_size: 3072,
  intermediate_size: 8192, max_position_embeddings: 131072, model_type: 'phi3', num_attention_heads: 32, num_hidden_layers: 32,
  num_key_value_heads: 32, original_max_position_embeddings: 4096, rms_norm_eps: 1e-5, rope_theta: 10000.0, sliding_window: 131072,
  rope_scaling: {
    type: 'longrope',
    long_factor: [1.03, 1.05, 1.05, 1.08, 1.23, 1.23, 1.3, 1.45, 1.6, 1.65, 1.9, 2.86, 3.69, 5.42, 5.49, 5.49, 9.09, 11.58, 15.66, 15.77, 15.79, 18.36,
      21.99, 23.08, 30.01, 32.35, 32.59, 35.56, 39.95, 53.84, 56.2, 57.95, 59.29, 59.77, 59.92, 61.19, 61.96, 62.5, 63.37, 63.48, 63.48, 63.66, 63.85,
      64.08, 64.76, 64.8, 64.81, 64.81],
    short_factor: [1.05, 1.05, 1.05, 1.1, 1.1, 1.1, 1.25, 1.25, 1.4, 1.45, 1.55, 1.85, 1.9, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
      2.1, 2.1, 2.2, 2.35, 2.35, 2.35, 2.35, 2.4, 2.4, 2.65, 2.7, 2.9, 2.95, 3.05, 3.05, 3.05],
  },
  tie_word_embeddings: false, vocab_size: 32064,
};
const SMOLLM2_135M = {
  architectures: ['LlamaForCausalLM'], attention_bias: false, bos_token_id: 1, eos_token_id: 2, hidden_act: 'silu',
  hidden_size: 576, intermediate_size: 1536, max_position_embeddings: 8192, mlp_bias: false, model_type: 'llama',
  num_attention_heads: 9, num_hidden_layers: 30, num_key_value_heads: 3, rms_norm_eps: 1e-5, rope_scaling: null,
  rope_theta: 100000, tie_word_embeddings: true, torch_dtype: 'bfloat16', vocab_size: 49152,
};

describe('parseConfig on published configs', () => {
  it('Llama-2 7B', () => {
    const c = parseConfig(LLAMA2_7B);
    expect(c).toEqual<ModelConfig>({
      modelType: 'llama', vocabSize: 32000, hiddenSize: 4096, intermediateSize: 11008, numLayers: 32, numHeads: 32, numKvHeads: 32,
      headDim: 128, rmsNormEps: 1e-5, ropeTheta: 10000, ropeScaling: null, maxPositionEmbeddings: 4096, tieWordEmbeddings: false,
      attentionBias: false, qkNorm: false, normOffset: 0, embedScale: 1, hiddenAct: 'silu', sandwichNorms: false,
      attentionScale: 1 / Math.sqrt(128), attnSoftcap: null, finalSoftcap: null, localLayers: new Array(32).fill(false), localRope: { ropeTheta: 10000, ropeScaling: null, ropeLong: null, rotaryDim: 128 }, ropeLong: null, rotaryDim: 128, fusedProjections: false, noRopeLayers: new Array(32).fill(false), layerWindows: new Array(32).fill(0),
      bosTokenId: 1, eosTokenIds: [2],
    });
  });

  it('Llama-3.2 1B: llama3 rope scaling, GQA, tied, several eos ids', () => {
    const c = parseConfig(LLAMA32_1B);
    expect(c.ropeScaling).toEqual({ factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    expect([c.numKvHeads, c.headDim, qDim(c), kvDim(c)]).toEqual([8, 64, 2048, 512]);
    expect(c.eosTokenIds).toEqual([128001, 128008, 128009]);
    expect(c.tieWordEmbeddings).toBe(true);
  });

  it('Qwen2.5 0.5B: q/k/v bias, no sliding window in use', () => {
    const c = parseConfig(QWEN25_05B);
    expect(c.attentionBias).toBe(true);
    expect([c.headDim, c.numKvHeads, c.maxPositionEmbeddings, c.ropeTheta]).toEqual([64, 2, 32768, 1e6]);
  });

  it('Mistral 7B v0.1: every layer slides over its window, the context is max_position_embeddings', () => {
    const c = parseConfig(MISTRAL_7B_V01);
    expect([c.modelType, c.maxPositionEmbeddings, c.attentionBias]).toEqual(['mistral', 32768, false]);
    expect(c.layerWindows).toEqual(new Array(32).fill(4096));
    expect(parseConfig({ ...MISTRAL_7B_V01, sliding_window: null }).layerWindows).toEqual(new Array(32).fill(0));
    // MistralConfig's default window
    expect(parseConfig({ ...MISTRAL_7B_V01, sliding_window: undefined }).layerWindows).toEqual(new Array(32).fill(4096));
  });

  it('Qwen2/Qwen3 sliding windows: with use_sliding_window, on the layers at index >= max_window_layers or as layer_types says', () => {
    const small = { ...QWEN25_05B, num_hidden_layers: 4, use_sliding_window: true, sliding_window: 64, max_window_layers: 2 };
    expect(parseConfig(small).layerWindows).toEqual([0, 0, 64, 64]);
    expect(parseConfig({ ...small, layer_types: ['sliding_attention', 'full_attention', 'sliding_attention', 'full_attention'] }).layerWindows).toEqual([64, 0, 64, 0]);
    expect(parseConfig({ ...small, use_sliding_window: false }).layerWindows).toEqual([0, 0, 0, 0]);
    expect(parseConfig({ ...small, max_window_layers: undefined }).layerWindows).toEqual([0, 0, 0, 0]); // default 28
    expect(parseConfig(small).maxPositionEmbeddings).toBe(32768);
  });

  it('Phi-3 128k: LongRoPE keeps both factor sets and serves max_position_embeddings, not the original 4096', () => {
    const c = parseConfig(PHI3_128K);
    expect([c.modelType, c.headDim, c.maxPositionEmbeddings]).toEqual(['phi3', 96, 131072]);
    expect(c.ropeLong).toEqual({
      shortFactor: PHI3_128K.rope_scaling.short_factor, longFactor: PHI3_128K.rope_scaling.long_factor, originalMaxPositions: 4096,
      // transformers: sqrt(1 + ln(max / original) / ln(original)), for both factor sets
      attentionFactor: Math.sqrt(1 + Math.log(131072 / 4096) / Math.log(4096)),
    });
    const windowed = parseConfig({ ...PHI3_128K, sliding_window: 8192 });
    expect([windowed.maxPositionEmbeddings, windowed.layerWindows[0], windowed.layerWindows[31]]).toEqual([131072, 8192, 8192]);
  });

  it('Phi-3: the early rope types "su" and "yarn" are LongRoPE, as Phi3Config renames them; other families refuse them', () => {
    const longRope = parseConfig(PHI3_128K).ropeLong;
    for (const type of ['su', 'yarn']) {
      expect(parseConfig({ ...PHI3_128K, rope_scaling: { ...PHI3_128K.rope_scaling, type } }).ropeLong, type).toEqual(longRope);
    }
    const { short_factor, long_factor } = PHI3_128K.rope_scaling;
    expect(() => parseConfig({ ...LLAMA2_7B, rope_scaling: { type: 'su', short_factor, long_factor } })).toThrow(/rope_type.*"su"/);
  });

  it('SmolLM2 135M (llama type, 9 heads of 64)', () => {
    const c = parseConfig(SMOLLM2_135M);
    expect([c.modelType, c.numHeads, c.numKvHeads, c.headDim, c.ropeTheta, c.tieWordEmbeddings]).toEqual(['llama', 9, 3, 64, 100000, true]);
  });

  it('infers model_type from architectures and applies transformers defaults', () => {
    const { model_type: _, num_key_value_heads: __, rope_theta: ___, ...rest } = MISTRAL_7B_V01;
    const c = parseConfig({ ...rest, rms_norm_eps: undefined });
    expect([c.modelType, c.numKvHeads, c.ropeTheta, c.rmsNormEps]).toEqual(['mistral', 32, 10000, 1e-6]);
  });
});

describe('RoPE settings in both config.json layouts', () => {
  // Llama-3.2 1B as transformers 5 writes it: RoPE in rope_parameters, no top-level keys.
  const { rope_scaling: scaling, rope_theta: theta, ...rest } = LLAMA32_1B;
  const V5 = { ...rest, rope_parameters: { ...scaling, rope_theta: theta } };

  it('rope_parameters (transformers 5) means what rope_theta + rope_scaling (4.x) mean', () => {
    const c = parseConfig(V5);
    expect(c).toEqual(parseConfig(LLAMA32_1B));
    expect(c.ropeTheta).toBe(500000);
    expect(c.ropeScaling?.factor).toBe(32);
  });

  it('precedence of transformers 5: rope_scaling replaces rope_parameters; the dict\'s theta beats the top-level one', () => {
    expect(parseConfig({ ...V5, rope_scaling: { rope_type: 'default' } }).ropeScaling).toBeNull();
    expect(parseConfig({ ...V5, rope_theta: 10000 }).ropeTheta).toBe(500000);
    expect(parseConfig({ ...rest, rope_theta: 20000, rope_parameters: { rope_type: 'default' } }).ropeTheta).toBe(20000);
    expect(parseConfig({ ...rest, rope_parameters: { rope_type: 'default' } }).ropeTheta).toBe(10000);
  });

  it('llama3 original_max_position_embeddings defaults to max_position_embeddings', () => {
    const { original_max_position_embeddings: _, ...noOrig } = V5.rope_parameters;
    expect(parseConfig({ ...V5, rope_parameters: noOrig }).ropeScaling?.originalMaxPositionEmbeddings).toBe(131072);
  });

  it('per-layer-type RoPE (Qwen2/Qwen3): one table when every layer type agrees, refused otherwise', () => {
    const rp = { rope_type: 'default', rope_theta: 1e6 };
    const same = parseConfig({ ...QWEN25_05B, rope_theta: undefined, rope_parameters: { full_attention: rp, sliding_attention: rp } });
    expect(same.ropeTheta).toBe(1e6);
    const differ = { ...QWEN25_05B, rope_parameters: { full_attention: rp, sliding_attention: { ...rp, rope_theta: 1e4 } } };
    expect(() => parseConfig(differ)).toThrow(/"rope_parameters.sliding_attention" is .*per-layer-type RoPE is not supported/);
    // Llama has no layer types: a nested dict is an unknown key there
    expect(() => parseConfig({ ...LLAMA2_7B, rope_parameters: { full_attention: rp } })).toThrow(/"rope_parameters.full_attention"/);
  });
});

describe('partial rotary embedding (Phi-4-mini)', () => {
  // Phi-4-mini-instruct's config.json (4.x layout, abridged; the 48 LongRoPE factors of each list replaced by ramps)
  const ramp = (top: number) => Array.from({ length: 48 }, (_, i) => 1 + ((top - 1) * i) / 47);
  const PHI4_MINI = {
    architectures: ['Phi3ForCausalLM'], bos_token_id: 199999, eos_token_id: 199999, hidden_act: 'silu', hidden_size: 3072,
    intermediate_size: 8192, max_position_embeddings: 131072, model_type: 'phi3', num_attention_heads: 24, num_hidden_layers: 32,
    num_key_value_heads: 8, original_max_position_embeddings: 4096, partial_rotary_factor: 0.75, rms_norm_eps: 1e-5,
    rope_scaling: { long_factor: ramp(60), short_factor: ramp(3), type: 'longrope' }, rope_theta: 10000.0,
    sliding_window: 262144, tie_word_embeddings: true, vocab_size: 200064,
  };

  it('rotates head_dim * partial_rotary_factor = 96 of 128 dims, with one LongRoPE factor per rotated pair (48)', () => {
    const c = parseConfig(PHI4_MINI);
    expect(c.headDim).toBe(128);
    expect(c.rotaryDim).toBe(96);
    expect(c.localRope.rotaryDim).toBe(96);
    expect(c.ropeLong?.shortFactor).toHaveLength(48);
    // transformers 5 layout: the factor inside rope_parameters, which beats a top-level one
    const { rope_scaling: rs, rope_theta: _, partial_rotary_factor: __, ...rest } = PHI4_MINI;
    const v5 = { ...rest, rope_parameters: { ...rs, rope_theta: 10000.0, partial_rotary_factor: 0.75 } };
    expect(parseConfig(v5)).toEqual(c);
    expect(parseConfig({ ...v5, partial_rotary_factor: 0.5 }).rotaryDim).toBe(96);
    // factor lists of head_dim / 2 (64) are the wrong length here
    const long64 = { ...PHI4_MINI, rope_scaling: { ...PHI4_MINI.rope_scaling, short_factor: Array(64).fill(1) } };
    expect(() => parseConfig(long64)).toThrow(/"rope_scaling.short_factor" is .*expected a list of 48 \(head_dim 128 \* partial_rotary_factor \/ 2\)/);
  });

  it('a factor that does not give an even integer number of dims is refused, naming the field and value', () => {
    const { rope_scaling: _, ...plain } = PHI4_MINI;
    expect(parseConfig({ ...plain, partial_rotary_factor: 0.25 }).rotaryDim).toBe(32);
    for (const f of [0.3, 0.5078125, 0, -0.5, 1.25, '0.75']) {
      expect(() => parseConfig({ ...plain, partial_rotary_factor: f }, 'phi4/config.json')).toThrow(ConfigError);
      expect(() => parseConfig({ ...plain, partial_rotary_factor: f }, 'phi4/config.json')).toThrow(`phi4/config.json: field "partial_rotary_factor" is ${JSON.stringify(f)}`);
    }
  });

  it('is refused for the architectures whose transformers classes rotate the whole head whatever the factor', () => {
    expect(() => parseConfig({ ...LLAMA2_7B, partial_rotary_factor: 0.5 })).toThrow(/"partial_rotary_factor" is 0.5, expected 1 \(only Phi-3 rotates part of each head/);
    expect(() => parseConfig({ ...QWEN25_05B, rope_theta: undefined, rope_parameters: { rope_type: 'default', rope_theta: 1e6, partial_rotary_factor: 0.5 } }))
      .toThrow(/"rope_parameters.partial_rotary_factor" is 0.5/);
    expect(parseConfig({ ...LLAMA2_7B, partial_rotary_factor: 1 }).rotaryDim).toBe(128);
  });
});

describe('parseConfig errors name the field and value', () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['unsupported model_type', { model_type: 'gemma' }, /"model_type" is "gemma"/],
    ['heads not dividing hidden', { num_attention_heads: 5, num_key_value_heads: 5 }, /"num_attention_heads" is 5, expected a divisor of hidden_size \(576\)/],
    ['kv heads not dividing heads', { num_key_value_heads: 2 }, /"num_key_value_heads" is 2, expected a divisor of num_attention_heads \(9\)/],
    ['missing vocab', { vocab_size: undefined }, /"vocab_size" is undefined/],
    ['absurd layers', { num_hidden_layers: 1e9 }, /"num_hidden_layers" is 1000000000/],
    ['negative hidden', { hidden_size: -576 }, /"hidden_size" is -576/],
    ['string size', { intermediate_size: '1536' }, /"intermediate_size" is "1536"/],
    ['odd head dim', { head_dim: 63 }, /"head_dim" is 63/],
    ['eos out of vocab', { eos_token_id: 49152 }, /"eos_token_id" is 49152/],
    ['bad activation', { hidden_act: 'gelu' }, /"hidden_act" is "gelu"/],
    ['llama o_proj bias', { attention_bias: true }, /"attention_bias" is true/],
    ['yarn scaling', { rope_scaling: { rope_type: 'yarn', factor: 4 } }, /"rope_scaling.rope_type" is "yarn"/],
    ['zero eps', { rms_norm_eps: 0 }, /"rms_norm_eps" is 0/],
  ];
  for (const [what, patch, msg] of cases) {
    it(what, () => {
      expect(() => parseConfig({ ...SMOLLM2_135M, ...patch }, 'models/x/config.json')).toThrow(ConfigError);
      expect(() => parseConfig({ ...SMOLLM2_135M, ...patch }, 'models/x/config.json')).toThrow(msg);
    });
  }
  it('non-objects', () => {
    for (const v of [null, 3, 'x', [], undefined]) expect(() => parseConfig(v)).toThrow(ConfigError);
  });
});

describe('parseConfig fuzzing (fast-check)', () => {
  it('every JSON value ends in a ModelConfig or a ConfigError', () => {
    let cases = 0;
    let valid = 0;
    const field = fc.oneof(fc.integer({ min: -3, max: 5000 }), fc.double(), fc.string(), fc.constant(null), fc.boolean(), fc.jsonValue());
    const keys = Object.keys(SMOLLM2_135M).concat(['head_dim', 'rope_scaling', 'sliding_window', 'use_sliding_window']);
    const mutated = fc.record({ drop: fc.subarray(keys), patch: fc.dictionary(fc.constantFrom(...keys), field) }).map(({ drop, patch }) => {
      const o: Record<string, unknown> = { ...SMOLLM2_135M, ...patch };
      for (const k of drop) delete o[k];
      return o;
    });
    fc.assert(
      fc.property(fc.oneof(mutated, fc.jsonValue()), (json) => {
        cases++;
        try {
          const c = parseConfig(json);
          valid++;
          // a valid result is internally consistent
          return c.numHeads % c.numKvHeads === 0 && c.headDim % 2 === 0 && c.eosTokenIds.every((id) => id < c.vocabSize);
        } catch (e) {
          return e instanceof ConfigError;
        }
      }),
      { numRuns: 5000, seed: 1 },
    );
    expect(cases).toBe(5000);
    expect(valid).toBeGreaterThan(0);
    console.log(`parseConfig fuzz: ${cases} cases, ${valid} valid`);
  });
});
