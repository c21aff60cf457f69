/**
 * Greedy Hydra steps encoded ahead (EngineOptions.stepsAhead; DESIGN section 8: where the next
 * step's inputs are on the GPU, keep the step state there and encode ahead, reading results
 * behind). A Hydra step verifies the tree the heads drafted inside the step before it, after
 * that step's walk (hydra.ts), and drafts the next; of the steps before it, it needs only the
 * prefix length, the root (the last bonus) and the drafted ids, all of which the step before
 * leaves on the GPU. So a step here is one command buffer of: the drafted tree written into the
 * target's inputs and the walk's tree (shaders/hydra_tree_u32.wgsl, from the words of the last
 * drafting and the (prefix, root) pair), the verify pass, the greedy walk, the heads' drafting
 * of the next tree (copied into `drafted`, where the next step reads it), the target's commit
 * path and the next pair (shaders/hydra_commit_u32.wgsl), the compaction, and one readback (the
 * walk's result and the drafted ids). The CPU submits step t+1 (up to `depth` in flight) before
 * it has read step t, and reads the outcomes in order.
 *
 * What is written from the CPU is what it knows ahead: the shape each step verifies (the one its
 * predecessor drafted with), so its rows, mask, depths, each node's word in `drafted` and the
 * walk's parent rows. A flight starts only where propose() would have a tree for the current
 * root; its first step's words (and pair) come from the CPU, as read.
 *
 * Shapes: the drafter may reshape between two steps (observe(), every RESHAPE_EVERY steps, and
 * the budget a step is encoded with, as propose() does). Its writes are queue writes, ordered
 * after the steps already submitted, so a step drafts with the shape current at its encoding;
 * each step in flight remembers that shape, and the step after it verifies with it. So nothing
 * is deferred: a flight verifies and learns as one step at a time does.
 *
 * Bounds (as GpuGrowAhead): a step commits at most its tree's depth + 1 tokens; a step is
 * encoded only where what it can commit fits the context and the tokens left after the most the
 * steps in flight can commit, and its tree is cut to that budget (the first nodes in BFS order,
 * as propose() cuts it). Greedy verification keeps the target's tokens for any tree, so the
 * output is that of one step at a time; steps past an end are dropped unread (finish), having
 * written only cache slots past the committed length, which the next pass to commit rewrites.
 */
import { createStorage } from '../gpu/buffers.ts';
import { PipelineCache } from '../gpu/pipelines.ts';
import { ReadbackRing, type ReadbackPart } from '../gpu/readback.ts';
import { MAX_ROWS } from '../gpu/step.ts';
import type { GpuModel } from '../model/gpu-model.ts';
import type { HydraHeads } from '../model/heads.ts';
import { HYDRA_COMMIT_BYTES, HydraAheadOps, PLAN_BYTES } from '../ops/hydra-ahead.ts';
import { layoutTree } from '../tree/layout.ts';
import type { DraftTree } from '../tree/types.ts';
import { checkBonus } from '../verify/accept.ts';
import type { GpuAcceptWalk, GpuWalkResult } from '../verify/gpu-walk.ts';
import type { AheadLimits, GpuAheadSteps, GpuStepRequest, GpuStepResult, GpuStepper } from './drafter.ts';
import { aheadBreach, aheadBudget } from './gpu-grow-ahead.ts';
import { decodeTree, nodeWords, truncate } from './hydra-gpu.ts';
import type { TreeShape } from './hydra-shape.ts';

/** A drafting of the heads: the tree of `shape` below `root`, and the words it was decoded from. */
export interface Drafting {
  root: number;
  shape: TreeShape;
  words: Int32Array<ArrayBuffer>;
  tree: DraftTree;
}

/** What the steps encoded ahead need of the drafter (HydraDrafter). */
export interface HydraSource {
  readonly heads: HydraHeads;
  /** Children per node at most (each level's top-k width) and frontier nodes per level at most. */
  readonly k: number;
  readonly maxFrontier: number;
  /** (trim) u32 token id of each trimmed index. */
  readonly vocabIdsBuffer: GPUBuffer;
  /** The shape the next record() drafts with. */
  readonly shape: TreeShape;
  /** The drafting propose() would verify after `root`, or null. */
  readyFor(root: number): Drafting | null;
  /** As propose() does for a step of `budget` nodes: the next drafting's shape is built for that budget. */
  setBudget(budget: number): void;
  /** Records the drafting of the next tree after the walk (InSubmitDraft.record). */
  record(encoder: GPUCommandEncoder, walkResult: GPUBuffer): ReadbackPart[];
  /** A step encoded ahead was read: observe() is about to see `verified`; `drafted` is ready after its bonus. */
  stepRead(verified: { tree: DraftTree; shape: TreeShape }, drafted: Drafting): void;
}

