/**
 * Top-k per row, k <= 16: ids and values, best first, ties to the lowest id
 * (shaders/topk_f32.wgsl). Feeds Token Recycling's adjacency matrix and multi-branch drafting.
 *
 * Two stages in one pass: stage 1 finds the k best of each slice of a row, one workgroup per
 * (slice, row), into a scratch buffer; stage 2 merges each row's slice lists. One workgroup
 * per row over a whole vocabulary kept the largest kernel of a decode step on one SM; slicing
 * spreads a row over `slices` workgroups. On a software adapter one slice covers the row
 * (preferredTopKSlice): there the extra lists and merges only add work.
 */
import { isSoftwareAdapter } from '../gpu/adapter.ts';
import { createStorage } from '../gpu/buffers.ts';
import { OpShapeError } from '../gpu/errors.ts';
import { bindBuffers, type GpuOp, type KernelEnv } from '../gpu/pipelines.ts';
import { checkRows, MAX_ROWS } from '../gpu/step.ts';

const WG = 64;
/** Register-list limit of the kernel (MAX_K in shaders/topk_f32.wgsl). */
export const MAX_TOP_K = 16;
/**
 * Logits per stage-1 slice, before the cap below: 32 per thread of a 64-thread workgroup, so the
 * scan still outweighs the log2(64) = 6 merge rounds of k steps that close every slice, while a
 * 32000-49152 vocabulary is cut into 16-24 workgroups per row. The target is a GPU with many
 * SMs: on SwiftShader, which ran a dispatch's workgroups on about one core in our measurements,
 * the extra lists and merges only add work (one 32000-logit row: about 2.7 ms before, 6-10 ms).
 */
const SLICE_TARGET = 2048;
/** Stage 2 holds one slice list per thread, so at most WG slices (longer slices beyond 128k logits). */
const MAX_SLICES = WG;

/** Slices per row of a vocabulary; 1 (stage 1 alone) up to `sliceLength` logits. */
export function topKSlices(vocab: number, sliceLength = SLICE_TARGET): number {
  return Math.max(1, Math.min(MAX_SLICES, Math.ceil(vocab / sliceLength)));
}

/** Logits per slice on this adapter: SLICE_TARGET on a GPU; a whole row (one slice) on a software adapter. */
export function preferredTopKSlice(device: GPUDevice): number {
  return topKSliceFor(isSoftwareAdapter(device));
}

/** preferredTopKSlice by whether the adapter is a software one (for a page that has no device yet). */
export function topKSliceFor(software: boolean): number {
  return software ? Infinity : SLICE_TARGET;
}

export interface TopKBuffers {
  /** (maxRows, vocab) f32. */
  logits: GPUBuffer;
  /** (maxRows, k) u32 token ids, best first. */
  ids: GPUBuffer;
  /** (maxRows, k) f32 logits of those ids. */
  values: GPUBuffer;
}

export interface TopKOptions {
  /** Logits per stage-1 slice (default preferredTopKSlice; Infinity: one slice). */
  sliceLength?: number;
  /**
   * Mark a row holding NaN or infinity: its column 0 becomes NO_ID (-1 as i32) instead of the
   * argmax of its finite logits (shaders/topk_f32.wgsl GUARD). The target's pass sets it, so
   * the acceptance walk never emits a token from a broken row; free, the scan reads every logit.
   */
  guard?: boolean;
}

export class TopKOp implements GpuOp {
  private readonly slicePipeline: GPUComputePipeline;
  private readonly sliceBind: GPUBindGroup;
  /** Stage 2; null when one slice covers the vocabulary and stage 1 writes the outputs. */
  private readonly merge: { pipeline: GPUComputePipeline; bind: GPUBindGroup } | null = null;
  private readonly maxRows: number;
  readonly slices: number;

  constructor(env: KernelEnv, label: string, b: TopKBuffers, readonly vocab: number, readonly k: number, opts: TopKOptions = {}) {
    const sliceLength = opts.sliceLength ?? preferredTopKSlice(env.device);
    this.maxRows = Math.min(MAX_ROWS, Math.floor(b.logits.size / (4 * vocab)), Math.floor(b.ids.size / (4 * k)), Math.floor(b.values.size / (4 * k)));
    if (!Number.isInteger(k) || k < 1 || k > MAX_TOP_K || k > vocab) {
      throw new OpShapeError(`TopKOp "${label}": k must be an integer in 1..min(${MAX_TOP_K}, vocab ${vocab}), got ${k}`);
    }
    if (!Number.isInteger(vocab) || this.maxRows < 1) {
      throw new OpShapeError(`TopKOp "${label}": vocab ${vocab}, k ${k} do not fit logits ${b.logits.size}, ids ${b.ids.size}, values ${b.values.size} bytes`);
    }
    if (!(sliceLength >= 1)) throw new OpShapeError(`TopKOp "${label}": sliceLength must be >= 1, got ${sliceLength}`);
    this.slices = topKSlices(vocab, sliceLength);
    const constants = { WG, K: k, VOCAB: vocab, SLICES: this.slices, GUARD: opts.guard ? 1 : 0 };
    this.slicePipeline = env.pipelines.get('topk_f32', constants, 'main');
    if (this.slices === 1) {
      this.sliceBind = bindBuffers(env.device, `${label}.bind`, this.slicePipeline, [env.step, b.logits, b.ids, b.values]);
      return;
    }
    const bytes = this.maxRows * this.slices * k * 4;
    const sliceIds = createStorage(env.device, `${label}.sliceIds`, bytes); // (maxRows, slices, k) u32
    const sliceVals = createStorage(env.device, `${label}.sliceVals`, bytes); // (maxRows, slices, k) f32
    this.sliceBind = bindBuffers(env.device, `${label}.sliceBind`, this.slicePipeline, [env.step, b.logits, sliceIds, sliceVals]);
    const pipeline = env.pipelines.get('topk_f32', constants, 'merge');
    this.merge = { pipeline, bind: bindBuffers(env.device, `${label}.mergeBind`, pipeline, [env.step, sliceIds, sliceVals, b.ids, b.values]) };
  }

  encode(pass: GPUComputePassEncoder, rows: number): void {
    checkRows(rows, this.maxRows, 'TopKOp.encode');
    pass.setPipeline(this.slicePipeline);
    pass.setBindGroup(0, this.sliceBind);
    pass.dispatchWorkgroups(this.slices, rows);
    if (this.merge) {
      // Dispatches in one pass run in order, so stage 2 sees all of stage 1's writes.
      pass.setPipeline(this.merge.pipeline);
      pass.setBindGroup(0, this.merge.bind);
      pass.dispatchWorkgroups(rows);
    }
  }
}
