/**
 * Weight upload for the GPU forward (src/model/gpu-model.ts): every tensor of validated
 * ModelFiles becomes one storage buffer, once, at load. Matrices keep Hugging Face's (out, in)
 * layout and are stored as f32 or as f16 packed two per u32 with each row packed separately
 * (src/gpu/buffers.ts); norms and biases are always f32. BF16 and F16 files are decoded
 * exactly to f32 first (tensorF32), so an F16 file uploaded as f16 keeps its exact values.
 */
import { f16RowStride, packF16Rows, uploadStorage } from '../gpu/buffers.ts';
import { qDim, type ModelConfig } from './config.ts';
import { tensorF32, type ModelFiles } from './weights.ts';
import type { WeightDtype } from '../ops/embed.ts';

export type { WeightDtype };

export interface LayerWeights {
  /** (hidden) f32. */
  inputNorm: GPUBuffer;
  /** (qDim, hidden) matrix. */
  wq: GPUBuffer;
  /** (kvDim, hidden) matrix. */
  wk: GPUBuffer;
  /** (kvDim, hidden) matrix. */
  wv: GPUBuffer;
  /** (qDim) f32, when the config has q/k/v biases (Qwen2). */
  bq: GPUBuffer | null;
  /** (kvDim) f32. */
  bk: GPUBuffer | null;
  /** (kvDim) f32. */
  bv: GPUBuffer | null;
  /** (hidden, qDim) matrix. */
  wo: GPUBuffer;
  /** (hidden) f32. */
  postNorm: GPUBuffer;
  /** (2 * intermediate, hidden) matrix: gate_proj rows then up_proj rows (SiluMulOp's fused layout). */
  wGateUp: GPUBuffer;
  /** (hidden, intermediate) matrix. */
  wDown: GPUBuffer;
}

export interface GpuWeights {
  dtype: WeightDtype;
  /** (vocab, hidden) matrix: the embedding table. */
  embed: GPUBuffer;
  /** (vocab, hidden) matrix: lm_head, or the embedding buffer itself when tied; (N, hidden) with lmHeadRows. */
  lmHead: GPUBuffer;
  /** (hidden) f32. */
  finalNorm: GPUBuffer;
  layers: LayerWeights[];
  /** Bytes of GPU memory all weight buffers take. */
  bytes: number;
}

/** Bytes of a (rows, cols) matrix stored as `dtype`. */
export function matrixBytes(rows: number, cols: number, dtype: WeightDtype): number {
  return rows * (dtype === 'f16' ? f16RowStride(cols) : cols) * 4;
}

/**
 * `lmHeadRows` (N ids, VocabTrim): the LM head keeps only these rows, in this order, as its own
 * (N, hidden) buffer, so logits are computed for those N tokens only.
 */
export function uploadWeights(device: GPUDevice, files: ModelFiles, dtype: WeightDtype, lmHeadRows?: Int32Array): GpuWeights {
  const c = files.config;
  let bytes = 0;
  const f32 = (name: string): Float32Array => tensorF32(files.tensors.get(name)!);
  const vector = (name: string): GPUBuffer => {
    const buf = uploadStorage(device, `weights.${name}`, f32(name));
    bytes += buf.size;
    return buf;
  };
  /** A (rows, cols) matrix from one or more HF tensors stacked along the output axis. */
  const matrix = (label: string, names: string[], cols: number): GPUBuffer => {
    const parts = names.map(f32);
    const rows = parts.reduce((n, p) => n + p.length / cols, 0);
    const stacked = parts.length === 1 ? parts[0] : concat(parts);
    const data = dtype === 'f16' ? packF16Rows(stacked, rows, cols) : stacked;
    const buf = uploadStorage(device, `weights.${label}`, data);
    bytes += buf.size;
    return buf;
  };
  const h = c.hiddenSize;
  const embed = matrix('model.embed_tokens.weight', ['model.embed_tokens.weight'], h);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < c.numLayers; l++) layers.push(uploadLayer(c, `model.layers.${l}.`, vector, matrix));
  const headName = c.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  let lmHead = c.tieWordEmbeddings ? embed : matrix('lm_head.weight', ['lm_head.weight'], h);
  if (lmHeadRows) {
    const rows = gatherRows(f32(headName), h, lmHeadRows);
    lmHead = uploadStorage(device, 'weights.lm_head.trimmed', dtype === 'f16' ? packF16Rows(rows, lmHeadRows.length, h) : rows);
    bytes += lmHead.size;
  }
  const finalNorm = vector('model.norm.weight');
  return { dtype, embed, lmHead, finalNorm, layers, bytes };
}

function uploadLayer(
  c: ModelConfig,
  p: string,
  vector: (name: string) => GPUBuffer,
  matrix: (label: string, names: string[], cols: number) => GPUBuffer,
): LayerWeights {
  const h = c.hiddenSize;
  const a = `${p}self_attn.`;
  const bias = (n: string) => (c.attentionBias ? vector(`${a}${n}_proj.bias`) : null);
  return {
    inputNorm: vector(`${p}input_layernorm.weight`),
    wq: matrix(`${a}q_proj.weight`, [`${a}q_proj.weight`], h),
    wk: matrix(`${a}k_proj.weight`, [`${a}k_proj.weight`], h),
    wv: matrix(`${a}v_proj.weight`, [`${a}v_proj.weight`], h),
    bq: bias('q'),
    bk: bias('k'),
    bv: bias('v'),
    wo: matrix(`${a}o_proj.weight`, [`${a}o_proj.weight`], qDim(c)),
    postNorm: vector(`${p}post_attention_layernorm.weight`),
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

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
