/**
 * Activation buffers of the GPU forward pass (src/model/gpu-model.ts), allocated once at load
 * for `maxRows` rows: a pass of fewer rows uses the leading rows of each buffer.
 */
import { createStorage, uploadStorage } from '../gpu/buffers.ts';
import { identityRopeTable, ropeTable } from '../ops/rope.ts';
import { kvDim, qDim, type ModelConfig } from './config.ts';

export interface Activations {
  /** (maxRows) u32 token id per row. */
  tokens: GPUBuffer;
  /** (maxRows) u32 RoPE position per row. */
  positions: GPUBuffer;
  /** (maxRows, 4) u32 ancestor bitmask: bit j of row r => row r sees slot prefix + j. */
  mask: GPUBuffer;
  /** (capacity, rotaryDim/2) vec2<f32> (cos, sin) per position, written once. */
  ropeTable: GPUBuffer;
  /** (capacity, localRope.rotaryDim/2) the same for the local layers' RoPE (config.localLayers, Gemma 3), or ropeTable itself when no layer is local. */
  ropeTableLocal: GPUBuffer;
  /** (capacity, rotaryDim/2) cos 1, sin 0 for NoPE layers (config.noRopeLayers, SmolLM3), or null when none. */
  ropeTableNone: GPUBuffer | null;
  /** (maxRows, hidden) f32 residual stream; the projections after a norm read it and normalise it themselves. */
  x: GPUBuffer;
  /** (maxRows, hidden) f32 normalised residual, the projections' input where RMSNorm runs as its own kernel (unfused). */
  xn: GPUBuffer;
  /** (maxRows, hidden) f32 attention or MLP output before its norm (config.sandwichNorms, Gemma), else null. */
  branch: GPUBuffer | null;
  /** (maxRows, numHeads + 2 * numKvHeads, headDim) f32 the fused projection's [q | k | v] per row, before RoPE (and the per-head q/k norms). */
  qkv: GPUBuffer;
  /** (maxRows, numHeads, headDim) f32 rotated queries. */
  q: GPUBuffer;
  /** (maxRows, numHeads, headDim) f32 attention output. */
  att: GPUBuffer;
  /** (maxRows, 2 * intermediate) f32 [gate | up] per row. */
  gateUp: GPUBuffer;
  /** (maxRows, intermediate) f32 silu(gate) * up. */
  act: GPUBuffer;
  /** (maxRows, outVocab) f32 logits (outVocab = vocab, or N LM-head rows with VocabTrim). */
  logits: GPUBuffer;
  /** (maxRows, outVocab) f32 softmax(logits / T), computed on demand (readProbs). */
  probs: GPUBuffer;
  /** (maxRows, topK) u32 best token ids per row, best first, ties to the lowest id. */
  topKIds: GPUBuffer;
  /** (maxRows, topK) f32 their logits. */
  topKValues: GPUBuffer;
}

/** Bytes per row of every per-row activation buffer together (the memory bound is maxRows times this). */
export function activationBytesPerRow(c: ModelConfig, topK: number, outVocab = c.vocabSize): number {
  return 4 * (2 + 4 + (c.sandwichNorms ? 3 : 2) * c.hiddenSize + 3 * qDim(c) + 2 * kvDim(c) + 3 * c.intermediateSize + 2 * outVocab + 2 * topK);
}

/** `maxContext`: the context served (it picks LongRoPE's factors); the RoPE tables cover every slot, maxContext + maxRows. */
export function allocateActivations(device: GPUDevice, c: ModelConfig, maxRows: number, maxContext: number, topK: number, outVocab = c.vocabSize): Activations {
  const capacity = maxContext + maxRows;
  const f32 = (label: string, width: number) => createStorage(device, `forward.${label}`, maxRows * width * 4);
  const global = uploadStorage(device, 'forward.ropeTable', ropeTable(c.rotaryDim, c.ropeTheta, c.ropeScaling, capacity, c.ropeLong, maxContext));
  return {
    tokens: f32('tokens', 1),
    positions: f32('positions', 1),
    mask: f32('mask', 4),
    ropeTable: global,
    ropeTableLocal: c.localLayers.some((l) => l)
      ? uploadStorage(device, 'forward.ropeTableLocal', ropeTable(c.localRope.rotaryDim, c.localRope.ropeTheta, c.localRope.ropeScaling, capacity, c.localRope.ropeLong, maxContext))
      : global,
    ropeTableNone: c.noRopeLayers.some((n) => n) ? uploadStorage(device, 'forward.ropeTableNone', identityRopeTable(c.rotaryDim, capacity)) : null,
    x: f32('x', c.hiddenSize),
    xn: f32('xn', c.hiddenSize),
    branch: c.sandwichNorms ? f32('branch', c.hiddenSize) : null,
    qkv: f32('qkv', qDim(c) + 2 * kvDim(c)),
    q: f32('q', qDim(c)),
    att: f32('att', qDim(c)),
    gateUp: f32('gateUp', 2 * c.intermediateSize),
    act: f32('act', c.intermediateSize),
    logits: f32('logits', outVocab),
    probs: f32('probs', outVocab),
    topKIds: f32('topKIds', topK),
    topKValues: f32('topKValues', topK),
  };
}
