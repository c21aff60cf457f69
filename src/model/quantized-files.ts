/**
 * Pre-quantized model files (docs/quantization.md) and the CPU view of quantized weights.
 *
 * Format: an ordinary Hugging Face folder whose safetensors hold, for every linear projection
 * `NAME` (q/k/v/o/gate/up/down_proj.weight of each layer and lm_head.weight, also for a model
 * with tied embeddings), a tensor `NAME.q8` or `NAME.q4` of dtype U8 and shape
 * (out, 4 * quantRowWords(in)): the little-endian bytes of the packed rows of
 * src/model/quantize.ts, exactly what is uploaded. Every other tensor (embeddings, norms,
 * biases) stays as it was. The metadata records `treespec.quantization` (q8 | q4) and
 * `treespec.block` (32) for readers; loading relies on the tensor names alone.
 */
import { SafetensorsError } from '../errors.ts';
import { roundF16 } from './f16.ts';
import { qDim, type ModelConfig } from './config.ts';
import { dequantizeRows, isQuantDtype, QUANT_BLOCK, quantizeRows, quantRowWords, type QuantDtype } from './quantize.ts';
import { serializeSafetensors, type RawTensor } from './safetensors.ts';

/** Packed rows of the quantized matrices of a pre-quantized file. */
export interface QuantizedWeights {
  dtype: QuantDtype;
  /** HF name (e.g. "lm_head.weight") -> (out, quantRowWords(in)) u32. */
  packed: Map<string, Uint32Array>;
}

