/**
 * What GpuModel.load checks and allocates: the options, the buffers that can outgrow an
 * adapter's limits, and every GPU object of a model, in one call.
 */
import { OptionsError } from '../errors.ts';
import { bindingBytes, type BufferNeed } from '../gpu/limits.ts';
import { PipelineCache, type KernelEnv } from '../gpu/pipelines.ts';
import { ReadbackRing } from '../gpu/readback.ts';
import type { GpuCounter } from '../gpu/counter.ts';
import { MAX_ROWS, StepUniform } from '../gpu/step.ts';
import { defaultKvDtype, isKvDtype, KvCache, kvCacheBytes, kvLayout, type KvDtype, type KvLayout } from '../kv/cache.ts';
import { MAX_TOP_K } from '../ops/topk.ts';
import type { ModelConfig } from './config.ts';
import { activationBytesPerRow, allocateActivations } from './forward-buffers.ts';
import { buildOps, type Fusion } from './forward-ops.ts';
import { preferredMatmulVariant } from '../ops/matmul.ts';
import { isSoftwareAdapter } from '../gpu/adapter.ts';
import { checkTiling, splitTilings, tuneMatmul, type MatmulTiling, type TuningResult } from '../ops/matmul-tuning.ts';
import { embedDtypeOf, matrixBytes, uploadWeights, type WeightDtype } from './upload.ts';
import type { ModelFiles } from './weights.ts';

export interface GpuModelOptions {
  /** Longest committed context in tokens (prompt + generated); at most max_position_embeddings. */
  maxContext: number;
  /** Most rows of one pass: root + draft nodes, or a prefill chunk (1..128, default 128). */
  maxTreeRows?: number;
  /** Matrix storage on the GPU (default 'f16': half the memory and bandwidth of 'f32'; 'q8' / 'q4' blocks, src/model/quantize.ts). */
  weightDtype?: WeightDtype;
  /**
   * KV cache storage (src/kv/cache.ts): 'f16' halves its memory, rounding every K and V to f16
   * when written (the output then equals the CPU reference run with the same f16 cache, not
   * the f32 one); default: it follows weightDtype, 'f32' for f32 weights, else 'f16'
   * (defaultKvDtype).
   */
  kvDtype?: KvDtype;
  /**
   * Every RMSNorm fused into the projections after it (src/model/forward-ops.ts): two
   * dispatches per layer and one per pass fewer. Default: on for a GPU adapter, off on a
   * software one. On a GPU a decode pass of a browser-size model costs its dispatches (about
   * 28 us each on an H200, DESIGN section 8), so the saved dispatches are the point, although
   * the fused 'split' kernels measured slower in isolation there (an H200: a 16-row pass 3.1 vs
   * 2.7 ms on the shipped target, a 64-row pass 26.3 vs 16.4 ms on a SmolLM2-135M-shaped model;
   * tools/bench-pass.ts --fuse-norm on|off; remeasure with tools/gpu-check.sh). SwiftShader
   * has no dispatch cost to save and its 'dot' entry pays a workgroup barrier (15% per token).
   */
  fuseNorm?: boolean;
  /**
   * The final RMSNorm alone fused into the LM head (implied by fuseNorm): one dispatch per pass.
   * Default on: the head's workgroups each recompute one row's norm, a few hundred adds
   * against a vocabulary-wide matmul.
   */
  fuseFinalNorm?: boolean;
  /**
   * SwiGLU's silu(gate) * up computed inside the down projection (src/model/forward-ops.ts):
   * one dispatch per layer. Default on for SwiGLU models (GeGLU's tanh-GELU has no fused
   * entry, so Gemma keeps the separate kernel and refuses the option): on SwiftShader ('dot') the fused pass measured 0.99,
   * 1.12 and 1.07x the unfused one at 1, 4 and 16 rows (tools/bench-pass.ts --fuse-silu
   * off,on), within noise of it at a decode row; on a GPU's 'split' entry every workgroup of 4
   * output columns recomputes the whole gated input (hidden / 4 times the exps of the separate
   * kernel), cheap next to the dispatch it saves.
   */
  fuseSilu?: boolean;
  /**
   * How the matmul kernels are tiled (src/ops/matmul-tuning.ts): 'auto' measures the
   * candidates for the adapter at load and keeps the fastest; 'default' takes MatmulOp's
   * defaults for the adapter; or a given tiling. Default: 'auto' where the adapter runs the
   * split entry (GPUs), 'default' on software adapters (the dot entry, whose pipelines take
   * seconds each to compile there).
   */
  matmulTiling?: 'auto' | 'default' | MatmulTiling;
  /** Top-k width computed per row for the drafters (1..16, default 8). */
  topK?: number;
  /**
   * Logits per slice of the top-k's first stage (src/ops/topk.ts; >= 1, Infinity: one slice).
   * Default: the adapter's, preferredTopKSlice (2048 on a GPU, a whole row on a software
   * adapter). Tests set it to build a GPU's two-stage top-k on any adapter.
   */
  topKSlice?: number;
  /**
   * VocabTrim (a draft model's option): the LM head keeps only these N distinct token ids, in
   * this order. Logits, probs and top-k ids are then (rows, N) and index into this list, not
   * the vocabulary: the caller maps them back. Default: the whole vocabulary.
   */
  lmHeadRows?: Int32Array;
  /**
   * Internal (tests): the most bytes of one part of the embedding or LM head, below the
   * adapter's binding limit, so that a tiny model takes the split path (src/model/upload.ts
   * RowParts) a 128k-vocabulary model takes. Default: the adapter's binding limit.
   */
  maxPartBytes?: number;
}

