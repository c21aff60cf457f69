/**
 * A draft-model step grown entirely on the GPU (DESIGN section 8: one command buffer and
 * one readback per step). The draft model keeps the K/V of its tree's nodes in its own cache
 * under the tree mask (Step.rowBase, shaders/common/step.wgsl), so each level runs only its
 * new frontier rows; the selection of each level (shaders/draft_level_f32.wgsl) writes the next
 * level's inputs in place; the finished tree (EAGLE-2's reranking, shaders/draft_tree_u32.wgsl)
 * is written straight into the target's verify inputs and the acceptance walk's tree; after
 * the walk a kernel writes both caches' commit paths (shaders/draft_commit_u32.wgsl) and both
 * compactions run. The CPU reads back the walk's result, the tree's tokens and parents and, for
 * a sampled tree, how many uniforms its levels used.
 *
 * Counts (src/gpu/counter.ts): the draft passes, the selection, tree and commit kernels and the
 * draft cache's compaction are the draft's work; the verify pass, the walk, the target cache's
 * compaction, the one submit and the one readback are the target's.
 *
 * Sampling requests (temperature > 0) grow the tree by ModelDrafter's sampled rule instead
 * (shaders/draft_sample_f32.wgsl, oracle sampleLevel in src/draft/tree-select.ts): each level
 * draws its children without replacement from q = the request's distribution of the draft's
 * logits over the target's vocabulary (under VocabTrim the kept rows spread over it, q = 0 at
 * every token the head does not keep, as propose() builds it: rowQ), writes each parent row's q
 * into the walk's q buffer, and the sampling walk (shaders/accept_sample_f32.wgsl) verifies
 * against it, so the output keeps the target's distribution (DESIGN section 5). Uniforms: the
 * levels use at most one per node and the walk one per row; they are taken ahead from the
 * request's Rng (peekU32) and only those used are consumed (skip), the levels' first, then the
 * walk's. The uniforms are the top 24 bits of each draw (as the GPU walk's) and the sums run in
 * f32, so a seed gives other tokens than the CPU path (f64) would, but the same tokens on every
 * run. A greedy request with a repetition penalty grows the greedy tree and walks it with the
 * sampling walk (q one-hot).
 *
 * The rule is ModelDrafter's greedy rule (src/draft/tree-select.ts, its oracle) with the depth
 * of the step, `levels`, chosen by DraftDepth (src/draft/draft-depth.ts) from the acceptance of
 * earlier steps: the CPU cannot see when growth stops without a round trip, so each of the
 * `levels` draft passes runs (a level after an empty frontier runs W padding rows whose results
 * nothing reads), and the schedule sheds the levels that the accepted paths do not reach.
 * A node of the deepest level never runs in the draft: if accepted, the next sync appends it.
 */
import { createStorage, createUniform } from '../gpu/buffers.ts';
import { PipelineCache } from '../gpu/pipelines.ts';
import { ReadbackRing, type ReadbackPart } from '../gpu/readback.ts';
import { MAX_ROWS, stepWords } from '../gpu/step.ts';
import type { GpuModel } from '../model/gpu-model.ts';
import { COMMIT_BYTES, COMMIT_NEXT_OFFSET, COMMIT_SECTION_BYTES, DraftGrowOps, GROW_DRAWS_OFFSET, GROW_STATE_BYTES, GROW_TREE_BYTES, GROW_UNIFORMS, MAX_GROW_WIDTH } from '../ops/draft-grow.ts';
import { TAIL_BYTES, type GpuAcceptWalk } from '../verify/gpu-walk.ts';
import type { SamplingOptions } from '../verify/sampler.ts';
import { checkBonus } from '../verify/accept.ts';
import type { DraftModel } from './draft-model.ts';
import type { DraftDepth } from './draft-depth.ts';
import type { DraftTree } from '../tree/types.ts';
import type { GpuWalkResult } from '../verify/gpu-walk.ts';
import type { GpuAheadSteps, GpuStepNeeds, GpuStepRequest, GpuStepResult, GpuStepper } from './drafter.ts';
import { aheadBreach, GpuGrowAhead } from './gpu-grow-ahead.ts';

