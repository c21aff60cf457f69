/**
 * Random-weight models in the exact Hugging Face layout (config.json, model.safetensors,
 * tokenizer.json, tokenizer_config.json), seeded, for any shape: the test models of the GPU
 * kernels, the forward pass and the speculative invariants. No file system access here, so
 * browser tests can build fixtures in memory; writeFixture (Node) puts them on disk.
 *
 * Scales are chosen so logits have clear margins (embeddings std 1, linear layers std
 * 1/sqrt(fan_in), twice that for o_proj and down_proj, norms near 1, logits std about 3; see
 * stdOf): GPU and CPU argmax then agree despite different float summation orders. A trained
 * model's init (std 0.02) would give near-ties everywhere.
 */
import { OptionsError } from '../errors.ts';
import { Rng } from '../verify/rng.ts';
import { f32ToBf16Bits, f32ToF16Bits } from './f16.ts';
import { parseConfig, type RopeScaling } from './config.ts';
import { serializeSafetensors, type Dtype, type RawTensor } from './safetensors.ts';
import { expectedTensors } from './weights.ts';
import { fixtureTokenizer, type FixtureTokenizer } from './fixture-tokenizer.ts';

export interface FixtureShape {
  modelType?: 'llama' | 'qwen2' | 'qwen3' | 'mistral' | 'gemma3';
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  /** Per-head width; default hiddenSize / numHeads. Written to config.json when given. */
  headDim?: number;
  maxPositionEmbeddings?: number;
  ropeTheta?: number;
  ropeScaling?: RopeScaling | null;
  /** q/k/v biases; only Qwen2 has them (default true for qwen2, refused otherwise). */
  attentionBias?: boolean;
  tieWordEmbeddings?: boolean;
  /** Mistral's sliding window on every layer (default none: null); Gemma 3's on its local layers (default 512). */
  slidingWindow?: number;
  /** Gemma 3: every `slidingPattern`-th layer is global, the others local (default 6, Gemma3TextConfig's). */
  slidingPattern?: number;
  dtype: 'f32' | 'f16' | 'bf16';
  /**
   * Near-tied LM head (untied f32 only): row 2k + 1 of lm_head is row 2k with each weight scaled
   * by 1 + u * lmHeadTwins, u uniform in [-1, 1), so every token's logit nearly ties its twin's
   * and the last bits of a row's hidden state decide greedy choices (the test of bit-identical
   * speculative output). Default: independent rows.
   */
  lmHeadTwins?: number;
}

/** The size fields of config.json, the same in every family. */
function sizeFields(shape: FixtureShape): Record<string, number> {
  return {
    vocab_size: shape.vocabSize,
    hidden_size: shape.hiddenSize,
    intermediate_size: shape.intermediateSize,
    num_hidden_layers: shape.numLayers,
    num_attention_heads: shape.numHeads,
    num_key_value_heads: shape.numKvHeads,
  };
}

