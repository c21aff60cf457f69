/**
 * Every field of transformers' config classes (5.x) of the supported architectures, sorted by
 * whether it changes what the model computes. ARITHMETIC fields are each either implemented by
 * parseConfig or refused with a ConfigError naming the field and value; none is ignored.
 * INERT fields change nothing in inference (training-only settings, caching, padding,
 * bookkeeping). test/unit/config-fields.test.ts probes every ARITHMETIC field, and checks
 * against the field lists the oracle dumped from transformers itself
 * (test/fixtures/hf/config-fields.json, tools/hf-oracle/make_goldens.py) that no field of a
 * supported class is missing from both lists.
 */

const LLAMA_FAMILY = [
  'vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads',
  'head_dim', 'hidden_act', 'max_position_embeddings', 'rms_norm_eps', 'tie_word_embeddings',
  // RoPE: rope_parameters (5.x), or rope_theta + rope_scaling (4.x); partial_rotary_factor is moved into it
  'rope_parameters', 'rope_theta', 'rope_scaling', 'partial_rotary_factor',
  // the ids that end a greedy continuation
  'bos_token_id', 'eos_token_id',
] as const;

/** model_type -> the fields that change the arithmetic (each implemented or refused by parseConfig). */
export const ARITHMETIC_FIELDS: Record<string, readonly string[]> = {
  llama: [...LLAMA_FAMILY, 'attention_bias', 'mlp_bias'],
  mistral: [...LLAMA_FAMILY, 'sliding_window'],
  qwen2: [...LLAMA_FAMILY, 'use_sliding_window', 'sliding_window', 'max_window_layers', 'layer_types'],
  qwen3: [...LLAMA_FAMILY, 'attention_bias', 'use_sliding_window', 'sliding_window', 'max_window_layers', 'layer_types'],
  smollm3: [
    ...LLAMA_FAMILY, 'attention_bias', 'mlp_bias', 'use_sliding_window', 'sliding_window', 'layer_types',
    'no_rope_layers', 'no_rope_layer_interval',
  ],
  phi3: [...LLAMA_FAMILY, 'sliding_window', 'original_max_position_embeddings'],
  gemma2: [
    ...LLAMA_FAMILY.filter((f) => f !== 'hidden_act'), 'hidden_activation', 'attention_bias', 'query_pre_attn_scalar',
    'sliding_window', 'layer_types', 'final_logit_softcapping', 'attn_logit_softcapping', 'use_bidirectional_attention',
  ],
  gemma3_text: [
    ...LLAMA_FAMILY.filter((f) => f !== 'hidden_act'), 'hidden_activation', 'rope_local_base_freq', 'attention_bias',
    'query_pre_attn_scalar', 'sliding_window', 'sliding_window_pattern', 'layer_types',
    'final_logit_softcapping', 'attn_logit_softcapping', 'use_bidirectional_attention',
  ],
};

/**
 * Fields with no effect on inference output. `pretraining_tp`: transformers 5's Llama ignores
 * it (4.x split the projections into that many slices, the same sums in another order);
 * `attention_dropout`, `resid_pdrop`, `embd_pdrop`: training only; the rest are caching, padding, parallelism plans and
 * file bookkeeping.
 */
export const INERT_FIELDS: readonly string[] = [
  'initializer_range', 'use_cache', 'attention_dropout', 'pad_token_id', 'pretraining_tp', 'resid_pdrop', 'embd_pdrop',
  'architectures', 'model_type', 'torch_dtype', 'dtype', 'transformers_version', '_name_or_path',
  'output_attentions', 'return_dict', 'tie_encoder_decoder', 'is_encoder_decoder',
  'chunk_size_feed_forward', 'problem_type', 'id2label', 'label2id', 'tokenizer_class', 'prefix',
  'sep_token_id', 'decoder_start_token_id', 'task_specific_params', 'finetuning_task', 'cross_attention_hidden_size',
  'add_cross_attention', 'is_decoder', 'pruned_heads', 'torchscript', 'output_hidden_states',
  // class attributes of PreTrainedConfig (parallelism plans, key maps), not settings of a model
  'base_model_tp_plan', 'base_model_pp_plan', 'base_model_ep_plan', 'base_model_fsdp_plan', 'attribute_map',
  'base_config_key', 'sub_configs', 'has_no_defaults_at_init', 'keys_to_ignore_at_inference',
];