/** Word offset of GrowState.frontier (shaders/common/draft_grow.wgsl). */
const FRONTIER_WORD = 4 + 2 * 128;
/** Most steps in flight (EngineOptions.stepsAhead at most). */
export const MAX_AHEAD = 8;
/**
 * Words of the ring of draws for sampled steps encoded ahead: a step uses at most GROW_UNIFORMS
 * (one per node and one per verify row), so MAX_AHEAD steps' never wrap onto each other.
 */
const AHEAD_POOL_WORDS = MAX_AHEAD * GROW_UNIFORMS;
const NONE = 0xffffffff;

/** Why a draft of this shape cannot grow its trees on the GPU, or null when it can. */
export function gpuGrowBreach(draft: DraftModel, target: GpuModel, width: number, maxDepth: number): string | null {
  const gpu = draft.gpu;
  if (width > MAX_GROW_WIDTH || width > gpu.topK) return `width ${width} exceeds the draft's top-k ${gpu.topK} or ${MAX_GROW_WIDTH}`;
  // Slots of one step: the root and W per level, within the mask's 128 bits and the draft's rows.
  if (1 + width * maxDepth > Math.min(gpu.maxRows, MAX_ROWS)) return `1 + width x maxDepth = ${1 + width * maxDepth} slots exceed the draft's ${Math.min(gpu.maxRows, MAX_ROWS)} rows`;
  if (target.maxRows < 2) return 'the target runs one row per pass';
  if (gpu.device !== target.device) return 'the draft runs on another device';
  return null;
}

/**
 * Why a draft that grows greedy trees on the GPU cannot grow sampled ones, or null when it can:
 * then sampled steps take the CPU path (ModelDrafter.propose()). The sampled level writes q at
 * the target's vocabulary, so the draft's logits rows must be that vocabulary, or (VocabTrim)
 * kept token ids inside it.
 */
export function gpuSampleBreach(draft: DraftModel, target: GpuModel): string | null {
  if (draft.kept) {
    const outside = draft.kept.find((t) => t >= target.outVocab);
    return outside === undefined ? null : `the draft's LM head keeps token ${outside}, outside the target's vocabulary (${target.outVocab})`;
  }
  if (draft.gpu.outVocab !== target.outVocab) return `the draft's logits rows (${draft.gpu.outVocab}) are not the target's vocabulary (${target.outVocab})`;
  return null;
}

export class GpuTreeGrower implements GpuStepper {
  private readonly pipelines: PipelineCache;
  private readonly ops: DraftGrowOps;
  /** GrowParams uniform (8 u32). */
  private readonly params: GPUBuffer;
  private readonly paramData = new Uint32Array(8);
  /** GrowState (shaders/common/draft_grow.wgsl). */
  private readonly state: GPUBuffer;
  /**
   * (maxDepth + 2, 4) u32 Step words: draft pass d at row d - 1 (pass maxDepth + 1 only in a step
   * encoded ahead, which runs its deepest level), the target's verify pass last.
   */
  private readonly steps: GPUBuffer;
  private readonly stepData: Uint32Array<ArrayBuffer>;
  /** The state's start, the frontier's root and the root's pass input (token, position, mask), written per step. */
  private readonly startData = new Uint32Array(11);
  /** (2, 4 + 128) u32 commit paths: target, draft; then the next step's (prefix, root) (COMMIT_BYTES). */
  private readonly commit: GPUBuffer;
  /** (V) u32 token per LM-head row under VocabTrim (the greedy and the sampled levels read it), else 4 unused bytes. */
  private readonly kept: GPUBuffer;
  private readonly ring: ReadbackRing;
  /** The ring of the request's draws that sampled steps encoded ahead read (AHEAD_POOL_WORDS u32), null where sampled trees take the CPU path. */
  private readonly pool: GPUBuffer | null;
  /** The readback ring of steps encoded ahead (aheadRing). */
  private ahead_: ReadbackRing | null = null;
  /** GrowState.draws (0) and the uniforms taken ahead, written per sampled step. */
  private readonly drawData = new Uint32Array(1 + GROW_UNIFORMS);
  /** Why sampled trees take the CPU path, or null (gpuSampleBreach). */
  readonly sampleBreach: string | null;

