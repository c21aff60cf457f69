/**
 * Loads a Hugging Face model folder from any ModelSource: config.json, the safetensors file or
 * shards, tokenizer files; and checks every tensor name and shape against the config before
 * anything reaches the GPU (missing or extra tensors are a SafetensorsError naming them).
 */
import { ConfigError, ModelError, SafetensorsError, TokenizerError, show } from '../errors.ts';
import { f16BitsToF32, f32ToF16Bits } from './f16.ts';
import { parseConfig, qDim, kvDim, type ModelConfig } from './config.ts';
import { dequantizedTensors, extractQuantized, type QuantizedWeights } from './quantized-files.ts';
import type { QuantDtype } from './quantize.ts';
import { parseSafetensors, type RawTensor } from './safetensors.ts';
import type { LoadProgress, ModelSource } from './source-base.ts';

export type { RawTensor, Dtype } from './safetensors.ts';

export interface ModelFiles {
  config: ModelConfig;
  /** Every weight by its Hugging Face name, validated against `config`. */
  tensors: Map<string, RawTensor>;
  /** Parsed tokenizer.json. */
  tokenizerJson: unknown;
  /** Parsed tokenizer_config.json, or null when the model has none. */
  tokenizerConfig: unknown | null;
  /**
   * Packed rows of a pre-quantized file (src/model/quantized-files.ts), uploaded as stored when
   * the model loads at that dtype; `tensors` then hold their dequantized values. Else absent.
   */
  quantized?: QuantizedWeights | null;
}

/** name -> expected shape of every weight of a model with this config (HF names and (out, in) layout). */
export function expectedTensors(c: ModelConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const h = c.hiddenSize;
  m.set('model.embed_tokens.weight', [c.vocabSize, h]);
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}.`;
    m.set(`${p}input_layernorm.weight`, [h]);
    m.set(`${p}self_attn.q_proj.weight`, [qDim(c), h]);
    m.set(`${p}self_attn.k_proj.weight`, [kvDim(c), h]);
    m.set(`${p}self_attn.v_proj.weight`, [kvDim(c), h]);
    if (c.attentionBias) {
      m.set(`${p}self_attn.q_proj.bias`, [qDim(c)]);
      m.set(`${p}self_attn.k_proj.bias`, [kvDim(c)]);
      m.set(`${p}self_attn.v_proj.bias`, [kvDim(c)]);
    }
    if (c.qkNorm) {
      m.set(`${p}self_attn.q_norm.weight`, [c.headDim]);
      m.set(`${p}self_attn.k_norm.weight`, [c.headDim]);
    }
    m.set(`${p}self_attn.o_proj.weight`, [h, qDim(c)]);
    m.set(`${p}post_attention_layernorm.weight`, [h]);
    if (c.sandwichNorms) {
      m.set(`${p}pre_feedforward_layernorm.weight`, [h]);
      m.set(`${p}post_feedforward_layernorm.weight`, [h]);
    }
    m.set(`${p}mlp.gate_proj.weight`, [c.intermediateSize, h]);
    m.set(`${p}mlp.up_proj.weight`, [c.intermediateSize, h]);
    m.set(`${p}mlp.down_proj.weight`, [h, c.intermediateSize]);
  }
  m.set('model.norm.weight', [h]);
  if (!c.tieWordEmbeddings) m.set('lm_head.weight', [c.vocabSize, h]);
  return m;
}

/**
 * name -> shape of every weight as a file stores it: expectedTensors, except that Phi-3 stores
 * q/k/v as one self_attn.qkv_proj (rows q, then k, then v) and gate/up as one mlp.gate_up_proj
 * (rows gate, then up; transformers Phi3MLP chunks it in that order).
 */
function storedTensors(c: ModelConfig): Map<string, number[]> {
  const m = expectedTensors(c);
  if (!c.fusedProjections) return m;
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}.`;
    for (const n of ['q', 'k', 'v']) m.delete(`${p}self_attn.${n}_proj.weight`);
    m.delete(`${p}mlp.gate_proj.weight`);
    m.delete(`${p}mlp.up_proj.weight`);
    m.set(`${p}self_attn.qkv_proj.weight`, [qDim(c) + 2 * kvDim(c), c.hiddenSize]);
    m.set(`${p}mlp.gate_up_proj.weight`, [2 * c.intermediateSize, c.hiddenSize]);
  }
  return m;
}