/** Bytes of one part of a matrix split by rows: the adapter's binding limit, or GpuModelOptions.maxPartBytes below it. */
export function partLimit(device: GPUDevice, o: GpuModelOptions): number {
  const limit = bindingBytes(device.limits);
  if (o.maxPartBytes === undefined) return limit;
  if (!(Number.isInteger(o.maxPartBytes) && o.maxPartBytes >= 4)) throw new OptionsError(`GpuModel: maxPartBytes is ${o.maxPartBytes}, expected an integer >= 4`);
  return Math.min(limit, o.maxPartBytes);
}

/**
 * The fusions of a load: the options where given, else the adapter's plan (GpuModelOptions):
 * on a GPU every fusion (6 dispatches per layer + 4 per pass), on a software adapter the norms
 * of the layers as their own kernels (8 per layer + 4); silu * up fused for SwiGLU models only.
 */
export function defaultFusion(device: GPUDevice, c: ModelConfig, o: GpuModelOptions): Fusion {
  const norm = o.fuseNorm ?? !isSoftwareAdapter(device);
  // the down projection's gated entry computes silu only: GeGLU (Gemma) keeps its own kernel
  return { norm, finalNorm: norm || (o.fuseFinalNorm ?? true), silu: o.fuseSilu ?? c.hiddenAct === 'silu' };
}

/** The tiling option as a check-passed value: 'auto', or a tiling, or null (MatmulOp's defaults). */
export function tilingOption(device: GPUDevice, o: GpuModelOptions): 'auto' | MatmulTiling | null {
  const t = o.matmulTiling ?? (preferredMatmulVariant(device) === 'split' ? 'auto' : 'default');
  if (t === 'auto') return 'auto';
  if (t === 'default') return null;
  checkTiling(t, device.limits);
  return t;
}

/**
 * Every GPU object of a model (one call at load). With tiling 'auto' the split entry's
 * candidates are timed on the uploaded gate/up matrices (the largest of a layer) first.
 */