  private constructor(readonly draft: DraftModel, readonly target: GpuModel, readonly walk: GpuAcceptWalk, readonly width: number, readonly depth: DraftDepth) {
    const maxDepth = depth.maxDepth;
    const device = target.device;
    this.pipelines = new PipelineCache(device);
    this.params = createUniform(device, 'draftGrow.params', 32);
    this.state = createStorage(device, 'draftGrow.state', GROW_STATE_BYTES);
    this.stepData = new Uint32Array(4 * (maxDepth + 2));
    this.steps = createStorage(device, 'draftGrow.steps', this.stepData.byteLength);
    this.commit = createStorage(device, 'draftGrow.commit', COMMIT_BYTES);
    this.kept = createStorage(device, 'draftGrow.kept', draft.kept ? draft.kept.byteLength : 4);
    if (draft.kept) device.queue.writeBuffer(this.kept, 0, Uint32Array.from(draft.kept));
    const d = draft.gpu.passOutputs();
    const w = walk.gpuBuffers();
    this.sampleBreach = gpuSampleBreach(draft, target);
    const sample = this.sampleBreach ? undefined : { params: w.params, history: w.history, scratch: w.scratch };
    this.pool = this.sampleBreach ? null : createStorage(device, 'draftGrow.pool', AHEAD_POOL_WORDS * 4);
    const buffers = {
      params: this.params, state: this.state, draftLogits: d.logits, draftTopKIds: d.topKIds, draftTopKValues: d.topKValues, kept: this.kept,
      draftInputs: draft.gpu.passInputs(), targetInputs: target.passInputs(), walkTree: w.tree, walkResult: w.result, commit: this.commit, steps: this.steps, sample, pool: this.pool ?? undefined,
    };
    this.ops = new DraftGrowOps(this.pipelines, 'draftGrow', buffers, draft.gpu.topK, draft.gpu.outVocab, target.outVocab);
    // the walk's result: header, maxDepth accepted nodes, top-k of every row (allRows) or of the path's;
    // then the tree, then what a drafter drafting in the submit reads back (GpuStepNeeds.inSubmit)
    const walkWords = 4 + maxDepth + (1 + width * maxDepth) * target.topK;
    this.ring = new ReadbackRing(device, 'draftGrow.readback', walkWords * 4 + GROW_TREE_BYTES + 4 + TAIL_BYTES, target.counter, 2);
  }

  /** q slots of a sampled step: the root's and those of the nodes that run in a draft pass (slot offsets 0 .. W (maxDepth - 1)). */
  get qSlots(): number {
    return 1 + this.width * (this.depth.maxDepth - 1);
  }

  /** Buffers and pipelines, once per (draft, target); throws ShaderCompileError on a bad kernel. */
  static async create(draft: DraftModel, target: GpuModel, walk: GpuAcceptWalk, width: number, depth: DraftDepth): Promise<GpuTreeGrower> {
    const grower = new GpuTreeGrower(draft, target, walk, width, depth);
    await grower.pipelines.checkCompilation();
    target.attach(grower);
    return grower;
  }

