/**
 * Weight upload for the GPU forward (src/model/gpu-model.ts): every tensor of validated
 * ModelFiles becomes one storage buffer, once, at load. Matrices keep Hugging Face's (out, in)
 * layout and are stored as f32, as f16 packed two per u32 with each row packed separately
 * (src/gpu/buffers.ts), or as q8 / q4 blocks (src/model/quantize.ts); norms and biases are
 * always f32. BF16 and F16 files are decoded exactly to f32 first (tensorF32), so an F16 file
 * uploaded as f16 keeps its exact values.
 *
 * Quantized (q8, q4): every linear projection (q, k, v, o, gate, up, down, lm_head) is
 * quantized here from the file's values, or taken as stored from a pre-quantized file
 * (quantizedTensor); the embedding table stays f16 (a gather reads one row per token, so its
 * size costs memory, not bandwidth), and a tied LM head gets its own quantized copy of it.
 *
 * Split by rows (RowParts): the embedding table and the LM head of a 128k-262k vocabulary can
 * exceed one storage binding (maxStorageBufferBindingSize, 128 MiB by default; Llama 3.2 1B's
 * embedding is 501 MiB in f16). Such a matrix is uploaded as consecutive row ranges, each its
 * own buffer within `partLimit` bytes: the gather reads the part holding a token's row and the
 * LM head runs one matmul per part into its own columns of the logits (src/model/forward-ops.ts).
 * The parts hold exactly the rows' bytes, so the memory is that of one buffer.
 */
import { packF16Rows, uploadStorage } from '../gpu/buffers.ts';
import { rowsPerPart } from '../gpu/limits.ts';
import { matrixRowWords, type MatrixDtype } from '../ops/matmul.ts';
import type { WeightDtype as EmbedDtype } from '../ops/embed.ts';
import { qDim, type ModelConfig } from './config.ts';
import { isQuantDtype, quantizeRows } from './quantize.ts';
import { storedQuantized } from './quantized-files.ts';
import { tensorF32, weightF32, type ModelFiles } from './weights.ts';

/** How matrices are stored on the GPU. */
export type WeightDtype = MatrixDtype;

export interface LayerWeights {
  /** (hidden) f32. */
  inputNorm: GPUBuffer;
  /**
   * (qDim + 2 * kvDim, hidden) matrix: q_proj rows, then k_proj rows, then v_proj rows, so the
   * three projections are one matmul (one dispatch) whose output row is [q | k | v].
   */
  wQkv: GPUBuffer;
  /** (qDim + 2 * kvDim) f32 [bq | bk | bv], when the config has q/k/v biases (Qwen2). */
  bQkv: GPUBuffer | null;
  /** (2, headDim) f32 [q_norm | k_norm], the per-head RMSNorms of q and k (config.qkNorm: Qwen3, Gemma 3), else null. */
  qkNorm: GPUBuffer | null;
  /** (hidden, qDim) matrix. */
  wo: GPUBuffer;
  /** (hidden) f32. */
  postNorm: GPUBuffer;
  /** (hidden) f32, Gemma's pre_feedforward_layernorm (config.sandwichNorms), else null. */
  preFfNorm: GPUBuffer | null;
  /** (hidden) f32, Gemma's post_feedforward_layernorm, else null. */
  postFfNorm: GPUBuffer | null;
  /** (2 * intermediate, hidden) matrix: gate_proj rows then up_proj rows (SiluMulOp's fused layout). */
  wGateUp: GPUBuffer;
  /** (hidden, intermediate) matrix. */
  wDown: GPUBuffer;
}

/**
 * A (rows, cols) matrix as consecutive row ranges, one buffer each: part i holds rows
 * [i * partRows, min(rows, (i + 1) * partRows)). One part when the matrix fits one binding.
 */
export interface RowParts {
  parts: GPUBuffer[];
  /** Rows of every part but the last. */
  partRows: number;
  rows: number;
}

export interface GpuWeights {
  /** Storage of the projection matrices and LM head. */
  dtype: WeightDtype;
  /** Storage of the embedding table: dtype, or f16 when dtype is quantized. */
  embedDtype: EmbedDtype;
  /** (vocab, hidden) `embedDtype`: the embedding table, split by rows above partLimit. */
  embed: RowParts;
  /** (vocab, hidden) matrix: lm_head, or the embedding's parts themselves when tied and not quantized; (N, hidden) with lmHeadRows. */
  lmHead: RowParts;
  /** (hidden) f32. */
  finalNorm: GPUBuffer;
  layers: LayerWeights[];
  /** Bytes of GPU memory all weight buffers take. */
  bytes: number;
}

/** Bytes of a (rows, cols) matrix stored as `dtype`. */
export function matrixBytes(rows: number, cols: number, dtype: WeightDtype): number {
  return rows * matrixRowWords(cols, dtype) * 4;
}

/** The embedding table's storage for matrices stored as `dtype`. */
export function embedDtypeOf(dtype: WeightDtype): EmbedDtype {
  return dtype === 'f32' ? 'f32' : 'f16';
}

/** (rows, cols) f32 values packed as `dtype`. */
export function packMatrix(values: Float32Array, rows: number, cols: number, dtype: WeightDtype): Float32Array | Uint32Array {
  if (dtype === 'f32') return values;
  return dtype === 'f16' ? packF16Rows(values, rows, cols) : quantizeRows(values, rows, cols, dtype);
}

/**
 * `lmHeadRows` (N ids, VocabTrim): the LM head keeps only these rows, in this order, as its own
 * (N, hidden) buffer, so logits are computed for those N tokens only. `partLimit`: the most
 * bytes of one buffer of the embedding or LM head (split by rows above it, RowParts).
 */