/** Rows [from, from + rows) of a (rows, cols) tensor as a tensor of its own, sharing the bytes. */
function rowSlice(t: RawTensor, name: string, from: number, rows: number): RawTensor {
  const rowBytes = t.data.byteLength / t.shape[0];
  return { name, dtype: t.dtype, shape: [rows, t.shape[1]], data: t.data.subarray(from * rowBytes, (from + rows) * rowBytes) };
}

/** Phi-3's fused tensors split into the names the forward passes read (expectedTensors). */
function splitFused(stored: Map<string, RawTensor>, c: ModelConfig): Map<string, RawTensor> {
  if (!c.fusedProjections) return stored;
  const out = new Map<string, RawTensor>();
  for (const [name, t] of stored) {
    const m = /^(model\.layers\.\d+\.)(self_attn\.qkv_proj|mlp\.gate_up_proj)\.weight$/.exec(name);
    if (!m) { out.set(name, t); continue; }
    const p = m[1];
    const parts: [string, number][] = m[2] === 'mlp.gate_up_proj'
      ? [['mlp.gate_proj', c.intermediateSize], ['mlp.up_proj', c.intermediateSize]]
      : [['self_attn.q_proj', qDim(c)], ['self_attn.k_proj', kvDim(c)], ['self_attn.v_proj', kvDim(c)]];
    let row = 0;
    for (const [part, rows] of parts) {
      out.set(`${p}${part}.weight`, rowSlice(t, `${p}${part}.weight`, row, rows));
      row += rows;
    }
  }
  return out;
}

/**
 * Tensors transformers itself ignores when loading: old Llama checkpoints carry RoPE's
 * `rotary_emb.inv_freq` buffers, and some tied checkpoints still store `lm_head.weight`.
 */
function ignorable(name: string, c: ModelConfig): boolean {
  return name.endsWith('.rotary_emb.inv_freq') || (c.tieWordEmbeddings && name === 'lm_head.weight');
}

/** Checks names and shapes as stored; returns exactly the expected tensors (fused ones split). */
export function validateTensors(all: Map<string, RawTensor>, c: ModelConfig, file: string): Map<string, RawTensor> {
  const expected = storedTensors(c);
  const missing = [...expected.keys()].filter((n) => !all.has(n));
  if (missing.length > 0) {
    throw new SafetensorsError(`${file}: ${missing.length} tensor(s) required by the config are missing: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`);
  }
  const extra = [...all.keys()].filter((n) => !expected.has(n) && !ignorable(n, c));
  if (extra.length > 0) {
    throw new SafetensorsError(`${file}: ${extra.length} tensor(s) not part of a ${c.modelType} model with this config: ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', ...' : ''}`);
  }
  const out = new Map<string, RawTensor>();
  for (const [name, shape] of expected) {
    const t = all.get(name)!;
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new SafetensorsError(`${file}: tensor "${name}" has shape ${show(t.shape)}, expected ${show(shape)} from the config`);
    }
    out.set(name, t);
  }
  return splitFused(out, c);
}

function parseJson<E extends Error>(bytes: Uint8Array, file: string, Err: new (m: string) => E): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new Err(`${file}: not valid UTF-8 JSON (${(e as Error).message})`);
  }
}

/** model.safetensors.index.json -> shard file -> tensor names it must hold. */
function parseIndex(json: unknown, file: string): Map<string, string[]> {
  const wm = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) {
    throw new SafetensorsError(`${file}: "weight_map" is ${show(wm)}, expected an object of tensor name -> shard file`);
  }
  const shards = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(wm)) {
    if (typeof shard !== 'string' || !shard.endsWith('.safetensors')) {
      throw new SafetensorsError(`${file}: weight_map["${name}"] is ${show(shard)}, expected a .safetensors file name`);
    }
    shards.set(shard, [...(shards.get(shard) ?? []), name]);
  }
  return shards;
}

type Progress = ((p: LoadProgress) => void) | undefined;

const absent = Symbol('absent');