  /**
   * One step after `committed` (the target's cache holds all but its last token, the root):
   * grows a tree of at most `budget` nodes and depth.levels levels, verifies it, walks it and
   * commits the accepted path in both caches - one submit and one readback. `needs`: what other
   * drafters observing the step read (the `auto` controller's members): the target's whole
   * top-k, of every row, and a drafter's passes recorded after the walk. `request`: the
   * request's sampling options and Rng (absent: greedy); null where a sampled step cannot run
   * here (sampleBreach), for the CPU path to take.
   */
  step(committed: Int32Array, budget: number, needs: GpuStepNeeds = {}, request?: GpuStepRequest): Promise<GpuStepResult | null> {
    const options = request?.options;
    const walkSamples = options !== undefined && (options.temperature > 0 || options.repetitionPenalty !== 1);
    const sampledTree = options !== undefined && options.temperature > 0;
    if (sampledTree && this.sampleBreach) return Promise.resolve(null);
    return this.draft.exclusive(async () => {
      const n = committed.length;
      this.draft.sync(committed.subarray(0, n - 1));
      // A sampled level adds min(W, budget left) nodes (fewer only where q's support is smaller),
      // so levels past ceil(budget / W) would add none: propose() stops there too, unless some q
      // runs out of support, where this tree can be shallower than propose()'s (tau, not the distribution).
      const levels = sampledTree ? Math.min(this.depth.levelsFor(budget), Math.ceil(budget / this.width)) : this.depth.levelsFor(budget);
      const targetRows = 1 + Math.min(budget, this.width * levels);
      const encoder = this.target.device.createCommandEncoder({ label: 'draftGrow.encoder' });
      this.writeInputs(committed[n - 1], n - 1, budget, targetRows, levels, false);
      this.writeStart(committed[n - 1], n - 1, targetRows);
      // the levels use at most one uniform per node, the walk one per row
      if (walkSamples) this.writeUniforms(request!.rng.peekU32((sampledTree ? targetRows - 1 : 0) + targetRows, this.drawData.subarray(1)));
      this.encodeLevels(encoder, levels, sampledTree ? this.walk.reserveQ(this.qSlots) : null);
      // a greedy walk reads only the argmax unless another observer reads the top-k; the sampling walk reads column 0 (its guard)
      this.target.encodePass(encoder, targetRows, this.targetStep, { topK: needs.topK === true || walkSamples });
      // the sampling walk writes its parameters and history before the submit: the sampled levels read them too
      const walked = walkSamples
        ? this.walk.encodeSampleOnGpuTree(encoder, targetRows, levels, options!, committed, needs.allRows === true, sampledTree ? 2 : 0)
        : this.walk.encodeGreedyOnGpuTree(encoder, targetRows, levels, needs.allRows === true);
      const tail = needs.inSubmit?.record(encoder, this.walk.gpuBuffers().result) ?? [];
      const tailWords = tail.reduce((s, p) => s + p.bytes / 4, 0);
      this.encodeCommit(encoder);
      const slot = this.ring.copyParts(encoder, [
        { src: this.walk.gpuBuffers().result, srcOffset: 0, bytes: walked.words * 4 },
        this.treePart(),
        this.drawsPart(),
        ...tail,
      ]);
      this.target.counter.submit(this.target.device.queue, encoder); // the step's one submit
      const headWords = walked.words + GROW_TREE_BYTES / 4 + 1;
      const out = await this.ring.read(slot, new Int32Array(headWords + tailWords));
      const res = walked.parse(out.subarray(0, walked.words));
      checkBonus(res.bonus, this.target.outVocab, n - 1 + res.nodes.length);
      // the levels' uniforms, then the walk's (result word 2)
      if (walkSamples) request!.rng.skip(out[headWords - 1] + out[2]);
      needs.inSubmit?.receive(out.subarray(headWords), res.bonus);
      // a sampled tree's q stayed on the GPU, where the walk read it
      const draft = sampledTree ? { kind: 'sampled' as const, withReplacement: false, q: [] } : { kind: 'deterministic' as const };
      // The draft cache now holds the root and the accepted nodes that ran (all but the deepest level's).
      return this.committed(committed[n - 1], levels, false, res, out.subarray(walked.words), draft);
    });
  }

  /**
   * Steps encoded ahead (src/draft/gpu-grow-ahead.ts), greedy or (`request`) sampled, without a
   * repetition penalty; null where the next root or a ring cache keeps them on the CPU
   * (aheadBreach), where sampled trees take the CPU path (sampleBreach) or more than MAX_AHEAD
   * steps would be in flight.
   */
  ahead(depth: number, request?: GpuStepRequest): GpuAheadSteps | null {
    if (aheadBreach(this.target, this.draft.gpu) || depth > MAX_AHEAD) return null;
    if (request && (request.options.repetitionPenalty !== 1 || (request.options.temperature > 0 && this.sampleBreach))) return null;
    return new GpuGrowAhead(this, depth, request?.options.temperature ? request : undefined);
  }

  /** A ring of `slots` readback slots for steps encoded ahead (allocated at the first use, grown where more are asked). */
  aheadRing(slots: number): ReadbackRing {
    if (!this.ahead_ || this.ahead_.slots < slots) {
      this.ahead_?.destroy();
      this.ahead_ = new ReadbackRing(this.target.device, 'draftGrow.aheadReadback', this.ring.slotBytes, this.target.counter, slots);
    }
    return this.ahead_;
  }