export function uploadWeights(device: GPUDevice, files: ModelFiles, dtype: WeightDtype, partLimit: number, lmHeadRows?: Int32Array): GpuWeights {
  const c = files.config;
  let bytes = 0;
  const f32 = (name: string): Float32Array => tensorF32(files.tensors.get(name)!);
  const upload = (label: string, data: Float32Array | Uint32Array): GPUBuffer => {
    const buf = uploadStorage(device, `weights.${label}`, data);
    bytes += buf.size;
    return buf;
  };
  /**
   * One f32 vector from one or more HF tensors, back to back; norm weights with the config's
   * normOffset (Gemma's 1 + w), as the CPU reference reads them (weightF32: biases get none).
   */
  const vector = (name: string, parts: string[] = [name]): GPUBuffer => upload(name, concat(parts.map((n) => weightF32(c, n, files.tensors.get(n)!))));
  /** A (rows, cols) matrix from one or more HF tensors stacked along the output axis (rows are packed independently). */
  const matrix = (label: string, names: string[], cols: number): GPUBuffer => {
    const stored = isQuantDtype(dtype) ? names.map((n) => storedQuantized(files.quantized, n, dtype)) : [];
    if (stored.length && stored.every((p) => p !== null)) return upload(label, concat(stored as Uint32Array[]));
    const parts = names.map(f32);
    const rows = parts.reduce((n, p) => n + p.length / cols, 0);
    return upload(label, packMatrix(parts.length === 1 ? parts[0] : concat(parts), rows, cols, dtype));
  };
  /** A packed (rows, cols) matrix uploaded as row parts within partLimit (labels `.partI` when split). */
  const parts = (label: string, packed: Float32Array | Uint32Array, rows: number, cols: number, d: WeightDtype): RowParts => {
    const words = matrixRowWords(cols, d);
    const partRows = rowsPerPart(rows, words * 4, partLimit);
    const out: GPUBuffer[] = [];
    for (let r = 0; r < rows; r += partRows) {
      const part = packed.subarray(r * words, Math.min(rows, r + partRows) * words);
      out.push(upload(partRows === rows ? label : `${label}.part${out.length}`, part));
    }
    return { parts: out, partRows, rows };
  };
  const h = c.hiddenSize;
  const embedDtype = embedDtypeOf(dtype);
  const embed = parts('model.embed_tokens.weight', packMatrix(f32('model.embed_tokens.weight'), c.vocabSize, h, embedDtype), c.vocabSize, h, embedDtype);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < c.numLayers; l++) layers.push(uploadLayer(c, `model.layers.${l}.`, vector, matrix));
  const headName = c.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  let lmHead: RowParts;
  if (lmHeadRows) {
    const n = lmHeadRows.length;
    lmHead = parts('lm_head.trimmed', packMatrix(gatherRows(f32(headName), h, lmHeadRows), n, h, dtype), n, h, dtype);
  } else if (c.tieWordEmbeddings && embedDtype === dtype) {
    lmHead = embed;
  } else {
    // quantized: a stored lm_head.weight.qN (also written for tied models), else the head's values quantized now
    const stored = isQuantDtype(dtype) ? storedQuantized(files.quantized, 'lm_head.weight', dtype) : null;
    lmHead = parts('lm_head.weight', stored ?? packMatrix(f32(headName), c.vocabSize, h, dtype), c.vocabSize, h, dtype);
  }
  const finalNorm = vector('model.norm.weight');
  return { dtype, embedDtype, embed, lmHead, finalNorm, layers, bytes };
}

function uploadLayer(
  c: ModelConfig,
  p: string,
  vector: (name: string, parts?: string[]) => GPUBuffer,
  matrix: (label: string, names: string[], cols: number) => GPUBuffer,
): LayerWeights {
  const h = c.hiddenSize;
  const a = `${p}self_attn.`;
  const qkv = (kind: 'weight' | 'bias') => ['q', 'k', 'v'].map((n) => `${a}${n}_proj.${kind}`);
  return {
    inputNorm: vector(`${p}input_layernorm.weight`),
    wQkv: matrix(`${a}qkv_proj.weight`, qkv('weight'), h),
    bQkv: c.attentionBias ? vector(`${a}qkv_proj.bias`, qkv('bias')) : null,
    qkNorm: c.qkNorm ? vector(`${a}qk_norm.weight`, [`${a}q_norm.weight`, `${a}k_norm.weight`]) : null,
    wo: matrix(`${a}o_proj.weight`, [`${a}o_proj.weight`], qDim(c)),
    postNorm: vector(`${p}post_attention_layernorm.weight`),
    preFfNorm: c.sandwichNorms ? vector(`${p}pre_feedforward_layernorm.weight`) : null,
    postFfNorm: c.sandwichNorms ? vector(`${p}post_feedforward_layernorm.weight`) : null,
    wGateUp: matrix(`${p}mlp.gate_up_proj`, [`${p}mlp.gate_proj.weight`, `${p}mlp.up_proj.weight`], h),
    wDown: matrix(`${p}mlp.down_proj.weight`, [`${p}mlp.down_proj.weight`], c.intermediateSize),
  };
}

/** (ids.length, cols) rows `ids` of a (rows, cols) matrix. */
function gatherRows(m: Float32Array, cols: number, ids: Int32Array): Float32Array {
  const out = new Float32Array(ids.length * cols);
  ids.forEach((id, i) => out.set(m.subarray(id * cols, (id + 1) * cols), i * cols));
  return out;
}

function concat<T extends Float32Array | Uint32Array>(parts: T[]): T {
  if (parts.length === 1) return parts[0];
  const out = new (parts[0].constructor as new (n: number) => T)(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