/**
 * An optional JSON file's value, or `absent`. A file whose text does not even start like JSON
 * (an HTML page, a "Not found" text that a server answered with) counts as absent, not as a
 * broken file: servers and hosts that never return 404 exist. Text that starts like JSON and
 * does not parse is still an error of class `Err`.
 */
async function readOptionalJson<E extends Error>(source: ModelSource, file: string, Err: new (m: string) => E, onProgress: Progress): Promise<unknown> {
  if (!(await source.exists(file))) return absent;
  const bytes = await source.read(file, onProgress);
  const first = new TextDecoder().decode(bytes.subarray(0, 64)).replace(/^\uFEFF/, '').trimStart()[0];
  if (first !== '{' && first !== '[') return absent;
  return parseJson(bytes, file, Err);
}

async function readShards(source: ModelSource, onProgress: Progress): Promise<{ tensors: Map<string, RawTensor>; file: string }> {
  const indexFile = 'model.safetensors.index.json';
  const index = await readOptionalJson(source, indexFile, SafetensorsError, onProgress);
  if (index === absent) {
    const file = 'model.safetensors';
    return { tensors: parseSafetensors(await source.read(file, onProgress), file), file };
  }
  const shards = parseIndex(index, indexFile);
  const tensors = new Map<string, RawTensor>();
  for (const [shard, names] of shards) {
    const inShard = parseSafetensors(await source.read(shard, onProgress), shard);
    for (const name of names) {
      const t = inShard.get(name);
      if (!t) throw new SafetensorsError(`${shard}: tensor "${name}" listed in ${indexFile} is not in this shard`);
      tensors.set(name, t);
    }
    for (const name of inShard.keys()) {
      if (!tensors.has(name)) throw new SafetensorsError(`${shard}: tensor "${name}" is not listed in ${indexFile}`);
    }
  }
  return { tensors, file: indexFile };
}

/**
 * Llama 3 lists several end tokens only in generation_config.json (e.g. <|eot_id|>); they stop
 * generation too, so they are merged into the config's eosTokenIds.
 */
async function mergeGenerationConfig(source: ModelSource, config: ModelConfig, onProgress: Progress): Promise<void> {
  const file = 'generation_config.json';
  const json = await readOptionalJson(source, file, ConfigError, onProgress);
  if (json === absent) return;
  const gen = json as { eos_token_id?: unknown } | null;
  const eos = gen?.eos_token_id;
  const ids = Array.isArray(eos) ? eos : eos === undefined || eos === null ? [] : [eos];
  for (const id of ids) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= config.vocabSize) {
      throw new ConfigError(`${file}: field "eos_token_id" is ${show(eos)}, expected token ids in [0, ${config.vocabSize})`);
    }
    if (!config.eosTokenIds.includes(id)) config.eosTokenIds.push(id);
  }
}

/** config.json of a source, parsed and validated (nothing else is read). */
export async function readConfig(source: ModelSource, onProgress?: (p: LoadProgress) => void): Promise<ModelConfig> {
  return parseConfig(parseJson(await source.read('config.json', onProgress), 'config.json', ConfigError), 'config.json');
}

/**
 * Reads and validates everything needed to run a model. `config`: the source's config.json
 * already read with readConfig (Engine.load checks its memory before any weight is read).
 */
export async function loadModelFiles(source: ModelSource, opts: { onProgress?: (p: LoadProgress) => void; config?: ModelConfig } = {}): Promise<ModelFiles> {
  const onProgress = opts.onProgress;
  const config = opts.config ?? (await readConfig(source, onProgress));
  await mergeGenerationConfig(source, config, onProgress);
  if (!(await source.exists('tokenizer.json'))) {
    throw new TokenizerError(`${source.id}: tokenizer.json is missing (only tokenizer.json is supported, not tokenizer.model)`);
  }
  const tokenizerJson = parseJson(await source.read('tokenizer.json', onProgress), 'tokenizer.json', TokenizerError);
  const tokenizerConfig = await readOptionalJson(source, 'tokenizer_config.json', TokenizerError, onProgress);
  const { tensors, file } = await readShards(source, onProgress);
  const quantized = extractQuantized(tensors, config, file);
  const valid = validateTensors(tensors, config, file);
  for (const t of valid.values()) checkFinite(t, file);
  return {
    config,
    tensors: valid,
    tokenizerJson,
    tokenizerConfig: tokenizerConfig === absent ? null : tokenizerConfig,
    quantized,
  };
}