  /**
   * A step's outcome from its walk's result `res` and the state's head read back (`head`,
   * treePart): commits the accepted path in both caches' books (their K/V was compacted on the
   * GPU: the root and the accepted nodes that ran a draft pass - all of them where the deepest
   * level `ran`) and hands the acceptance to the depth schedule.
   */
  committed(root: number, levels: number, deepestRan: boolean, res: GpuWalkResult, head: Int32Array, draft: DraftTree['draft']): GpuStepResult {
    const m = head[0];
    const tokens = head.slice(4, 4 + m);
    const parents = head.slice(4 + 128, 4 + 128 + m);
    this.target.commitCompacted(res.nodes.length + 1);
    const ran = deepestRan ? res.nodes.length : Math.min(res.nodes.length, levels - 1);
    this.draft.extend([root, ...Array.from(res.nodes.subarray(0, ran), (t) => tokens[t])]);
    this.depth.observe(levels, res.nodes.length);
    return { tree: { tokens, parents, draft }, nodes: res.nodes, bonus: res.bonus, topK: res.topK, k: res.k };
  }

  destroy(): void {
    this.ahead_?.destroy();
    for (const b of [this.params, this.state, this.steps, this.commit, this.kept]) b.destroy();
    this.pool?.destroy();
  }

  /** Where the target's verify pass reads its Step words. */
  get targetStep(): { buffer: GPUBuffer; offset: number } {
    return { buffer: this.steps, offset: (this.depth.maxDepth + 1) * 16 };
  }

  /**
   * Writes what a step reads that the CPU knows before it is encoded: the parameters (the
   * prefix and root words too, which a step encoded ahead replaces from the GPU, copyNext), the
   * verify pass's row count, the state's start and the root's mask. A step encoded ahead
   * (`ahead`) runs its deepest level and writes the next step's state (draft_commit_u32.wgsl).
   */
  writeInputs(root: number, prefix: number, budget: number, targetRows: number, levels: number, ahead: boolean): void {
    const queue = this.target.device.queue;
    this.paramData.set([this.width, budget, levels, prefix, root, targetRows, this.draft.kept ? 1 : 0, ahead ? 1 : 0]);
    queue.writeBuffer(this.params, 0, this.paramData);
    const t = this.targetStep.offset / 4;
    this.stepData[t] = targetRows;
    queue.writeBuffer(this.steps, t * 4, this.stepData, t, 1);
    const w = this.startData;
    w.set([0, 0, 1, 1, NONE, root, prefix, 1, 0, 0, 0]);
    queue.writeBuffer(this.state, 0, w, 0, 4); // kept, count, frontierCount, level
    queue.writeBuffer(this.state, FRONTIER_WORD * 4, w, 4, 1); // the frontier: the root
    queue.writeBuffer(this.draft.gpu.passInputs().mask, 0, w, 7, 4); // the root sees itself
    queue.writeBuffer(this.state, GROW_DRAWS_OFFSET, this.drawData, 0, 1); // no uniform used yet
  }

  /**
   * Writes what a step reads of the accepted path before it (its prefix and root), from the
   * CPU: every step but those encoded ahead after the first, whose commit kernel writes them.
   */
  writeStart(root: number, prefix: number, targetRows: number): void {
    const queue = this.target.device.queue;
    const W = this.width;
    for (let d = 1; d <= this.depth.maxDepth + 1; d++) {
      // pass 1: the root at slot offset 0; pass d >= 2: the depth d - 1 frontier after the root and W per earlier level
      stepWords(d === 1 ? 1 : W, prefix, d === 1 ? 0 : 1 + W * (d - 2), this.stepData.subarray(4 * (d - 1), 4 * d));
    }
    stepWords(targetRows, prefix, 0, this.stepData.subarray(this.targetStep.offset / 4));
    queue.writeBuffer(this.steps, 0, this.stepData);
    const w = this.startData;
    w.set([0, 0, 1, 1, NONE, root, prefix, 1, 0, 0, 0]);
    const inputs = this.draft.gpu.passInputs();
    queue.writeBuffer(inputs.tokens, 0, w, 5, 1);
    queue.writeBuffer(inputs.positions, 0, w, 6, 1);
    queue.writeBuffer(this.commit, COMMIT_NEXT_OFFSET, w, 6, 1);
    queue.writeBuffer(this.commit, COMMIT_NEXT_OFFSET + 4, w, 5, 1);
    queue.writeBuffer(this.commit, COMMIT_NEXT_OFFSET + 8, w, 0, 1); // the uniforms' stream position (steps encoded ahead)
  }

