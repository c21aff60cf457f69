/**
 * The acceptance walk on the GPU (DESIGN section 3, step 3): after the target pass, one small
 * kernel walks the draft tree against the logits and top-k the pass left on the GPU, and the
 * CPU reads back only [accepted count, bonus, uniforms used, accepted nodes, top-k ids of the
 * path rows (or of every row, for drafters that learn from all rows)] - a few hundred bytes
 * instead of (rows, vocab) logits.
 *
 * Greedy (temperature 0, no penalty): shaders/accept_greedy_u32.wgsl, the rule of greedy.ts.
 * Otherwise: shaders/accept_sample_f32.wgsl computes each visited row's distribution by the
 * rules of sampler.ts targetProbs and walks as stochastic.ts acceptStochastic does. Those CPU
 * functions stay the oracles (test/gpu/accept.test.ts).
 *
 * Randomness: the walk uses at most nodes + 1 uniforms (one per tried child, one bonus). They
 * are taken ahead from the request's Rng (peekU32) and only the used ones are consumed (skip),
 * so the Rng continues exactly where the CPU walk would have left it.
 */
import { createStorage, createUniform, writeStorage } from '../gpu/buffers.ts';
import { PipelineCache } from '../gpu/pipelines.ts';
import { ReadbackRing, type ReadbackPart } from '../gpu/readback.ts';
import type { GpuCounter } from '../gpu/counter.ts';
import { MAX_ROWS } from '../gpu/step.ts';
import { MAX_TOP_K } from '../ops/topk.ts';
import { AcceptGreedyOp } from '../ops/accept-greedy.ts';
import { AcceptSampleOp } from '../ops/accept-sample.ts';
import type { TreeLayout } from '../tree/layout.ts';
import type { DraftTree } from '../tree/types.ts';
import { TreeError } from '../tree/validate.ts';
import { VerifyError, type AcceptResult } from './accept.ts';
import type { Rng } from './rng.ts';
import { validateSampling, type SamplingOptions } from './sampler.ts';

/** Header words of the result (shaders/common/accept_result.wgsl HEADER). */
const HEADER = 4;
/**
 * Bytes a readback slot holds beyond the walk's result: what work recorded after the walk in
 * the same command buffer reads back with it (a drafter drafting on the GPU: Hydra's best ids,
 * at most MAX_ROWS frontier nodes x MAX_TOP_K per tree).
 */
export const TAIL_BYTES = MAX_ROWS * MAX_TOP_K * 4;

/** What the walk reads: the buffers a target pass leaves on the GPU, and their shapes. */
export interface WalkSource {
  device: GPUDevice;
  /** (maxRows, vocab) f32 logits of the last pass. */
  logits: GPUBuffer;
  /** (maxRows, k) u32 top-k ids of the last pass, best first (column 0 = argmax). */
  topKIds: GPUBuffer;
  vocab: number;
  k: number;
  maxRows: number;
  /** Most committed tokens a walk may see (the repetition penalty's history). */
  historyCapacity: number;
  /** The target's counter: the walk's dispatches, submits and readbacks are the target's work. */
  counter: GpuCounter;
}

export interface GpuWalkResult extends AcceptResult {
  /**
   * (rows, k) target top-k ids per verify row (row 0 = root, row i+1 = node i): every row when
   * asked for all rows, otherwise only the root's and the accepted rows' (the others are -1).
   */
  topK: Int32Array;
  k: number;
  /** Bytes this walk read back. */
  readBytes: number;
  /** The words of the ranges recorded after the walk (PendingWalk.record's `after`), read back with it. */
  tail: Int32Array;
}

/** A walk whose buffers are written: record() it into the pass's command buffer, then await result(). */
export interface PendingWalk {
  /** `after`: more work for the command buffer after the walk, returning ranges to read back with its result (one map). */
  record(encoder: GPUCommandEncoder, after?: (encoder: GPUCommandEncoder) => ReadbackPart[]): void;
  result(): Promise<GpuWalkResult>;
}

