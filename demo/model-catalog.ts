/**
 * The public checkpoints the demo's picker offers, one or two per supported family, with the
 * config.json fields that size them, so that the page shows each one's download size and GPU
 * memory need without reaching the hub. The sizes come from src/model/memory.ts, the estimate
 * Engine.load checks before downloading; loading an entry reads its real config.json from the hub.
 *
 * The values are those of each repository's published config.json on huggingface.co (main
 * revision), the fields of transformers' config classes that set a tensor shape or the number of
 * RoPE tables. Left out: the RoPE scaling of Llama-3.2 (llama3) and the LongRoPE factor lists of
 * Phi-3.5 / Phi-4 (48 short and 48 long factors each): they change RoPE frequencies, not the size
 * of any buffer. Phi-4-mini's `partial_rotary_factor` (0.75) is kept: it sets the width of the
 * RoPE table (96 of each head's 128 dims rotate). An entry whose config the engine refuses
 * (ConfigError) is marked with the error instead of sizes. test/unit/model-catalog.test.ts checks
 * each entry's parameter count against its model card.
 */
import { parseConfig, type ModelConfig } from '../src/model/config';
import { estimateMemory, parameterCount, shortfall, type MemoryShortfall } from '../src/model/memory';
import { resolveMaxContext, engineDefaults } from '../src/engine/options';
import type { BufferLimits } from '../src/gpu/limits';
import type { WeightDtype } from '../src/model/upload';
import { ConfigError } from '../src/errors';
import { topKSliceFor } from '../src/ops/topk';

export interface CatalogEntry {
  /** The Hugging Face repository id. */
  id: string;
  /** A draft model of the same tokenizer, loaded with it (optional). */
  draft?: string;
  /** The config.json fields that size the model (see the header). */
  config: Record<string, unknown>;
  /** The dtype of the published safetensors. */
  stored: 'bf16';
}

/** Bytes per element of the stored formats. */
const STORED_BYTES = { bf16: 2 } as const;

/** SmolLM2's shared shape fields (HuggingFaceTB/SmolLM2-*-Instruct config.json). */
const SMOLLM2 = { model_type: 'llama', vocab_size: 49152, max_position_embeddings: 8192, rope_theta: 100000, rms_norm_eps: 1e-5, tie_word_embeddings: true, bos_token_id: 1, eos_token_id: 2 };

