/**
 * The GPU memory a model needs, computed from its config alone (no weights read), so that
 * Engine.load and `treespec inspect` can refuse or pick a weight format before downloading.
 * Each term mirrors what GpuModel.load allocates (gpu-model-setup.ts `allocate`):
 *
 *  weights      upload.ts: matrices at the weight format (f32; f16 two per u32, rows packed
 *               separately; q8 / q4 blocks with f16 scales, quantize.ts), norms and biases f32,
 *               the embedding table f32 (f32 weights) or f16 (else), the LM head its own buffer
 *               unless tied and stored like the embedding (f32, f16), a tied head quantized
 *               as its own copy in q8 / q4. An embedding or head larger than one binding is
 *               split by rows into buffers holding exactly its rows: the same bytes.
 *  kvCache      kv/cache.ts `kvCacheBytes`: capacity = maxContext + maxRows slots per layer, a
 *               sliding-window layer's ring of window + maxRows slots where fewer, f32 or
 *               (kvDtype 'f16') f16 packed two per u32.
 *  activations  forward-buffers.ts: maxRows * activationBytesPerRow, the RoPE tables (capacity,
 *               rotaryDim) f32 each (headDim, less under Phi-3's partial rotary), the top-k
 *               stage-1 scratch on adapters that slice it, and the KV cache's (maxRows) u32
 *               commit path.
 *  staging      the (maxRows, vocab) f32 host staging of readLogits / readProbs and the
 *               two-slot top-k readback ring.
 *
 * Not counted: uniforms and 4-byte placeholder bindings (16 bytes or less each, a few per op;
 * test/gpu/memory-estimate.test.ts bounds them), the matmul tuning's transient inputs on
 * GPUs (smaller than the activations, freed after the load), and drafters' own buffers.
 * WebGPU exposes no total memory, so the total is checked against a budget the caller gives.
 */
import { ModelTooLargeError } from '../errors.ts';
import { matrixRowWords } from '../ops/matmul.ts';
import { MAX_ROWS } from '../gpu/step.ts';
import { topKSlices } from '../ops/topk.ts';
import { partBytes, type BufferLimits, type BufferNeed } from '../gpu/limits.ts';
import { defaultKvDtype, kvCacheBytes, type KvDtype } from '../kv/cache.ts';
import { kvDim, qDim, type ModelConfig } from './config.ts';
import { activationBytesPerRow } from './forward-buffers.ts';
import { largestBuffers } from './gpu-model-setup.ts';
import { embedDtypeOf, type WeightDtype } from './upload.ts';

/** The formats in order of precision (most precise first). */
export const WEIGHT_FORMATS: readonly WeightDtype[] = ['f32', 'f16', 'q8', 'q4'];

/** What a load allocates besides the config: the GpuModelOptions that size buffers. */
export interface MemoryShape {
  dtype: WeightDtype;
  /** Longest committed context (prompt + output). */
  maxContext: number;
  /** Most rows of one pass (maxTreeNodes + 1; default MAX_ROWS). */
  maxRows?: number;
  /** Top-k width per row (default 8, as GpuModel). */
  topK?: number;
  /** Logits per top-k slice: the adapter's preferredTopKSlice (default 2048, a GPU's; Infinity on software adapters). */
  topKSlice?: number;
  /** KV cache storage (default: defaultKvDtype(dtype), as GpuModel). */
  kvDtype?: KvDtype;
}

export interface MemoryEstimate {
  dtype: WeightDtype;
  maxContext: number;
  maxRows: number;
  /** How the KV cache stores K and V (MemoryShape.kvDtype or the weights' default). */
  kvDtype: KvDtype;
  /** Bytes of every weight buffer. */
  weights: number;
  /** Bytes of the K and V buffers of every layer. */
  kvCache: number;
  /** Bytes of the per-pass buffers (activations, RoPE tables, top-k scratch, KV commit path). */
  activations: number;
  /** Bytes of the MAP_READ staging buffers. */
  staging: number;
  /** weights + kvCache + activations + staging. */
  total: number;
  /**
   * The buffers that can outgrow an adapter's per-buffer limits (the largest of each kind), as
   * GpuModel.load checks them; the embedding and LM head whole, with their row size (rowBytes):
   * above one binding they are split by rows into several buffers of the same total.
   */
  largest: BufferNeed[];
}