export class GpuAcceptWalk {
  private readonly pipelines: PipelineCache;
  /** AcceptParams (12 words: see shaders/common/accept_result.wgsl). */
  private readonly params: GPUBuffer;
  private readonly paramData = new ArrayBuffer(48);
  /** (4, MAX_ROWS) u32: node tokens, parent rows, q slots, uniforms. */
  private readonly tree: GPUBuffer;
  private readonly treeData = new Uint32Array(4 * MAX_ROWS);
  /** (capacity) u32 committed tokens. */
  private readonly history: GPUBuffer;
  /** (3, vocab) f32 scratch of the sampling walk: p, working q, seen marks. */
  private readonly scratch: GPUBuffer;
  /** (HEADER + maxRows + maxRows * k) u32. */
  private readonly result: GPUBuffer;
  private readonly ring: ReadbackRing;
  /** (qSlots, vocab) f32 draft distributions of parent rows; grown once when a sampled tree needs more. */
  private q: GPUBuffer;
  private qSlots = 1;
  private readonly greedyOp: AcceptGreedyOp;
  private readonly sampleOp: AcceptSampleOp;

  private constructor(private readonly src: WalkSource) {
    const { device, vocab, k, maxRows } = src;
    if (maxRows < 1 || maxRows > MAX_ROWS) throw new VerifyError(`GpuAcceptWalk: maxRows ${maxRows}, expected 1..${MAX_ROWS}`);
    this.pipelines = new PipelineCache(device);
    this.params = createUniform(device, 'acceptWalk.params', 48);
    this.tree = createStorage(device, 'acceptWalk.tree', this.treeData.byteLength);
    this.history = createStorage(device, 'acceptWalk.history', src.historyCapacity * 4);
    this.scratch = createStorage(device, 'acceptWalk.scratch', 3 * vocab * 4);
    const resultBytes = (HEADER + maxRows + maxRows * k) * 4;
    this.result = createStorage(device, 'acceptWalk.result', resultBytes);
    this.ring = new ReadbackRing(device, 'acceptWalk.readback', resultBytes + TAIL_BYTES, src.counter, 2);
    this.q = createStorage(device, 'acceptWalk.q', vocab * 4);
    const env = { device, pipelines: this.pipelines };
    this.greedyOp = new AcceptGreedyOp(env, 'acceptWalk.greedy', { params: this.params, topKIds: src.topKIds, tree: this.tree, result: this.result }, k);
    const b = { params: this.params, logits: src.logits, topKIds: src.topKIds, tree: this.tree, history: this.history, q: this.q, scratch: this.scratch, result: this.result };
    this.sampleOp = new AcceptSampleOp(env, 'acceptWalk.sample', b, vocab, k);
  }

  /** Allocates the buffers and pipelines of the walks (once per model); throws ShaderCompileError on a bad kernel. */
  static async create(src: WalkSource): Promise<GpuAcceptWalk> {
    const walk = new GpuAcceptWalk(src);
    await walk.pipelines.checkCompilation();
    return walk;
  }

  /**
   * The greedy walk over a tree that a kernel wrote into this walk's tree buffer (gpuTree():
   * tokens and parent rows, src/draft/gpu-grow.ts), recorded into `encoder` after the pass of
   * `rows` rows. The caller copies `words` u32 of gpuResult() to the CPU and parses them;
   * `allRows` as for greedy().
   */
  encodeGreedyOnGpuTree(encoder: GPUCommandEncoder, rows: number, depth: number, allRows = false): { words: number; parse(out: Int32Array): GpuWalkResult } {
    return this.encodeOnGpuTree(encoder, this.greedyOp, rows, depth, allRows, () => this.writeParams(rows, depth, allRows, 0, 0, { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1 }));
  }

  /**
   * The sampling walk over a tree that kernels wrote into this walk's buffers (a sampled draft
   * grown on the GPU, src/draft/gpu-grow.ts: tokens, parent rows, q slots and the uniforms in
   * the tree buffer, each parent row's q in reserveQ()'s buffer), recorded into `encoder` after
   * the pass of `rows` rows. `draft`: how the children were drawn (0 deterministic, 2 sampled
   * without replacement). Writes the parameters and the penalty's history (`committed`, the
   * root included), which the draft's sampled levels read too, so call it before they run. The
   * result's word 2 is the uniforms the walk used; the caller consumes them from its Rng.
   */
  encodeSampleOnGpuTree(encoder: GPUCommandEncoder, rows: number, depth: number, sampling: SamplingOptions, committed: Int32Array, allRows: boolean, draft: 0 | 2): { words: number; parse(out: Int32Array): GpuWalkResult } {
    return this.encodeOnGpuTree(encoder, this.sampleOp, rows, depth, allRows, () => this.writeSampling(sampling, committed, rows, depth, allRows, draft));
  }