export async function allocate(device: GPUDevice, files: ModelFiles, counter: GpuCounter, o: { maxContext: number; maxRows: number; dtype: WeightDtype; kvDtype: KvDtype; topK: number; topKSlice?: number; lmHeadRows?: Int32Array; fuse: Fusion; tiling: 'auto' | MatmulTiling | null; partLimit: number }) {
  const c = files.config;
  const { maxRows, topK } = o;
  const capacity = o.maxContext + maxRows;
  const pipelines = new PipelineCache(device);
  const step = new StepUniform(device, 'forward.step');
  const env: KernelEnv = { device, pipelines, step: step.buffer };
  const outVocab = o.lmHeadRows?.length ?? c.vocabSize;
  const weights = uploadWeights(device, files, o.dtype, o.partLimit, o.lmHeadRows);
  const acts = allocateActivations(device, c, maxRows, o.maxContext, topK, outVocab);
  const kvShape = { numLayers: c.numLayers, nKvHeads: c.numKvHeads, headDim: c.headDim, capacity, maxRows, dtype: o.kvDtype, layerWindows: c.layerWindows };
  const kv = new KvCache(device, pipelines, kvShape, counter);
  let tuning: TuningResult | null = null;
  const candidates = o.tiling === 'auto' ? splitTilings(device.limits) : [];
  if (candidates.length > 1) {
    const probe = { weights: weights.layers.map((l) => l.wGateUp), inDim: c.hiddenSize, outDim: 2 * c.intermediateSize, dtype: o.dtype, setRows: (rows: number) => step.write(rows) };
    // decode and a typical tree (16 rows), or the largest pass the model allows
    tuning = await tuneMatmul(env, probe, candidates, [...new Set([1, Math.min(16, maxRows)])]);
  }
  const tiling = tuning?.chosen ?? (o.tiling === 'auto' ? null : o.tiling);
  const ops = buildOps(env, c, weights, acts, kv, maxRows, topK, outVocab, { fuse: o.fuse, tiling, topKSlice: o.topKSlice });
  const topKReadback = new ReadbackRing(device, 'forward.topKReadback', maxRows * topK * 4, counter, 2);
  const hostBytes = maxRows * outVocab * 4;
  const hostStaging = device.createBuffer({ label: 'forward.hostStaging', size: hostBytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const memory = { weights: weights.bytes, kvCache: kvCacheBytes(kvShape), activations: maxRows * activationBytesPerRow(c, topK, outVocab) + hostBytes };
  return { pipelines, step, weights, acts, kv, ops, topKReadback, hostStaging, memory, tiling, tuning };
}

/**
 * The buffers of a load that can outgrow an adapter's limits (every other one is smaller than
 * one of these), whole: the embedding and LM head carry their row size, as they are split by
 * rows above one binding (limits.ts partBytes gives the part that must fit).
 */
/** Bytes of a cache's largest layer: a full one where any layer is full, else a ring. */
function largestKvLayer(l: KvLayout): number {
  return l.rings.every((r) => r) ? l.ringBytes : l.fullBytes;
}

export function largestBuffers(c: ModelConfig, maxRows: number, capacity: number, dtype: WeightDtype, outVocab: number, kvDtype: KvDtype): BufferNeed[] {
  const h = c.hiddenSize;
  const qd = c.numHeads * c.headDim;
  const w = (label: string, rows: number, cols: number, d = dtype): BufferNeed => ({ label: `weights.${label}`, bytes: matrixBytes(rows, cols, d), binding: true });
  const split = (label: string, rows: number, d: WeightDtype): BufferNeed => ({ ...w(label, rows, h, d), rowBytes: matrixBytes(1, h, d) });
  return [
    // the embedding table stays f16 under q8 / q4 (upload.ts)
    split('model.embed_tokens.weight', c.vocabSize, embedDtypeOf(dtype)),
    // the LM head (its own buffer unless tied and stored like the embedding; it is never larger than the embedding then)
    ...(c.tieWordEmbeddings ? [] : [split('lm_head.weight', outVocab, dtype)]),
    w('model.layers.0.self_attn.qkv_proj.weight', qd + 2 * c.numKvHeads * c.headDim, h),
    w('model.layers.0.self_attn.o_proj.weight', h, qd),
    w('model.layers.0.mlp.gate_up_proj', 2 * c.intermediateSize, h),
    w('model.layers.0.mlp.down_proj.weight', h, c.intermediateSize),
    // the largest layer's range of the shared K buffer (a ring is smaller than a full layer): a buffer holds as many as the limits allow (kv/cache.ts)
    { label: 'kv.k0', bytes: largestKvLayer(kvLayout({ numLayers: c.numLayers, nKvHeads: c.numKvHeads, headDim: c.headDim, capacity, maxRows, dtype: kvDtype, layerWindows: c.layerWindows })), binding: true },
    { label: 'forward.ropeTable', bytes: capacity * Math.max(c.rotaryDim, c.localRope.rotaryDim) * 4, binding: true },
    { label: 'forward.logits', bytes: maxRows * outVocab * 4, binding: true },
    { label: 'forward.gateUp', bytes: maxRows * 2 * c.intermediateSize * 4, binding: true },
    { label: 'forward.hostStaging', bytes: maxRows * outVocab * 4, binding: false },
  ];
}

export function checkOptions(c: ModelConfig, o: GpuModelOptions): { maxContext: number; maxRows: number; dtype: WeightDtype; kvDtype: KvDtype; topK: number; topKSlice?: number; lmHeadRows?: Int32Array } {
  const maxRows = o.maxTreeRows ?? MAX_ROWS;
  const topK = o.topK ?? 8;
  const rows = o.lmHeadRows;
  if (rows && (rows.length < 1 || new Set(rows).size !== rows.length || rows.some((t) => !(t >= 0 && t < c.vocabSize)))) {
    throw new OptionsError(`GpuModel: lmHeadRows must be 1..${c.vocabSize} distinct token ids in [0, ${c.vocabSize}), got ${rows.length} ids`);
  }
  const outVocab = rows?.length ?? c.vocabSize;
  if (!Number.isInteger(topK) || topK < 1 || topK > Math.min(MAX_TOP_K, outVocab)) {
    throw new OptionsError(`GpuModel: topK is ${topK}, expected an integer in 1..${Math.min(MAX_TOP_K, outVocab)}`);
  }
  const dtype = o.weightDtype ?? 'f16';
  if (!Number.isInteger(o.maxContext) || o.maxContext < 1 || o.maxContext > c.maxPositionEmbeddings) {
    throw new OptionsError(`GpuModel: maxContext is ${o.maxContext}, expected an integer in 1..${c.maxPositionEmbeddings} (max_position_embeddings)`);
  }
  if (!Number.isInteger(maxRows) || maxRows < 1 || maxRows > MAX_ROWS) {
    throw new OptionsError(`GpuModel: maxTreeRows is ${maxRows}, expected an integer in 1..${MAX_ROWS} (four u32 of ancestor mask per row)`);
  }
  if (o.topKSlice !== undefined && !(o.topKSlice >= 1)) throw new OptionsError(`GpuModel: topKSlice is ${o.topKSlice}, expected a number >= 1 (Infinity: one slice)`);
  if (o.fuseSilu && c.hiddenAct !== 'silu') throw new OptionsError(`GpuModel: fuseSilu computes SwiGLU in the down projection; this model's MLP is ${c.hiddenAct} (GeGLU), leave fuseSilu off`);
  if (!['f32', 'f16', 'q8', 'q4'].includes(dtype)) throw new OptionsError(`GpuModel: weightDtype is ${JSON.stringify(dtype)}, expected "f32", "f16", "q8" or "q4"`);
  const kvDtype = o.kvDtype ?? defaultKvDtype(dtype);
  if (!isKvDtype(kvDtype)) throw new OptionsError(`GpuModel: kvDtype is ${JSON.stringify(kvDtype)}, expected "f32" or "f16"`);
  return { maxContext: o.maxContext, maxRows, dtype, kvDtype, topK, topKSlice: o.topKSlice, lmHeadRows: rows };
}