/** Bytes of a (rows, cols) matrix stored as `dtype` (upload.ts packMatrix). */
function matrix(rows: number, cols: number, dtype: WeightDtype): number {
  return rows * matrixRowWords(cols, dtype) * 4;
}

/** Bytes of every weight buffer uploadWeights creates for this config (without lmHeadRows). */
export function weightBytes(c: ModelConfig, dtype: WeightDtype): number {
  const h = c.hiddenSize;
  const embedDtype = embedDtypeOf(dtype);
  const vec = (n: number) => n * 4; // f32 norms and biases
  const layer =
    vec(h) * (c.sandwichNorms ? 4 : 2) +
    matrix(qDim(c), h, dtype) +
    2 * matrix(kvDim(c), h, dtype) +
    (c.attentionBias ? vec(qDim(c)) + 2 * vec(kvDim(c)) : 0) +
    (c.qkNorm ? 2 * vec(c.headDim) : 0) +
    matrix(h, qDim(c), dtype) +
    matrix(2 * c.intermediateSize, h, dtype) +
    matrix(h, c.intermediateSize, dtype);
  const embed = matrix(c.vocabSize, h, embedDtype);
  // a tied head shares the embedding buffer only when both are stored alike (f32, f16)
  const head = c.tieWordEmbeddings && embedDtype === dtype ? 0 : matrix(c.vocabSize, h, dtype);
  return embed + c.numLayers * layer + head + vec(h);
}

/** Parameters of the model (every weight element, a tied head counted once). */
export function parameterCount(c: ModelConfig): number {
  const h = c.hiddenSize;
  const layer =
    h * (c.sandwichNorms ? 4 : 2) +
    (qDim(c) + 2 * kvDim(c)) * h +
    (c.attentionBias ? qDim(c) + 2 * kvDim(c) : 0) +
    (c.qkNorm ? 2 * c.headDim : 0) +
    h * qDim(c) +
    3 * c.intermediateSize * h;
  return c.vocabSize * h * (c.tieWordEmbeddings ? 1 : 2) + c.numLayers * layer + h;
}

/** The memory GpuModel.load allocates for `c` with these options (see the header). */
export function estimateMemory(c: ModelConfig, s: MemoryShape): MemoryEstimate {
  const maxRows = s.maxRows ?? MAX_ROWS;
  const topK = s.topK ?? 8;
  const capacity = s.maxContext + maxRows;
  const vocab = c.vocabSize;
  const kvDtype = s.kvDtype ?? defaultKvDtype(s.dtype);
  const kvCache = kvCacheBytes({ numLayers: c.numLayers, nKvHeads: c.numKvHeads, headDim: c.headDim, capacity, maxRows, dtype: kvDtype, layerWindows: c.layerWindows });
  // (capacity, rotaryDim/2) vec2 f32 tables (forward-buffers.ts): the global RoPE, the local one, the NoPE identity
  const ropeTableDims = c.rotaryDim + (c.localLayers.some((l) => l) ? c.localRope.rotaryDim : 0) + (c.noRopeLayers.some((n) => n) ? c.rotaryDim : 0);
  const slices = topKSlices(vocab, s.topKSlice ?? 2048);
  const topKScratch = slices > 1 ? 2 * maxRows * slices * topK * 4 : 0;
  const commitPath = maxRows * 4; // kv.commitPath
  const activations = maxRows * activationBytesPerRow(c, topK, vocab) + capacity * ropeTableDims * 4 + topKScratch + commitPath;
  const staging = maxRows * vocab * 4 + 2 * maxRows * topK * 4;
  const weights = weightBytes(c, s.dtype);
  return {
    dtype: s.dtype,
    maxContext: s.maxContext,
    maxRows,
    kvDtype,
    weights,
    kvCache,
    activations,
    staging,
    total: weights + kvCache + activations + staging,
    largest: largestBuffers(c, maxRows, capacity, s.dtype, vocab, kvDtype),
  };
}