  /**
   * The sampling walk of a pass over the root alone (plain sampled decoding encoded ahead,
   * src/engine/ahead.ts), recorded into `encoder`: the bonus is drawn from the root's distribution
   * with `uniform` (a raw u32 draw of the request's Rng, the one such a walk uses). No repetition
   * penalty: its history would hold tokens that only the GPU has seen.
   */
  encodeSampleRoot(encoder: GPUCommandEncoder, sampling: SamplingOptions, uniform: number): void {
    if (sampling.repetitionPenalty !== 1) throw new VerifyError(`GpuAcceptWalk.encodeSampleRoot: repetition penalty ${sampling.repetitionPenalty}, expected 1`);
    this.encodeOnGpuTree(encoder, this.sampleOp, 1, 0, false, () => {
      this.treeData[3 * MAX_ROWS] = uniform;
      this.src.device.queue.writeBuffer(this.tree, 3 * MAX_ROWS * 4, this.treeData, 3 * MAX_ROWS, 1);
      this.writeSampling(sampling, new Int32Array(0), 1, 0, false, 0);
    });
  }

  /** A walk (`op`) over a tree kernels wrote, of `rows` rows checked before `write` sets its parameters, recorded into `encoder`. */
  private encodeOnGpuTree(encoder: GPUCommandEncoder, op: { encode(pass: GPUComputePassEncoder): void }, rows: number, depth: number, allRows: boolean, write: () => void): { words: number; parse(out: Int32Array): GpuWalkResult } {
    if (!Number.isInteger(rows) || rows < 1 || rows > this.src.maxRows) throw new TreeError(`GpuAcceptWalk: ${rows} rows, expected 1..${this.src.maxRows}`);
    write();
    const pass = this.src.counter.beginPass(encoder, { label: 'acceptWalk.pass' });
    op.encode(pass);
    pass.end();
    return { words: resultWords(rows, depth, allRows, this.src.k), parse: (out) => this.parse(out, rows, depth, allRows, null) };
  }

  /**
   * The buffers kernels on the GPU write the walk's inputs into or read its result from: the
   * tree (4, MAX_ROWS) u32, the result, the AcceptParams uniform, the history (capacity) u32 and
   * the sampling scratch (3, vocab) f32.
   */
  gpuBuffers(): { tree: GPUBuffer; result: GPUBuffer; params: GPUBuffer; history: GPUBuffer; scratch: GPUBuffer } {
    return { tree: this.tree, result: this.result, params: this.params, history: this.history, scratch: this.scratch };
  }

  /**
   * The (slots, vocab) f32 q buffer with room for at least `slots` rows' distributions. It is
   * replaced when a tree needs more slots than it has (kernels binding it check its identity).
   */
  reserveQ(slots: number): GPUBuffer {
    if (slots > this.qSlots) {
      this.qSlots = Math.min(this.src.maxRows, Math.max(slots, 2 * this.qSlots));
      this.q.destroy();
      this.q = createStorage(this.src.device, 'acceptWalk.q', this.qSlots * this.src.vocab * 4);
      this.sampleOp.setQ(this.q);
    }
    return this.q;
  }

  /** Greedy walk over the last pass (rows = layout.rows), submitted on its own. */
  greedy(tree: DraftTree, layout: TreeLayout, allRows: boolean): Promise<GpuWalkResult> {
    return this.submit(this.prepareGreedy(tree, layout, allRows));
  }

  /** The greedy walk over the pass about to be recorded (rows = layout.rows). */
  prepareGreedy(tree: DraftTree, layout: TreeLayout, allRows: boolean): PendingWalk {
    const depth = this.writeTree(tree, layout);
    this.src.device.queue.writeBuffer(this.tree, 0, this.treeData);
    this.writeParams(layout.rows, depth, allRows, 0, 0, { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1 });
    return this.pending((pass) => this.greedyOp.encode(pass), layout.rows, depth, allRows, null);
  }

