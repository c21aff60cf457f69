/**
 * The list of config fields that change the arithmetic (src/model/config-fields.ts) is
 * complete and each of its fields is implemented or refused: every field of transformers'
 * config classes (dumped by tools/hf-oracle/make_goldens.py) is listed as arithmetic or inert,
 * and every arithmetic field has a probe here that either changes the parsed config or is
 * refused with a ConfigError naming the field.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseConfig } from '../../src/model/config.ts';
import { ARITHMETIC_FIELDS, INERT_FIELDS } from '../../src/model/config-fields.ts';
import { ConfigError } from '../../src/errors.ts';

const dumped = JSON.parse(readFileSync('test/fixtures/hf/config-fields.json', 'utf8')) as { transformers: string; fields: Record<string, string[]> };

/** A small valid config of each type, without RoPE keys (the probes add them). */
function base(modelType: string): Record<string, unknown> {
  return {
    model_type: modelType, vocab_size: 500, hidden_size: 16, intermediate_size: 40, num_hidden_layers: 2,
    num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8, max_position_embeddings: 8192, rms_norm_eps: 1e-5,
    bos_token_id: 1, eos_token_id: 2, ...(modelType === 'mistral' ? { sliding_window: null } : {}),
  };
}

type Probe = { patch: Record<string, unknown> } & ({ changes: true } | { refused: RegExp });

const LLAMA3 = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 };

/** field -> probes: a patch that must change the parsed config, or one that must be refused naming the field. */
const PROBES: Record<string, Probe[]> = {
  vocab_size: [{ patch: { vocab_size: 900 }, changes: true }],
  hidden_size: [{ patch: { hidden_size: 32 }, changes: true }],
  intermediate_size: [{ patch: { intermediate_size: 48 }, changes: true }],
  num_hidden_layers: [{ patch: { num_hidden_layers: 3 }, changes: true }],
  num_attention_heads: [{ patch: { num_attention_heads: 4 }, changes: true }],
  num_key_value_heads: [{ patch: { num_key_value_heads: 2 }, changes: true }],
  head_dim: [{ patch: { head_dim: 16 }, changes: true }],
  hidden_act: [{ patch: { hidden_act: 'gelu_pytorch_tanh' }, refused: /"hidden_act" is "gelu_pytorch_tanh"/ }],
  max_position_embeddings: [{ patch: { max_position_embeddings: 100 }, changes: true }],
  rms_norm_eps: [{ patch: { rms_norm_eps: 1e-6 }, changes: true }],
  tie_word_embeddings: [{ patch: { tie_word_embeddings: true }, changes: true }],
  rope_parameters: [
    { patch: { rope_parameters: { rope_type: 'default', rope_theta: 500000 } }, changes: true },
    { patch: { rope_parameters: { ...LLAMA3, rope_theta: 500000 } }, changes: true },
    { patch: { rope_parameters: { rope_type: 'yarn', factor: 4, rope_theta: 1e4 } }, refused: /"rope_parameters.rope_type" is "yarn"/ },
    { patch: { rope_parameters: { rope_type: 'default', rope_theta: 1e4, mrope_section: [2, 2] } }, refused: /"rope_parameters.mrope_section" is \[2,2\]/ },
  ],
  rope_theta: [{ patch: { rope_theta: 500000 }, changes: true }],
  rope_scaling: [
    { patch: { rope_scaling: LLAMA3 }, changes: true },
    { patch: { rope_scaling: { type: 'linear', factor: 2 } }, refused: /"rope_scaling.rope_type" is "linear"/ },
  ],
  partial_rotary_factor: [
    { patch: { partial_rotary_factor: 0.5 }, refused: /"partial_rotary_factor" is 0.5/ },
    { patch: { rope_parameters: { rope_type: 'default', rope_theta: 1e4, partial_rotary_factor: 0.75 } }, refused: /"rope_parameters.partial_rotary_factor" is 0.75/ },
  ],
  bos_token_id: [{ patch: { bos_token_id: 3 }, changes: true }],
  eos_token_id: [{ patch: { eos_token_id: [2, 7] }, changes: true }],
  attention_bias: [{ patch: { attention_bias: true }, refused: /"attention_bias" is true/ }],
  mlp_bias: [{ patch: { mlp_bias: true }, refused: /"mlp_bias" is true/ }],
  // the second layer slides (Qwen2/Qwen3/SmolLM3 by layer_types; Mistral every layer)
  sliding_window: [{ patch: { use_sliding_window: true, sliding_window: 100, layer_types: ['full_attention', 'sliding_attention'] }, changes: true }],
  use_sliding_window: [{ patch: { use_sliding_window: true, sliding_window: 100, layer_types: ['full_attention', 'sliding_attention'] }, changes: true }],
  // which layers slide
  max_window_layers: [
    { patch: { use_sliding_window: true, sliding_window: 100, max_window_layers: 1 }, changes: true },
    { patch: { max_window_layers: 0 }, refused: /"max_window_layers" is 0/ },
  ],
  layer_types: [{ patch: { layer_types: ['full_attention', 'chunked_attention'] }, refused: /"layer_types" is/ }],
  // SmolLM3
  no_rope_layers: [{ patch: { no_rope_layers: [0, 0] }, changes: true }, { patch: { no_rope_layers: [1, 2] }, refused: /"no_rope_layers" is \[1,2\]/ }],
  no_rope_layer_interval: [{ patch: { no_rope_layer_interval: 2 }, changes: true }],
  // Gemma 3
  hidden_activation: [{ patch: { hidden_activation: 'gelu' }, refused: /"hidden_activation" is "gelu"/ }],
  rope_local_base_freq: [{ patch: { rope_local_base_freq: 5000 }, changes: true }],
  query_pre_attn_scalar: [{ patch: { query_pre_attn_scalar: 64 }, changes: true }],
  sliding_window_pattern: [{ patch: { sliding_window_pattern: 2 }, changes: true }],
  final_logit_softcapping: [{ patch: { final_logit_softcapping: 30 }, refused: /"final_logit_softcapping" is 30/ }],
  attn_logit_softcapping: [{ patch: { attn_logit_softcapping: 50 }, refused: /"attn_logit_softcapping" is 50/ }],
  use_bidirectional_attention: [{ patch: { use_bidirectional_attention: true }, refused: /"use_bidirectional_attention" is true/ }],
};