/** config.json contents for a shape (transformers field names). */
export function fixtureConfigJson(shape: FixtureShape, tok: FixtureTokenizer = fixtureTokenizer(shape.vocabSize)): Record<string, unknown> {
  const modelType = shape.modelType ?? 'llama';
  if (modelType === 'gemma3') return gemma3ConfigJson(shape, tok);
  if (shape.slidingWindow !== undefined && modelType !== 'mistral') throw new OptionsError(`fixture: slidingWindow with modelType "${modelType}": only the mistral and gemma3 fixtures have one`);
  if (shape.attentionBias !== undefined && shape.attentionBias !== (modelType === 'qwen2')) {
    throw new OptionsError(`fixture: attentionBias ${shape.attentionBias} with modelType "${modelType}": q/k/v biases exist exactly for qwen2`);
  }
  const arch = { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM', mistral: 'MistralForCausalLM' }[modelType];
  // Qwen3Config's head_dim defaults to 128, not hidden / heads: always written for qwen3
  const headDim = shape.headDim ?? (modelType === 'qwen3' ? shape.hiddenSize / shape.numHeads : undefined);
  const rs = shape.ropeScaling ?? null;
  return {
    architectures: [arch],
    model_type: modelType,
    ...sizeFields(shape),
    ...(headDim !== undefined ? { head_dim: headDim } : {}),
    hidden_act: 'silu',
    rms_norm_eps: 1e-5,
    rope_theta: shape.ropeTheta ?? 10000,
    rope_scaling: rs && {
      rope_type: 'llama3',
      factor: rs.factor,
      low_freq_factor: rs.lowFreqFactor,
      high_freq_factor: rs.highFreqFactor,
      original_max_position_embeddings: rs.originalMaxPositionEmbeddings,
    },
    max_position_embeddings: shape.maxPositionEmbeddings ?? 2048,
    tie_word_embeddings: shape.tieWordEmbeddings ?? false,
    ...(modelType === 'qwen2' || modelType === 'qwen3' ? { use_sliding_window: false } : {}),
    ...(modelType === 'mistral' ? { sliding_window: shape.slidingWindow ?? null } : {}),
    bos_token_id: tok.bosTokenId,
    eos_token_id: tok.eosTokenIds.length === 1 ? tok.eosTokenIds[0] : tok.eosTokenIds,
    torch_dtype: { f32: 'float32', f16: 'float16', bf16: 'bfloat16' }[shape.dtype],
  };
}

/**
 * Gemma 3 (text) in transformers 5's layout: local (sliding-window) layers but every
 * `slidingPattern`-th, their own RoPE base, q/k norms, GeGLU, the four norms per layer.
 */
function gemma3ConfigJson(shape: FixtureShape, tok: FixtureTokenizer): Record<string, unknown> {
  if (shape.attentionBias || shape.ropeScaling) throw new OptionsError('fixture: the gemma3 fixture has no attention biases and no RoPE scaling');
  const headDim = shape.headDim ?? shape.hiddenSize / shape.numHeads;
  const pattern = shape.slidingPattern ?? 6;
  return {
    architectures: ['Gemma3ForCausalLM'],
    model_type: 'gemma3_text',
    ...sizeFields(shape),
    head_dim: headDim,
    hidden_activation: 'gelu_pytorch_tanh',
    query_pre_attn_scalar: headDim,
    rms_norm_eps: 1e-6,
    rope_parameters: { full_attention: { rope_type: 'default', rope_theta: shape.ropeTheta ?? 1_000_000 }, sliding_attention: { rope_type: 'default', rope_theta: 10_000 } },
    sliding_window: shape.slidingWindow ?? 512,
    layer_types: Array.from({ length: shape.numLayers }, (_, i) => ((i + 1) % pattern !== 0 ? 'sliding_attention' : 'full_attention')),
    max_position_embeddings: shape.maxPositionEmbeddings ?? 2048,
    tie_word_embeddings: shape.tieWordEmbeddings ?? true,
    bos_token_id: tok.bosTokenId,
    eos_token_id: tok.eosTokenIds.length === 1 ? tok.eosTokenIds[0] : tok.eosTokenIds,
    torch_dtype: { f32: 'float32', f16: 'float16', bf16: 'bfloat16' }[shape.dtype],
  };
}

/**
 * Logits have std about LOGIT_STD: the LM head rows have std LOGIT_STD/sqrt(hidden) against a
 * final-normed state of rms about 1. Larger logits widen argmax margins (the GPU/CPU agreement
 * needs margins far above f32 summation noise) and keep sampling non-uniform.
 */
const LOGIT_STD = 3;

/** Mean and standard deviation of a weight's random values, by role (see the header). */
function stdOf(name: string, shape: number[], tied: boolean): { mean: number; std: number } {
  const fanIn = shape[shape.length - 1];
  if (name.endsWith('norm.weight')) return { mean: 1, std: 0.1 };
  if (name.endsWith('.bias')) return { mean: 0, std: 0.5 };
  if (name === 'lm_head.weight') return { mean: 0, std: LOGIT_STD / Math.sqrt(fanIn) };
  // A tied table is also the LM head. With std 1 the input token's own row would dominate the
  // stream and its own logit (the model repeats its input); the first RMSNorm makes the
  // layers indifferent to the embedding's scale, so the LM head's scale is used instead.
  if (name === 'model.embed_tokens.weight') return { mean: 0, std: tied ? LOGIT_STD / Math.sqrt(fanIn) : 1 };
  // Branches that write into the residual stream get twice the std, so layers move the stream
  // away from the input embedding; otherwise a tied LM head mostly repeats the input token.
  const residual = name.endsWith('o_proj.weight') || name.endsWith('down_proj.weight');
  return { mean: 0, std: (residual ? 2 : 1) / Math.sqrt(shape[shape.length - 1]) };
}

/** Makes odd rows (width `cols`) near-copies of the even rows before them (FixtureShape.lmHeadTwins). */
function twinRows(values: Float32Array, cols: number, rel: number, rng: Rng): void {
  for (let row = 1; row < values.length / cols; row += 2) {
    for (let i = 0; i < cols; i++) values[row * cols + i] = values[(row - 1) * cols + i] * (1 + (2 * rng.next() - 1) * rel);
  }
}

/** Encodes f32 values as little-endian bytes of the fixture dtype. */
function encode(values: Float32Array, dtype: Dtype): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const bits = new Uint16Array(values.length); // (n)
  const conv = dtype === 'F16' ? f32ToF16Bits : f32ToBf16Bits;
  for (let i = 0; i < values.length; i++) bits[i] = conv(values[i]);
  return new Uint8Array(bits.buffer);
}