  /**
   * Sampling walk (or greedy with a repetition penalty) over the last pass, submitted on its
   * own. `committed` is the history the penalty sees at the root (the root included); `rng`
   * advances by the draws used.
   */
  sample(tree: DraftTree, layout: TreeLayout, sampling: SamplingOptions, committed: Int32Array, rng: Rng, allRows: boolean): Promise<GpuWalkResult> {
    return this.submit(this.prepareSample(tree, layout, sampling, committed, rng, allRows));
  }

  /** The sampling walk over the pass about to be recorded (see sample()). */
  prepareSample(tree: DraftTree, layout: TreeLayout, sampling: SamplingOptions, committed: Int32Array, rng: Rng, allRows: boolean): PendingWalk {
    const depth = this.writeTree(tree, layout);
    const draft = tree.draft.kind === 'deterministic' ? 0 : tree.draft.withReplacement ? 1 : 2;
    if (tree.draft.kind === 'sampled') this.writeQ(tree.draft.q, layout);
    rng.peekU32(layout.rows, this.treeData.subarray(3 * MAX_ROWS, 3 * MAX_ROWS + layout.rows));
    this.src.device.queue.writeBuffer(this.tree, 0, this.treeData);
    this.writeSampling(sampling, committed, layout.rows, depth, allRows, draft);
    return this.pending((pass) => this.sampleOp.encode(pass), layout.rows, depth, allRows, rng);
  }