/** Gemma 3 nests its RoPE settings by layer type, and merges a 4.x rope_scaling into the global one. */
const GEMMA_PROBES: Record<string, Probe[]> = {
  rope_parameters: [
    { patch: { rope_parameters: { full_attention: { rope_type: 'default', rope_theta: 5e5 } } }, changes: true },
    { patch: { rope_parameters: { sliding_attention: { rope_type: 'default', rope_theta: 5e3 } } }, changes: true },
    { patch: { rope_parameters: { full_attention: { rope_type: 'linear', factor: 8 } } }, refused: /"rope_parameters.full_attention.rope_type" is "linear"/ },
    { patch: { rope_parameters: { rope_type: 'default', rope_theta: 1e4 } }, refused: /"rope_parameters.rope_type" is "default", expected absent/ },
  ],
  rope_scaling: [
    { patch: { rope_scaling: LLAMA3 }, changes: true },
    { patch: { rope_scaling: { rope_type: 'linear', factor: 8 } }, refused: /"rope_parameters.full_attention.rope_type" is "linear"/ },
  ],
  partial_rotary_factor: [{ patch: { partial_rotary_factor: 0.5 }, refused: /"partial_rotary_factor" is 0.5/ }],
  // tied by default in Gemma3TextConfig
  tie_word_embeddings: [{ patch: { tie_word_embeddings: false }, changes: true }],
};

/** Gemma 2 implements soft-capping (Gemma 3 refuses it) and ties embeddings by default. */
const GEMMA2_PROBES: Record<string, Probe[]> = {
  final_logit_softcapping: [{ patch: { final_logit_softcapping: 10 }, changes: true }, { patch: { final_logit_softcapping: null }, changes: true }],
  attn_logit_softcapping: [{ patch: { attn_logit_softcapping: 20 }, changes: true }, { patch: { attn_logit_softcapping: -1 }, refused: /"attn_logit_softcapping" is -1/ }],
  tie_word_embeddings: GEMMA_PROBES.tie_word_embeddings,
};

const LONGROPE = { rope_type: 'longrope', rope_theta: 1e4, short_factor: [1, 2, 3, 4], long_factor: [4, 8, 16, 32] };