export const CATALOG: readonly CatalogEntry[] = [
  {
    id: 'HuggingFaceTB/SmolLM2-135M-Instruct', stored: 'bf16',
    config: { ...SMOLLM2, hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9, num_key_value_heads: 3 },
  },
  {
    id: 'HuggingFaceTB/SmolLM2-360M-Instruct', draft: 'HuggingFaceTB/SmolLM2-135M-Instruct', stored: 'bf16',
    config: { ...SMOLLM2, hidden_size: 960, intermediate_size: 2560, num_hidden_layers: 32, num_attention_heads: 15, num_key_value_heads: 5 },
  },
  {
    id: 'meta-llama/Llama-3.2-1B-Instruct', stored: 'bf16',
    config: {
      model_type: 'llama', vocab_size: 128256, hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32,
      num_key_value_heads: 8, head_dim: 64, max_position_embeddings: 131072, rope_theta: 500000, rms_norm_eps: 1e-5, tie_word_embeddings: true,
      bos_token_id: 128000, eos_token_id: [128001, 128008, 128009],
    },
  },
  {
    id: 'Qwen/Qwen2.5-0.5B-Instruct', stored: 'bf16',
    config: {
      model_type: 'qwen2', vocab_size: 151936, hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24, num_attention_heads: 14,
      num_key_value_heads: 2, max_position_embeddings: 32768, rope_theta: 1000000, rms_norm_eps: 1e-6, tie_word_embeddings: true,
      use_sliding_window: false, sliding_window: 32768, max_window_layers: 21, bos_token_id: 151643, eos_token_id: 151645,
    },
  },
  {
    id: 'Qwen/Qwen3-0.6B', stored: 'bf16',
    config: {
      model_type: 'qwen3', vocab_size: 151936, hidden_size: 1024, intermediate_size: 3072, num_hidden_layers: 28, num_attention_heads: 16,
      num_key_value_heads: 8, head_dim: 128, max_position_embeddings: 40960, rope_theta: 1000000, rms_norm_eps: 1e-6, tie_word_embeddings: true,
      attention_bias: false, use_sliding_window: false, max_window_layers: 28, bos_token_id: 151643, eos_token_id: 151645,
    },
  },
  {
    id: 'google/gemma-3-1b-it', stored: 'bf16',
    config: {
      model_type: 'gemma3_text', vocab_size: 262144, hidden_size: 1152, intermediate_size: 6912, num_hidden_layers: 26, num_attention_heads: 4,
      num_key_value_heads: 1, head_dim: 256, max_position_embeddings: 32768, rope_theta: 1000000, rope_local_base_freq: 10000,
      rms_norm_eps: 1e-6, tie_word_embeddings: true, query_pre_attn_scalar: 256, sliding_window: 512, sliding_window_pattern: 6,
      hidden_activation: 'gelu_pytorch_tanh', attn_logit_softcapping: null, final_logit_softcapping: null, bos_token_id: 2, eos_token_id: [1, 106],
    },
  },
  {
    id: 'google/gemma-2-2b-it', stored: 'bf16',
    config: {
      model_type: 'gemma2', vocab_size: 256000, hidden_size: 2304, intermediate_size: 9216, num_hidden_layers: 26, num_attention_heads: 8,
      num_key_value_heads: 4, head_dim: 256, max_position_embeddings: 8192, rope_theta: 10000, rms_norm_eps: 1e-6, tie_word_embeddings: true,
      query_pre_attn_scalar: 256, sliding_window: 4096, attn_logit_softcapping: 50, final_logit_softcapping: 30,
      hidden_activation: 'gelu_pytorch_tanh', bos_token_id: 2, eos_token_id: [1, 107],
    },
  },
  {
    id: 'microsoft/Phi-3.5-mini-instruct', stored: 'bf16',
    config: {
      model_type: 'phi3', vocab_size: 32064, hidden_size: 3072, intermediate_size: 8192, num_hidden_layers: 32, num_attention_heads: 32,
      num_key_value_heads: 32, max_position_embeddings: 131072, original_max_position_embeddings: 4096, rope_theta: 10000, rms_norm_eps: 1e-5,
      tie_word_embeddings: false, sliding_window: 262144, bos_token_id: 1, eos_token_id: 32000,
    },
  },
  {
    id: 'microsoft/Phi-4-mini-instruct', stored: 'bf16',
    config: {
      model_type: 'phi3', vocab_size: 200064, hidden_size: 3072, intermediate_size: 8192, num_hidden_layers: 32, num_attention_heads: 24,
      num_key_value_heads: 8, max_position_embeddings: 131072, original_max_position_embeddings: 4096, partial_rotary_factor: 0.75,
      rope_theta: 10000, rms_norm_eps: 1e-5, tie_word_embeddings: true, sliding_window: 262144, bos_token_id: 199999, eos_token_id: 199999,
    },
  },
  {
    id: 'HuggingFaceTB/SmolLM3-3B', stored: 'bf16',
    config: {
      model_type: 'smollm3', vocab_size: 128256, hidden_size: 2048, intermediate_size: 11008, num_hidden_layers: 36, num_attention_heads: 16,
      num_key_value_heads: 4, max_position_embeddings: 65536, rope_theta: 5000000, rms_norm_eps: 1e-6, tie_word_embeddings: true,
      // every 4th layer (3, 7, ...) without RoPE, as the published list states
      no_rope_layers: Array.from({ length: 36 }, (_, i) => ((i + 1) % 4 === 0 ? 0 : 1)), no_rope_layer_interval: 4,
      use_sliding_window: false, bos_token_id: 128000, eos_token_id: 128012,
    },
  },
  {
    id: 'mistralai/Mistral-7B-Instruct-v0.3', stored: 'bf16',
    config: {
      model_type: 'mistral', vocab_size: 32768, hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32,
      num_key_value_heads: 8, head_dim: 128, max_position_embeddings: 32768, rope_theta: 1000000, rms_norm_eps: 1e-5, tie_word_embeddings: false,
      sliding_window: null, bos_token_id: 1, eos_token_id: 2,
    },
  },
];

/** The typed config of an entry (parsed as Engine.load parses the real one; a ConfigError where the engine refuses it). */
export function catalogConfig(e: CatalogEntry): ModelConfig {
  return parseConfig(e.config, `${e.id} config.json`);
}

/** Bytes of the published weights (safetensors data; a tied head is stored once). */
export function downloadBytes(c: ModelConfig, stored: CatalogEntry['stored']): number {
  return parameterCount(c) * STORED_BYTES[stored];
}

/** The adapter the demo runs on, as far as the page knows it before loading. */
export interface AdapterFacts {
  limits: BufferLimits;
  /** A software rasteriser (SwiftShader): the top-k runs one slice per row (ops/topk.ts preferredTopKSlice). */
  software: boolean;
}

/** What the page shows of an entry at one weight format; `unsupported` (the ConfigError's message) instead where the engine refuses its config. */
export type CatalogSizing =
  | {
      family: string;
      download: number;
      /** estimateMemory(...).total at the engine's default context and tree size (the demo passes neither). */
      memory: number;
      maxContext: number;
      /** The adapter limit it exceeds, or null (also where no adapter is known). */
      refused: MemoryShortfall | null;
      unsupported?: undefined;
    }
  | { family: string; unsupported: string };

export function catalogSizing(e: CatalogEntry, dtype: WeightDtype, adapter: AdapterFacts | null): CatalogSizing {
  let c: ModelConfig;
  try {
    c = catalogConfig(e);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { family: String(e.config.model_type), unsupported: err.message };
  }
  const maxContext = resolveMaxContext(undefined, c.maxPositionEmbeddings);
  const topKSlice = topKSliceFor(adapter?.software ?? false);
  const est = estimateMemory(c, { dtype, maxContext, maxRows: engineDefaults.maxTreeNodes + 1, topKSlice });
  return { family: c.modelType, download: downloadBytes(c, e.stored), memory: est.total, maxContext, refused: adapter ? shortfall(est, adapter.limits) : null };
}