/** A step in flight. */
interface Flight {
  slot: number;
  /** The shape it verified (its predecessor's drafting), cut to `nodes`. */
  verified: TreeShape;
  nodes: number;
  /** The shape its heads drafted with. */
  drafted: TreeShape;
  /** Words its heads' drafting reads back. */
  draftedWords: number;
  maxCommit: number;
  walked: { words: number; parse(out: Int32Array): GpuWalkResult };
}

/**
 * Hydra's GpuStepper: single steps stay on the propose() and verifyTree path (step() is null);
 * greedy steps encoded ahead run here. Buffers and pipelines once per (drafter, target).
 */
export class HydraStepper implements GpuStepper {
  readonly pipelines: PipelineCache;
  readonly ops: HydraAheadOps;
  /** (4) u32 the next step's prefix and root; (4) u32 the verify pass's Step words; the commit path; the plan. */
  readonly next: GPUBuffer;
  readonly stepWords: GPUBuffer;
  readonly commit: GPUBuffer;
  readonly plan: GPUBuffer;
  /** (levels, maxFrontier, k) u32 the last drafting's trimmed ids. */
  readonly drafted: GPUBuffer;
  private ring: ReadbackRing | null = null;

  constructor(readonly src: HydraSource, readonly target: GpuModel, readonly walk: GpuAcceptWalk) {
    const device = target.device;
    this.pipelines = new PipelineCache(device);
    this.next = createStorage(device, 'hydraAhead.next', 16);
    this.stepWords = createStorage(device, 'hydraAhead.step', 16);
    this.commit = createStorage(device, 'hydraAhead.commit', HYDRA_COMMIT_BYTES);
    this.plan = createStorage(device, 'hydraAhead.plan', PLAN_BYTES);
    this.drafted = createStorage(device, 'hydraAhead.drafted', this.draftedBytes);
    const { tokens, positions } = target.passInputs();
    const w = walk.gpuBuffers();
    const b = { plan: this.plan, next: this.next, drafted: this.drafted, vocabIds: src.vocabIdsBuffer, tokens, positions, walkTree: w.tree, walkResult: w.result, step: this.stepWords, commit: this.commit };
    this.ops = new HydraAheadOps(this.pipelines, 'hydraAhead', b);
  }

  /** Bytes of the most words one drafting reads back: every level's frontier x k ids. */
  get draftedBytes(): number {
    return this.src.heads.numHeads * this.src.maxFrontier * this.src.k * 4;
  }

  step(): Promise<GpuStepResult | null> {
    return Promise.resolve(null);
  }

  ahead(depth: number, request?: GpuStepRequest): GpuAheadSteps | null {
    // greedy only: a sampled request (`request`) keeps one step at a time
    return request || aheadBreach(this.target) ? null : new HydraAhead(this, depth);
  }

  /** A ring of at least `slots` readback slots: the walk's result (at most numHeads deep) and the drafted words. */
  aheadRing(slots: number): ReadbackRing {
    if (!this.ring || this.ring.slots < slots) {
      this.ring?.destroy();
      const d = this.src.heads.numHeads;
      const walkBytes = (4 + d + (d + 1) * this.target.topK) * 4;
      this.ring = new ReadbackRing(this.target.device, 'hydraAhead.readback', walkBytes + this.draftedBytes, this.target.counter, slots);
    }
    return this.ring;
  }

  destroy(): void {
    this.ring?.destroy();
    for (const b of [this.next, this.stepWords, this.commit, this.plan, this.drafted]) b.destroy();
  }
}

export class HydraAhead implements GpuAheadSteps {
  private readonly ring: ReadbackRing;
  private readonly inFlight: Flight[] = [];
  /** The drafting the next step read verifies: the first step's from the CPU, then each step's read. */
  private last: Drafting | null = null;
  private readonly planData = new Uint32Array(PLAN_BYTES / 4);

  constructor(private readonly s: HydraStepper, readonly depth: number) {
    this.ring = s.aheadRing(depth);
  }

  get pending(): boolean {
    return this.inFlight.length > 0;
  }

  async next(committed: Int32Array, limits: AheadLimits): Promise<GpuStepResult | null> {
    const n = committed.length;
    if (!this.pending) {
      this.last = this.s.src.readyFor(committed[n - 1]);
      if (!this.last || this.budget(n, limits) < 1) return null;
      this.start(this.last, n - 1);
    }
    while (this.inFlight.length < this.depth && this.encode(n, limits));
    const f = this.inFlight.shift();
    if (!f) return null;
    const out = await this.ring.read(f.slot, new Int32Array(f.walked.words + this.s.draftedBytes / 4));
    const res = f.walked.parse(out.subarray(0, f.walked.words));
    checkBonus(res.bonus, this.s.target.outVocab, n - 1 + res.nodes.length);
    this.s.target.commitCompacted(res.nodes.length + 1);
    const { heads, k } = this.s.src;
    // the drafting this step verified is the last one read (or the flight's first), drafted with f.verified
    const tree = truncate(this.last!.tree, f.nodes);
    const words = out.slice(f.walked.words, f.walked.words + f.draftedWords);
    this.last = { root: res.bonus, shape: f.drafted, words, tree: decodeTree(f.drafted, words, k, heads.vocabIds) };
    this.s.src.stepRead({ tree, shape: f.verified }, this.last);
    return { tree, nodes: res.nodes, bonus: res.bonus, topK: res.topK, k: res.k };
  }