/**
 * A NaN or infinity in a weight makes every later activation NaN: found here, where the tensor
 * can be named, not as nonsense tokens later. One pass over the exponent bits (all ones means
 * not finite): about a millisecond per 10 MB.
 */
export function checkFinite(t: RawTensor, file: string): void {
  if (t.dtype === 'U8') return; // packed quantized rows: their values were checked before packing
  const wide = t.dtype === 'F32';
  const size = wide ? 4 : 2;
  const n = t.data.byteLength / size;
  // Typed views need aligned offsets; a file's tensors may sit at any byte.
  const aligned = t.data.byteOffset % size === 0 ? t.data : t.data.slice();
  const words = wide ? new Uint32Array(aligned.buffer, aligned.byteOffset, n) : new Uint16Array(aligned.buffer, aligned.byteOffset, n);
  // exponent all ones: not finite; then a non-zero mantissa: NaN
  const [mask, mantissa] = wide ? [0x7f800000, 0x7fffff] : t.dtype === 'F16' ? [0x7c00, 0x3ff] : [0x7f80, 0x7f];
  for (let i = 0; i < n; i++) {
    if ((words[i] & mask) === mask) {
      const what = words[i] & mantissa ? 'NaN' : 'infinity';
      throw new ModelError(`${file}: tensor "${t.name}" holds ${what} at element ${i} of ${n}; the weights are damaged (re-download or re-export the model)`);
    }
  }
}

/** f16 bits -> f32 for all 65536 values: a table turns decoding into one lookup per element. */
let f16Table: Float32Array | null = null; // (65536)

function elementCount(t: RawTensor): number {
  return t.shape.reduce((a, b) => a * b, 1);
}

/** Exact f32 values of a tensor (F16 and BF16 widen exactly). Returns (product(shape)). */
export function tensorF32(t: RawTensor): Float32Array {
  const n = elementCount(t);
  // slice() copies into a fresh, aligned buffer: file views have arbitrary byte offsets.
  if (t.dtype === 'U8') throw new SafetensorsError(`tensor "${t.name}" is U8 packed data, not values`);
  const bytes = t.data.slice();
  if (t.dtype === 'F32') return new Float32Array(bytes.buffer, 0, n);
  const bits = new Uint16Array(bytes.buffer, 0, n);
  const out = new Float32Array(n);
  if (t.dtype === 'BF16') {
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) u[i] = bits[i] << 16;
    return out;
  }
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16BitsToF32(i);
  }
  for (let i = 0; i < n; i++) out[i] = f16Table[bits[i]];
  return out;
}

/** IEEE f16 bits of a tensor: F16 as stored; F32 and BF16 rounded to nearest even. Returns (product(shape)). */
export function tensorF16Bits(t: RawTensor): Uint16Array {
  const n = elementCount(t);
  if (t.dtype === 'F16') return new Uint16Array(t.data.slice().buffer, 0, n);
  const src = tensorF32(t);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = f32ToF16Bits(src[i]);
  return out;
}

/**
 * The f32 values a forward pass computes with: the tensor's values, with the config's
 * normOffset added to RMSNorm weights (Gemma's (1 + w), added in f32 as transformers does).
 */
export function weightF32(c: ModelConfig, name: string, t: RawTensor): Float32Array {
  const v = tensorF32(t);
  if (c.normOffset === 0 || !name.endsWith('norm.weight')) return v;
  return v.map((w) => w + c.normOffset);
}

/**
 * The same model with the f32 weights the GPU computes with when it loads `files` at `dtype`
 * (quantized matrices dequantized, embeddings rounded to f16): the CPU reference of a q8 / q4
 * GpuModel is ReferenceModel.fromFiles(dequantizedFiles(files, dtype)).
 */
export function dequantizedFiles(files: ModelFiles, dtype: QuantDtype): ModelFiles {
  const { config, tensors } = dequantizedTensors(files.config, files.tensors, tensorF32, dtype, files.quantized);
  return { ...files, config, tensors, quantized: null };
}