  /** (vocab) the sampling walk's distribution after its last walk: the last visited row's p (its residual if children were rejected). Tests only. */
  async readDistribution(): Promise<Float32Array> {
    const { device, vocab } = this.src;
    const staging = device.createBuffer({ label: 'acceptWalk.debugStaging', size: vocab * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = device.createCommandEncoder({ label: 'acceptWalk.debugRead' });
    encoder.copyBufferToBuffer(this.scratch, 0, staging, 0, vocab * 4);
    this.src.counter.submit(device.queue, encoder);
    await this.src.counter.mapRead(staging, 0, vocab * 4);
    const out = new Float32Array(staging.getMappedRange().slice(0));
    staging.destroy();
    return out;
  }

  destroy(): void {
    for (const b of [this.params, this.tree, this.history, this.scratch, this.result, this.q]) b.destroy();
  }

  /** Fills the token and parent sections of treeData (uploaded by the caller); returns the tree's depth. */
  private writeTree(tree: DraftTree, layout: TreeLayout): number {
    const m = tree.tokens.length;
    if (layout.rows !== m + 1 || layout.rows > this.src.maxRows) {
      throw new TreeError(`GpuAcceptWalk: layout.rows = ${layout.rows}, expected tree nodes + 1 = ${m + 1} and at most ${this.src.maxRows}`);
    }
    const t = this.treeData;
    for (let i = 0; i < m; i++) {
      t[i] = tree.tokens[i];
      t[MAX_ROWS + i] = tree.parents[i] + 1;
    }
    let depth = 0;
    for (let r = 1; r < layout.rows; r++) depth = Math.max(depth, layout.depth[r]);
    return depth;
  }

  /** Uploads q of each row with children into its slot (slot index in treeData's q section). */
  private writeQ(q: (Float32Array | null)[], layout: TreeLayout): void {
    const vocab = this.src.vocab;
    const parents: number[] = [];
    for (let r = 0; r < layout.rows; r++) if (layout.children[r].length > 0) parents.push(r);
    this.reserveQ(parents.length);
    parents.forEach((r, slot) => {
      const row = q[r];
      if (!row) throw new TreeError(`draft.q[${r}] is null but row ${r} has children, expected its draft distribution`);
      if (row.length !== vocab) throw new VerifyError(`draft.q[${r}].length = ${row.length}, expected the vocabulary size ${vocab}`);
      this.treeData[2 * MAX_ROWS + r] = slot;
      writeStorage(this.src.device, this.q, row, slot * vocab * 4);
    });
  }

  /** The sampling walk's parameters and the repetition penalty's history. */
  private writeSampling(sampling: SamplingOptions, committed: Int32Array, rows: number, depth: number, allRows: boolean, draft: number): void {
    validateSampling(sampling);
    let history = 0;
    if (sampling.repetitionPenalty !== 1) {
      if (committed.length > this.src.historyCapacity) throw new VerifyError(`GpuAcceptWalk: ${committed.length} committed tokens exceed the history capacity ${this.src.historyCapacity}`);
      writeStorage(this.src.device, this.history, committed);
      history = committed.length;
    }
    this.writeParams(rows, depth, allRows, draft, history, sampling);
  }

  private writeParams(rows: number, depth: number, allRows: boolean, draft: number, history: number, s: SamplingOptions): void {
    const u = new Uint32Array(this.paramData);
    const f = new Float32Array(this.paramData);
    u.set([rows, depth, allRows ? 1 : 0, draft, history, s.topK]);
    f.set([s.temperature, s.topP, s.repetitionPenalty], 6);
    this.src.device.queue.writeBuffer(this.params, 0, this.paramData);
  }

  /** Records a prepared walk in a command buffer of its own and submits it. */
  private submit(walk: PendingWalk): Promise<GpuWalkResult> {
    const encoder = this.src.device.createCommandEncoder({ label: 'acceptWalk.encoder' });
    walk.record(encoder);
    this.src.counter.submit(this.src.device.queue, encoder);
    return walk.result();
  }

  /** The walk's recording (its pass and the readback copy) and its result: parsed, with the draws used consumed from rng. */
  private pending(encode: (pass: GPUComputePassEncoder) => void, rows: number, depth: number, allRows: boolean, rng: Rng | null): PendingWalk {
    const words = resultWords(rows, depth, allRows, this.src.k);
    let slot = -1;
    let tailWords = 0;
    const record = (encoder: GPUCommandEncoder, after?: (encoder: GPUCommandEncoder) => ReadbackPart[]): void => {
      const pass = this.src.counter.beginPass(encoder, { label: 'acceptWalk.pass' });
      encode(pass);
      pass.end();
      const tail = after?.(encoder) ?? [];
      tailWords = tail.reduce((n, p) => n + p.bytes / 4, 0);
      slot = this.ring.copyParts(encoder, [{ src: this.result, srcOffset: 0, bytes: words * 4 }, ...tail]);
    };
    const result = async (): Promise<GpuWalkResult> => {
      if (slot < 0) throw new VerifyError('GpuAcceptWalk: result() before the walk was recorded');
      const all = await this.ring.read(slot, new Int32Array(words + tailWords));
      const r = this.parse(all.subarray(0, words), rows, depth, allRows, rng);
      return { ...r, readBytes: r.readBytes + tailWords * 4, tail: all.subarray(words) };
    };
    return { record, result };
  }

  /** The result words read back: accepted nodes, bonus, top-k of the path rows (or all rows); the draws used consumed from rng. */
  private parse(out: Int32Array, rows: number, depth: number, allRows: boolean, rng: Rng | null): GpuWalkResult {
    const k = this.src.k;
    const count = out[0];
    if (!(count >= 0 && count <= depth)) throw new VerifyError(`GpuAcceptWalk: the walk reported ${count} accepted nodes, expected 0..${depth}`);
    rng?.skip(out[2]);
    const nodes = out.slice(HEADER, HEADER + count);
    const topK = new Int32Array(rows * k).fill(-1);
    const ids = out.subarray(HEADER + depth);
    if (allRows) topK.set(ids.subarray(0, rows * k));
    else for (let j = 0; j <= count; j++) topK.set(ids.subarray(j * k, (j + 1) * k), (j === 0 ? 0 : nodes[j - 1] + 1) * k);
    return { nodes, bonus: out[1], topK, k, readBytes: resultWords(rows, depth, allRows, k) * 4, tail: new Int32Array(0) };
  }
}

/** u32 words of a walk's result: header, accepted nodes (depth slots), top-k ids of the path rows or of every row. */
function resultWords(rows: number, depth: number, allRows: boolean, k: number): number {
  return HEADER + depth + (allRows ? rows : depth + 1) * k;
}