  finish(): void {
    for (const f of this.inFlight.splice(0)) this.ring.discard(f.slot);
  }

  private budget(n: number, limits: AheadLimits): number {
    return aheadBudget(this.inFlight, n, limits);
  }

  /** The first step's state from the CPU: its prefix and root, and the words of the drafting it verifies. */
  private start(ready: Drafting, prefix: number): void {
    const queue = this.s.target.device.queue;
    queue.writeBuffer(this.s.next, 0, Uint32Array.of(prefix, ready.root, 0, 0));
    queue.writeBuffer(this.s.drafted, 0, ready.words);
  }

  /** Submits one more step after those in flight; false where none fits (budget). */
  private encode(n: number, limits: AheadLimits): boolean {
    const budget = this.budget(n, limits);
    if (budget < 1) return false;
    const { src, target, walk } = this.s;
    const prev = this.inFlight.length ? this.inFlight[this.inFlight.length - 1].drafted : this.last!.shape;
    const nodes = Math.min(prev.parents.length, budget);
    if (nodes < 1) return false;
    const depth = this.writePlan(prev, nodes);
    src.setBudget(budget);
    const drafted = src.shape;
    const encoder = target.device.createCommandEncoder({ label: 'hydraAhead.encoder' });
    let pass = target.counter.beginPass(encoder, { label: 'hydraAhead.treePass' });
    this.s.ops.encodeTree(pass);
    pass.end();
    target.encodePass(encoder, nodes + 1, { buffer: this.s.stepWords, offset: 0 }, { topK: false });
    const walked = walk.encodeGreedyOnGpuTree(encoder, nodes + 1, depth);
    const result = walk.gpuBuffers().result;
    // the heads draft the next tree from the walk's result; the next step reads their ids in `drafted`
    let at = 0;
    for (const p of src.record(encoder, result)) {
      encoder.copyBufferToBuffer(p.src, p.srcOffset, this.s.drafted, at, p.bytes);
      at += p.bytes;
    }
    pass = target.counter.beginPass(encoder, { label: 'hydraAhead.commitPass' });
    this.s.ops.encodeCommit(pass);
    pass.end();
    target.kv.encodeCompaction(encoder, this.s.commit, 0);
    const parts = [{ src: result, srcOffset: 0, bytes: walked.words * 4 }, ...(at > 0 ? [{ src: this.s.drafted, srcOffset: 0, bytes: at }] : [])];
    const slot = this.ring.copyParts(encoder, parts);
    target.counter.submit(target.device.queue, encoder); // the step's one submit
    this.inFlight.push({ slot, verified: prev, nodes, drafted, draftedWords: at / 4, maxCommit: depth + 1, walked });
    return true;
  }

  /** Writes what the step verifying the first `nodes` of `shape` reads from the CPU: the plan, the mask, the walk's parent rows; returns the tree's depth. */
  private writePlan(shape: TreeShape, nodes: number): number {
    const { target, walk, src } = this.s;
    const parents = shape.parents.subarray(0, nodes);
    // the mask depends on the parents only: distinct stand-in tokens pass the tree's checks
    const layout = layoutTree({ tokens: Int32Array.from(parents, (_, i) => i), parents, draft: { kind: 'deterministic' } }, target.config.vocabSize, target.maxRows);
    const words = nodeWords(shape, src.k);
    const plan = this.planData;
    plan[0] = nodes + 1;
    let depth = 0;
    for (let i = 0; i < nodes; i++) {
      plan[4 + 2 * i] = words[i];
      plan[5 + 2 * i] = shape.depth[i];
      depth = Math.max(depth, shape.depth[i]);
    }
    const queue = target.device.queue;
    queue.writeBuffer(this.s.plan, 0, plan, 0, 4 + 2 * nodes);
    queue.writeBuffer(target.passInputs().mask, 0, layout.mask.buffer, layout.mask.byteOffset, layout.mask.byteLength);
    queue.writeBuffer(walk.gpuBuffers().tree, MAX_ROWS * 4, Int32Array.from(parents, (p) => p + 1));
    return depth;
  }
}