  /**
   * Writes the request's raw draws at stream positions `from`.. (counted from the flight's start)
   * into the ring the sampled steps encoded ahead read (position p at p mod AHEAD_POOL_WORDS).
   */
  writePool(from: number, draws: Uint32Array<ArrayBuffer>): void {
    if (!this.pool || draws.length > AHEAD_POOL_WORDS) throw new RangeError(`GpuTreeGrower.writePool: ${draws.length} draws for a ring of ${this.pool ? AHEAD_POOL_WORDS : 0}`);
    const at = from % AHEAD_POOL_WORDS;
    const first = Math.min(draws.length, AHEAD_POOL_WORDS - at);
    const queue = this.target.device.queue;
    queue.writeBuffer(this.pool, at * 4, draws, 0, first);
    if (first < draws.length) queue.writeBuffer(this.pool, 0, draws, first, draws.length - first);
  }

  /** A sampled step encoded ahead: records the load of its uniforms from the ring, where the step before stopped. */
  encodeUniforms(encoder: GPUCommandEncoder): void {
    const pass = this.draft.gpu.counter.beginPass(encoder, { label: 'draftGrow.uniformsPass' });
    this.ops.encodeUniforms(pass);
    pass.end();
  }

  /** GrowState.uniforms: the raw draws taken ahead (drawData[0], the draws used, stays 0). */
  private writeUniforms(ahead: Uint32Array): void {
    this.target.device.queue.writeBuffer(this.state, GROW_DRAWS_OFFSET + 4, this.drawData, 1, ahead.length);
  }

  /**
   * `levels` draft passes, each followed by its level's selection (greedy) or draws (sampled,
   * into `q`), then the finished tree. `ahead`: the deepest level's nodes run in a pass of their
   * own too (no logits), so that the draft cache can keep every accepted node without a sync.
   */
  encodeLevels(encoder: GPUCommandEncoder, levels: number, q: GPUBuffer | null, ahead = false): void {
    for (let d = 1; d <= levels; d++) {
      this.draft.gpu.encodePass(encoder, d === 1 ? 1 : this.width, { buffer: this.steps, offset: (d - 1) * 16 });
      const pass = this.draft.gpu.counter.beginPass(encoder, { label: 'draftGrow.levelPass' });
      if (q) this.ops.encodeSampleLevel(pass, q);
      else this.ops.encodeLevel(pass);
      pass.end();
    }
    if (ahead) this.draft.gpu.encodePass(encoder, this.width, { buffer: this.steps, offset: levels * 16 }, { logits: false });
    const pass = this.draft.gpu.counter.beginPass(encoder, { label: 'draftGrow.treePass' });
    this.ops.encodeTree(pass);
    pass.end();
  }

  /** After the walk: both caches' commit paths (and a step encoded ahead, the next step's state), then both compactions. */
  encodeCommit(encoder: GPUCommandEncoder): void {
    const pass = this.draft.gpu.counter.beginPass(encoder, { label: 'draftGrow.commitPass' });
    this.ops.encodeCommit(pass);
    pass.end();
    this.target.kv.encodeCompaction(encoder, this.commit, 0);
    this.draft.gpu.kv.encodeCompaction(encoder, this.commit, COMMIT_SECTION_BYTES);
  }

  /** Records the copy of the next step's (prefix, root), which the last step encoded ahead wrote, into the parameters. */
  copyNext(encoder: GPUCommandEncoder): void {
    encoder.copyBufferToBuffer(this.commit, COMMIT_NEXT_OFFSET, this.params, 12, 8);
  }

  /** The uniforms a sampled step's levels used (GrowState.draws), read back after the state's head. */
  drawsPart(): ReadbackPart {
    return { src: this.state, srcOffset: GROW_DRAWS_OFFSET, bytes: 4 };
  }

  /** The state's head a step reads back after the walk's result: kept, count, frontierCount, level, the tree's tokens and parents. */
  treePart(): ReadbackPart {
    return { src: this.state, srcOffset: 0, bytes: GROW_TREE_BYTES };
  }
}