/** Phi-3: LongRoPE (short and long factors, each checked), no llama3 scaling. */
const PHI3_PROBES: Record<string, Probe[]> = {
  rope_parameters: [
    { patch: { rope_parameters: LONGROPE }, changes: true },
    { patch: { rope_parameters: { ...LONGROPE, short_factor: [1, 2] } }, refused: /"rope_parameters.short_factor" is \[1,2\], expected a list of 4/ },
    { patch: { rope_parameters: { ...LONGROPE, long_factor: [4, 8, 16, 0] } }, refused: /"rope_parameters.long_factor" is \[4,8,16,0\], expected a list of 4 \(head_dim \/ 2\) positive/ },
    { patch: { rope_parameters: { ...LONGROPE, long_factor: [4, 8, 16, 32, 64] } }, refused: /"rope_parameters.long_factor" is \[4,8,16,32,64\], expected a list of 4/ },
    { patch: { rope_parameters: { ...LLAMA3, rope_theta: 5e5 } }, refused: /"rope_parameters.rope_type" is "llama3"/ },
  ],
  rope_scaling: [{ patch: { rope_scaling: LONGROPE }, changes: true }],
  original_max_position_embeddings: [{ patch: { rope_parameters: LONGROPE, original_max_position_embeddings: 32 }, changes: true }],
  sliding_window: [{ patch: { sliding_window: 100 }, changes: true }],
  // head_dim 8: rotary dims 8 * factor, which must be an even integer; the dict's factor wins over the top-level one
  partial_rotary_factor: [
    { patch: { partial_rotary_factor: 0.5 }, changes: true },
    { patch: { rope_parameters: { rope_type: 'default', rope_theta: 1e4, partial_rotary_factor: 0.75 } }, changes: true },
    { patch: { partial_rotary_factor: 0.5, rope_parameters: { ...LONGROPE, short_factor: [1, 2], long_factor: [4, 8] } }, changes: true },
    { patch: { partial_rotary_factor: 0.3 }, refused: /"partial_rotary_factor" is 0.3, expected a factor in \(0, 1\] whose head_dim \* factor \(head_dim 8\) is an even integer/ },
    { patch: { partial_rotary_factor: 0.375 }, refused: /"partial_rotary_factor" is 0.375/ },
    { patch: { partial_rotary_factor: 1.5 }, refused: /"partial_rotary_factor" is 1.5/ },
    { patch: { rope_parameters: { rope_type: 'default', rope_theta: 1e4, partial_rotary_factor: 0 } }, refused: /"rope_parameters.partial_rotary_factor" is 0/ },
    { patch: { partial_rotary_factor: 0.5, rope_parameters: LONGROPE }, refused: /"rope_parameters.short_factor" is \[1,2,3,4\], expected a list of 2 \(head_dim 8 \* partial_rotary_factor \/ 2\)/ },
  ],
};

const OVERRIDES: Record<string, Record<string, Probe[]>> = {
  gemma3_text: GEMMA_PROBES, gemma2: GEMMA2_PROBES, phi3: PHI3_PROBES,
  // tied by default in SmolLM3Config
  smollm3: { tie_word_embeddings: GEMMA_PROBES.tie_word_embeddings },
};

const probesOf = (modelType: string, field: string): Probe[] | undefined => OVERRIDES[modelType]?.[field] ?? PROBES[field];

describe('config fields that change the arithmetic', () => {
  for (const [modelType, fields] of Object.entries(ARITHMETIC_FIELDS)) {
    it(`${modelType}: every field of transformers ${dumped.transformers}'s config class is listed`, () => {
      const classFields = dumped.fields[modelType];
      expect(classFields, `config-fields.json lists ${modelType}`).toBeDefined();
      const unlisted = classFields.filter((f) => !fields.includes(f) && !INERT_FIELDS.includes(f));
      expect(unlisted).toEqual([]);
    });

    it(`${modelType}: each arithmetic field is implemented or refused by name`, () => {
      const ref = parseConfig(base(modelType));
      for (const field of fields) {
        const probes = probesOf(modelType, field);
        expect(probes, `a probe for ${field}`).toBeDefined();
        for (const p of probes ?? []) {
          const json = { ...base(modelType), ...p.patch };
          if ('changes' in p) expect(parseConfig(json), `${field}: ${JSON.stringify(p.patch)}`).not.toEqual(ref);
          else {
            expect(() => parseConfig(json), `${field}: ${JSON.stringify(p.patch)}`).toThrow(ConfigError);
            expect(() => parseConfig(json)).toThrow(p.refused);
          }
        }
      }
    });
  }
});