/** HF name -> (out, in) of every matrix that q8 / q4 store quantized. */
export function quantizedMatrices(c: ModelConfig): Map<string, [number, number]> {
  const m = new Map<string, [number, number]>();
  const h = c.hiddenSize;
  const I = c.intermediateSize;
  const kv = c.numKvHeads * c.headDim;
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}.`;
    m.set(`${p}self_attn.q_proj.weight`, [qDim(c), h]);
    m.set(`${p}self_attn.k_proj.weight`, [kv, h]);
    m.set(`${p}self_attn.v_proj.weight`, [kv, h]);
    m.set(`${p}self_attn.o_proj.weight`, [h, qDim(c)]);
    m.set(`${p}mlp.gate_proj.weight`, [I, h]);
    m.set(`${p}mlp.up_proj.weight`, [I, h]);
    m.set(`${p}mlp.down_proj.weight`, [h, I]);
  }
  m.set('lm_head.weight', [c.vocabSize, h]);
  return m;
}

function f32Tensor(name: string, shape: number[], values: Float32Array): RawTensor {
  return { name, dtype: 'F32', shape, data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

/**
 * Takes the `NAME.q8` / `NAME.q4` tensors out of a file's tensors. Each quantized matrix also
 * gets an F32 tensor NAME of its dequantized values (what the CPU reference and every f32
 * reader see; a tied model's lm_head.weight is left out, the embedding serves), so the rest
 * of loading and validation is unchanged. Returns null when the file holds none.
 */
export function extractQuantized(all: Map<string, RawTensor>, c: ModelConfig, file: string): QuantizedWeights | null {
  const shapes = quantizedMatrices(c);
  let dtype: QuantDtype | null = null;
  const packed = new Map<string, Uint32Array>();
  for (const [name, t] of [...all]) {
    const dot = name.lastIndexOf('.');
    const suffix = name.slice(dot + 1);
    if (t.dtype === 'U8' && !isQuantDtype(suffix)) throw new SafetensorsError(`${file}: tensor "${name}" is U8 but not a .q8 / .q4 quantized matrix`);
    if (!isQuantDtype(suffix)) continue;
    const base = name.slice(0, dot);
    const shape = shapes.get(base);
    if (!shape) throw new SafetensorsError(`${file}: tensor "${name}": "${base}" is not a quantizable matrix of this model`);
    if (dtype && suffix !== dtype) throw new SafetensorsError(`${file}: tensor "${name}" is ${suffix}, other matrices are ${dtype}`);
    dtype = suffix;
    const rowBytes = 4 * quantRowWords(shape[1], dtype);
    if (t.dtype !== 'U8' || t.shape.length !== 2 || t.shape[0] !== shape[0] || t.shape[1] !== rowBytes) {
      throw new SafetensorsError(`${file}: tensor "${name}" is ${t.dtype} [${t.shape.join(', ')}], expected U8 [${shape[0]}, ${rowBytes}] (${dtype} rows of ${shape[1]} inputs)`);
    }
    const words = new Uint32Array(t.data.slice().buffer);
    packed.set(base, words);
    all.delete(name);
    if (!(c.tieWordEmbeddings && base === 'lm_head.weight')) all.set(base, f32Tensor(base, shape, dequantizeRows(words, shape[0], shape[1], dtype)));
  }
  if (!dtype) return null;
  const missing = [...shapes.keys()].filter((n) => !packed.has(n));
  if (missing.length) throw new SafetensorsError(`${file}: a ${dtype} file must quantize every projection; missing ${missing.slice(0, 3).map((n) => `${n}.${dtype}`).join(', ')}`);
  return { dtype, packed };
}

/** Packed rows of matrix `name` when the files were pre-quantized as `dtype`, else null. */
export function storedQuantized(quantized: QuantizedWeights | null | undefined, name: string, dtype: QuantDtype): Uint32Array | null {
  return quantized?.dtype === dtype ? quantized.packed.get(name) ?? null : null;
}

/** f32 values of a (rows, cols) matrix as the GPU sees it at `dtype`: stored packed rows, or quantized now. */
export function quantizedValues(values: () => Float32Array, stored: Uint32Array | null, rows: number, cols: number, dtype: QuantDtype): Float32Array {
  return dequantizeRows(stored ?? quantizeRows(values(), rows, cols, dtype), rows, cols, dtype);
}

/**
 * Tensors of a pre-quantized file: each quantized matrix as NAME.qN (U8), the rest as given.
 * `f32` reads a tensor's exact values; `tensors` are the model's validated tensors.
 */
export function serializeQuantized(c: ModelConfig, tensors: Map<string, RawTensor>, f32: (t: RawTensor) => Float32Array, dtype: QuantDtype): Uint8Array {
  const shapes = quantizedMatrices(c);
  const out: RawTensor[] = [];
  for (const [name, t] of tensors) if (!shapes.has(name)) out.push(t);
  for (const [name, [rows, cols]] of shapes) {
    const src = tensors.get(name) ?? tensors.get('model.embed_tokens.weight')!; // tied LM head
    const words = quantizeRows(f32(src), rows, cols, dtype);
    out.push({ name: `${name}.${dtype}`, dtype: 'U8', shape: [rows, 4 * quantRowWords(cols, dtype)], data: new Uint8Array(words.buffer) });
  }
  return serializeSafetensors(out, { format: 'pt', 'treespec.quantization': dtype, 'treespec.block': String(QUANT_BLOCK) });
}

/**
 * The f32 weights the GPU computes with at `dtype` (for the CPU reference and the quality
 * tool): quantized matrices dequantized, the embedding table rounded to f16 as uploaded, and a
 * tied LM head untied into its own (quantized) matrix.
 */
export function dequantizedTensors(c: ModelConfig, tensors: Map<string, RawTensor>, f32: (t: RawTensor) => Float32Array, dtype: QuantDtype, quantized?: QuantizedWeights | null): { config: ModelConfig; tensors: Map<string, RawTensor> } {
  const out = new Map(tensors);
  const embedName = 'model.embed_tokens.weight';
  for (const [name, [rows, cols]] of quantizedMatrices(c)) {
    const src = tensors.get(name) ?? tensors.get(embedName)!;
    out.set(name, f32Tensor(name, [rows, cols], quantizedValues(() => f32(src), storedQuantized(quantized, name, dtype), rows, cols, dtype)));
  }
  out.set(embedName, f32Tensor(embedName, [c.vocabSize, c.hiddenSize], roundF16(f32(tensors.get(embedName)!))));
  return { config: { ...c, tieWordEmbeddings: false }, tensors: out };
}