/** Builds every file of a fixture model in memory; the same shape and seed give the same bytes. */
export function makeFixture(shape: FixtureShape, seed: number): Map<string, Uint8Array> {
  const tok = fixtureTokenizer(shape.vocabSize);
  const configJson = fixtureConfigJson(shape, tok);
  // The fixture must be a model the loader accepts: the same validation, the same errors.
  const config = parseConfig(configJson, 'fixture config.json');
  const dtype = ({ f32: 'F32', f16: 'F16', bf16: 'BF16' } as const)[shape.dtype];
  if (!dtype) throw new OptionsError(`fixture: dtype ${JSON.stringify(shape.dtype)}, expected "f32", "f16" or "bf16"`);
  const twins = shape.lmHeadTwins;
  if (twins !== undefined && (!(twins > 0 && twins < 1) || shape.tieWordEmbeddings || dtype !== 'F32')) {
    throw new OptionsError(`fixture: lmHeadTwins ${twins} needs a value in (0, 1), an untied LM head and f32 weights (f16 would round the twins together)`);
  }
  const rng = new Rng(seed);
  const tensors: RawTensor[] = [];
  for (const [name, dims] of expectedTensors(config)) {
    const { mean, std } = stdOf(name, dims, config.tieWordEmbeddings);
    // Uniform on [-a, a] with a = std * sqrt(3) has the requested std at one draw per weight.
    const a = std * Math.sqrt(3);
    const values = new Float32Array(dims.reduce((x, y) => x * y, 1)); // (product(dims))
    for (let i = 0; i < values.length; i++) values[i] = mean + (2 * rng.next() - 1) * a;
    if (name === 'lm_head.weight' && shape.lmHeadTwins !== undefined) twinRows(values, dims[1], shape.lmHeadTwins, rng);
    tensors.push({ name, dtype, shape: dims, data: encode(values, dtype) });
  }
  const enc = new TextEncoder();
  const json = (v: unknown) => enc.encode(JSON.stringify(v, null, 1));
  return new Map([
    ['config.json', json(configJson)],
    ['model.safetensors', serializeSafetensors(tensors, { format: 'pt' })],
    ['tokenizer.json', json(tok.tokenizerJson)],
    ['tokenizer_config.json', json(tok.tokenizerConfig)],
  ]);
}

/** Writes fixture files into `dir` (created if needed). Node only. */
export async function writeFixture(dir: string, files: Map<string, Uint8Array>): Promise<void> {
  const name = 'node:fs/promises';
  const fs = (await import(/* @vite-ignore */ /* webpackIgnore: true */ name)) as typeof import('node:fs/promises');
  await fs.mkdir(dir, { recursive: true });
  for (const [file, data] of files) await fs.writeFile(`${dir.replace(/\/+$/, '')}/${file}`, data);
}

/** Named shapes used by tests, the CLI and benchmarks. */
export const FIXTURE_SHAPES = {
  /** Smallest useful model: byte-level vocabulary, GQA, 2 layers. */
  tiny: { modelType: 'llama', vocabSize: 512, hiddenSize: 64, intermediateSize: 160, numLayers: 2, numHeads: 4, numKvHeads: 2, dtype: 'f32' },
  /** Awkward sizes: vocab and widths not multiples of 8/64, head dim 12, q/k/v biases, tied, f16. */
  awkward: { modelType: 'qwen2', vocabSize: 333, hiddenSize: 72, intermediateSize: 100, numLayers: 3, numHeads: 6, numKvHeads: 2, tieWordEmbeddings: true, dtype: 'f16' },
  /** Llama-2 tokenizer at about 15M parameters (the llama2.c stories15M shape). */
  'llama2-15m': { modelType: 'llama', vocabSize: 32000, hiddenSize: 288, intermediateSize: 768, numLayers: 6, numHeads: 6, numKvHeads: 6, dtype: 'f32' },
  /** SmolLM2-135M's shape (random weights): 30 layers, hidden 576, 9 heads, 3 KV heads, vocab 49152. */
  'smollm2-135m': {
    modelType: 'llama', vocabSize: 49152, hiddenSize: 576, intermediateSize: 1536, numLayers: 30, numHeads: 9, numKvHeads: 3,
    maxPositionEmbeddings: 8192, ropeTheta: 100000, tieWordEmbeddings: true, dtype: 'bf16',
  },
} as const satisfies Record<string, FixtureShape>;