/** Why an estimate does not fit: the limit, what is needed and what is available, in bytes. */
export interface MemoryShortfall {
  limit: 'memoryBudget' | 'maxStorageBufferBindingSize' | 'maxBufferSize';
  needed: number;
  available: number;
  /** The buffer concerned (per-buffer limits), else null (the total). */
  buffer: string | null;
}

/**
 * The first limit `e` exceeds, or null when it fits: each buffer against the adapter's
 * per-buffer limits (a storage binding against both; the embedding and LM head as their row
 * parts, upload.ts RowParts), the total against `budget` (bytes; none: unchecked).
 */
export function shortfall(e: MemoryEstimate, limits: BufferLimits, budget?: number): MemoryShortfall | null {
  for (const whole of e.largest) {
    // the embedding and LM head are split by rows above one binding: their largest part must fit
    const b = { ...whole, bytes: partBytes(whole, limits) };
    if (b.bytes > limits.maxBufferSize) return { limit: 'maxBufferSize', needed: b.bytes, available: limits.maxBufferSize, buffer: b.label };
    if (b.binding && b.bytes > limits.maxStorageBufferBindingSize) {
      return { limit: 'maxStorageBufferBindingSize', needed: b.bytes, available: limits.maxStorageBufferBindingSize, buffer: b.label };
    }
  }
  if (budget !== undefined && e.total > budget) return { limit: 'memoryBudget', needed: e.total, available: budget, buffer: null };
  return null;
}

const MIB = 1024 * 1024;

function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}

/** The refusal of a shortfall, naming the limit, the bytes needed and available. */
function tooLarge(e: MemoryEstimate, s: MemoryShortfall, tried: string): ModelTooLargeError {
  const what = s.buffer ? `its buffer "${s.buffer}" needs` : `it needs ${mib(e.weights)} of weights, ${mib(e.kvCache)} of KV cache, ${mib(e.activations + e.staging)} of activations and staging:`;
  const advice = s.limit === 'memoryBudget'
    ? 'raise memoryBudget, or use a smaller weight format, a shorter maxContext or a smaller model'
    : 'use a smaller weight format, a shorter maxContext or a smaller model';
  return new ModelTooLargeError(
    `the model does not fit ${tried}: at ${e.dtype} weights and a context of ${e.maxContext}, ${what} ${s.needed} bytes (${mib(s.needed)}), ` +
      `and ${s.limit} is ${s.available} bytes (${mib(s.available)}). Nothing was downloaded or allocated; ${advice}.`,
    { needed: s.needed, available: s.available, limit: s.limit },
  );
}

/**
 * The weight format to load: `requested` when its estimate fits, else a ModelTooLargeError;
 * 'auto': the most precise of WEIGHT_FORMATS that fits (the refusal then names q4's shortfall).
 */
export function chooseWeightDtype(c: ModelConfig, requested: WeightDtype | 'auto', s: Omit<MemoryShape, 'dtype'>, limits: BufferLimits, budget?: number): { dtype: WeightDtype; estimate: MemoryEstimate } {
  const formats = requested === 'auto' ? WEIGHT_FORMATS : [requested];
  let last: { e: MemoryEstimate; s: MemoryShortfall } | null = null;
  for (const dtype of formats) {
    const e = estimateMemory(c, { ...s, dtype });
    const short = shortfall(e, limits, budget);
    if (!short) return { dtype, estimate: e };
    last = { e, s: short };
  }
  throw tooLarge(last!.e, last!.s, requested === 'auto' ? 'in any weight format (f32, f16, q8, q4)' : 'this adapter and budget');
}
