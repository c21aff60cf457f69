/**
 * Hydra drafting on the GPU, recorded in the verify step's command buffer after the acceptance
 * walk (DESIGN section 8: one command buffer, one readback per step). Level 0 gathers the
 * target's final-norm hidden state at the last accepted row and the bonus token from the walk's
 * result; level d (1..depth) runs head d over the shape's frontier at depth d-1 (one dispatch),
 * the LM head over the trimmed vocabulary (one matmul) and a one-slice top-k (one dispatch):
 * 1 + 3 * depth dispatches per tree. The best ids of every level are read back with the walk's
 * result and turned into the next step's tree (decode).
 */
import { createStorage, packF16Rows, uploadStorage } from '../gpu/buffers.ts';
import { GpuCounter } from '../gpu/counter.ts';
import { ReadbackRing } from '../gpu/readback.ts';
import { PipelineCache } from '../gpu/pipelines.ts';
import type { ReadbackPart } from '../gpu/readback.ts';
import { StepUniform } from '../gpu/step.ts';
import type { HydraHeads } from '../model/heads.ts';
import { trimmedTable } from '../model/heads-reference.ts';
import { HydraGatherOp, HydraHeadOp } from '../ops/hydra-head.ts';
import { MatmulOp } from '../ops/matmul.ts';
import { TopKOp, MAX_TOP_K } from '../ops/topk.ts';
import type { DraftTree } from '../tree/types.ts';
import type { TreeShape } from './hydra-shape.ts';

/** What the heads read of the target on the GPU (GpuModel.headInputs). */
export interface HeadInputs {
  device: GPUDevice;
  /** (maxRows, hidden) f32 residual stream after the last layer of the last pass. */
  x: GPUBuffer;
  /** (hidden) f32 final norm weight. */
  finalNorm: GPUBuffer;
  eps: number;
  /** (vocab, hidden) embedding table, f32 or f16 pairs. */
  embed: GPUBuffer;
  embedDtype: 'f32' | 'f16';
  /** (vocab, hidden) f32 embedding values (the trimmed LM head is cut from them). */
  embedValues: Float32Array;
  /** Rows of x the target's last pass left (GpuModel.lastPassRows). */
  lastPassRows(): number;
}

interface Level {
  step: StepUniform;
  /** (maxFrontier, 2) u32 parent slot, rank. */
  frontier: GPUBuffer;
  /** (maxFrontier, hidden) f32. */
  states: GPUBuffer;
  /** (maxFrontier, k) u32 best trimmed ids. */
  ids: GPUBuffer;
  head: HydraHeadOp;
  lmHead: MatmulOp;
  topK: TopKOp;
  count: number;
}

export class HydraGpu {
  /** The heads' dispatches (their readback rides on the walk's, counted by the target). */
  readonly counter = new GpuCounter('hydra');
  private readonly pipelines: PipelineCache;
  private readonly buffers: GPUBuffer[] = [];
  private readonly levels: Level[] = [];
  /** Level 0: (1, hidden) state and (1) token. */
  private readonly state0: GPUBuffer;
  private readonly ids0: GPUBuffer;
  private readonly gathers = new Map<GPUBuffer, HydraGatherOp>();
  private shape: TreeShape | null = null;
  /** A walk result of our own for drafting after a prefill: [count, bonus, 0, 0, last node]. */
  private readonly prefillResult: GPUBuffer;
  private readonly ring: ReadbackRing;
  /** (trim) u32 token id of each trimmed index (the heads' rows of the LM head). */
  readonly vocabIds: GPUBuffer;

  /** `k`: children per node at most (the top-k width); `maxFrontier`: frontier nodes per level at most. */
  constructor(private readonly t: HeadInputs, readonly heads: HydraHeads, readonly k: number, readonly maxFrontier: number, matrixDtype: 'f32' | 'f16') {
    const { device } = t;
    const H = heads.hidden;
    const trim = heads.vocabIds.length;
    this.pipelines = new PipelineCache(device);
    const keep = (b: GPUBuffer) => (this.buffers.push(b), b);
    const weights = keep(uploadStorage(device, 'hydra.weights', heads.weights));
    const vocabIds = keep(uploadStorage(device, 'hydra.vocabIds', Uint32Array.from(heads.vocabIds)));
    this.vocabIds = vocabIds;
    const table = trimmedTable(heads, t.embedValues); // (trim, hidden)
    const eTrim = keep(uploadStorage(device, 'hydra.lmHead', matrixDtype === 'f16' ? packF16Rows(table, trim, H) : table));
    const logits = keep(createStorage(device, 'hydra.logits', maxFrontier * trim * 4)); // (maxFrontier, trim)
    const values = keep(createStorage(device, 'hydra.topKValues', maxFrontier * k * 4)); // (maxFrontier, k)
    this.state0 = keep(createStorage(device, 'hydra.state0', H * 4));
    this.ids0 = keep(createStorage(device, 'hydra.ids0', 4));
    this.prefillResult = keep(createStorage(device, 'hydra.prefillResult', 5 * 4));
    this.ring = new ReadbackRing(device, 'hydra.prefillReadback', maxFrontier * (heads.numHeads + 1) * k * 4, this.counter, 1);
    let prev = { states: this.state0, ids: this.ids0, k: 1 };
    for (let d = 0; d < heads.numHeads; d++) {
      const step = new StepUniform(device, `hydra.level${d + 1}.step`);
      keep(step.buffer);
      const env = { device, pipelines: this.pipelines, step: step.buffer };
      const frontier = keep(createStorage(device, `hydra.level${d + 1}.frontier`, maxFrontier * 8));
      const states = keep(createStorage(device, `hydra.level${d + 1}.states`, maxFrontier * H * 4));
      const ids = keep(createStorage(device, `hydra.level${d + 1}.ids`, maxFrontier * k * 4));
      const head = new HydraHeadOp(env, `hydra.level${d + 1}.head`, { frontier, prevStates: prev.states, prevIds: prev.ids, vocabIds, table: t.embed, weights, states }, {
        hidden: H, ffn: heads.ffn, heads: heads.numHeads, head: d, kPrev: prev.k, mapIds: d > 0, embedDtype: t.embedDtype,
      });
      const lmHead = new MatmulOp(env, `hydra.level${d + 1}.lmHead`, { x: states, w: eTrim, y: logits }, { inDim: H, outDim: trim, dtype: matrixDtype });
      // one slice: a level's top-k is one dispatch (the 4-dispatch budget of a level)
      const topK = new TopKOp(env, `hydra.level${d + 1}.topK`, { logits, ids, values }, trim, k, { sliceLength: Infinity });
      this.levels.push({ step, frontier, states, ids, head, lmHead, topK, count: 0 });
      prev = { states, ids, k };
    }
    if (k < 1 || k > MAX_TOP_K) throw new RangeError(`HydraGpu: k ${k}, expected 1..${MAX_TOP_K}`);
  }

  /** Throws ShaderCompileError if a kernel does not compile. */
  async check(): Promise<void> {
    await this.pipelines.checkCompilation();
  }

  /** Dispatches of one drafting (the gather, then head + LM head + top-k per level). */
  get dispatches(): number {
    return this.shape ? 1 + 3 * this.shape.frontier.length : 0;
  }

  /** Uses `shape` from the next record on: writes each level's frontier table and row count. */
  setShape(shape: TreeShape): void {
    if (shape.frontier.length > this.levels.length || shape.k > this.k) {
      throw new RangeError(`HydraGpu.setShape: ${shape.frontier.length} levels of width ${shape.k}, expected at most ${this.levels.length} of ${this.k}`);
    }
    const slotOf = new Map<number, number>();
    shape.frontier.forEach((nodes, d) => {
      const level = this.levels[d];
      if (nodes.length > this.maxFrontier) throw new RangeError(`HydraGpu.setShape: ${nodes.length} frontier nodes at level ${d + 1}, expected at most ${this.maxFrontier}`);
      const table = new Uint32Array(2 * nodes.length);
      nodes.forEach((u, f) => {
        table[2 * f] = u < 0 ? 0 : slotOf.get(shape.parents[u])!;
        table[2 * f + 1] = u < 0 ? 0 : shape.rank[u];
      });
      nodes.forEach((u, f) => slotOf.set(u, f));
      this.t.device.queue.writeBuffer(level.frontier, 0, table);
      level.head.setCount(this.t.device, nodes.length);
      level.step.write(nodes.length);
      level.count = nodes.length;
    });
    this.shape = shape;
  }

  /**
   * Records the drafting of the next tree after the walk whose result buffer is `walkResult`;
   * returns the ranges to read back with it (each level's best ids).
   */
  record(encoder: GPUCommandEncoder, walkResult: GPUBuffer): ReadbackPart[] {
    if (!this.shape) return [];
    let gather = this.gathers.get(walkResult);
    if (!gather) {
      const b = { result: walkResult, x: this.t.x, norm: this.t.finalNorm, state: this.state0, ids: this.ids0 };
      gather = new HydraGatherOp({ device: this.t.device, pipelines: this.pipelines }, `hydra.gather${this.gathers.size}`, b, this.heads.hidden, this.t.eps);
      this.gathers.set(walkResult, gather);
    }
    const pass = this.counter.beginPass(encoder, { label: 'hydra.pass' });
    gather.encode(pass);
    const levels = this.levels.slice(0, this.shape.frontier.length);
    for (const l of levels) {
      l.head.encode(pass, l.count);
      l.lmHead.encode(pass, l.count);
      l.topK.encode(pass, l.count);
    }
    pass.end();
    return levels.map((l) => ({ src: l.ids, srcOffset: 0, bytes: l.count * this.k * 4 }));
  }

  /**
   * Drafts from the last row of the target's last pass (a prefill: the row before the root)
   * with `root` as the level-0 token, in a submit of its own; returns the words record() would
   * read back (null without a pass). Runs once per generation, before the first step.
   */
  async draftAfterPass(root: number): Promise<Int32Array | null> {
    const rows = this.t.lastPassRows();
    if (!this.shape || rows < 1) return null;
    const { device } = this.t;
    device.queue.writeBuffer(this.prefillResult, 0, Uint32Array.of(rows > 1 ? 1 : 0, root, 0, 0, Math.max(0, rows - 2)));
    const encoder = device.createCommandEncoder({ label: 'hydra.prefillEncoder' });
    const parts = this.record(encoder, this.prefillResult);
    const slot = this.ring.copyParts(encoder, parts);
    this.counter.submit(device.queue, encoder);
    return this.ring.read(slot, new Int32Array(parts.reduce((n, p) => n + p.bytes / 4, 0)));
  }

  /** The shape recorded last (decode the words read back with it). */
  get recordedShape(): TreeShape | null {
    return this.shape;
  }

  destroy(): void {
    for (const l of this.levels) l.head.destroy();
    for (const b of this.buffers) b.destroy();
  }
}

/**
 * The tree of `shape` from the best ids of each level, back to back as read (level d: frontier
 * nodes x k trimmed ids): node (parent u, rank r) at depth d is the r-th best id of u's slot.
 */
export function decodeTree(shape: TreeShape, words: Int32Array, k: number, vocabIds: Int32Array): DraftTree {
  const tokens = Int32Array.from(nodeWords(shape, k), (w) => vocabIds[words[w]]);
  return { tokens, parents: shape.parents.slice(), draft: { kind: 'deterministic' } };
}

/** (m) where each node of `shape` finds its trimmed id in the words of a drafting (see decodeTree). */
export function nodeWords(shape: TreeShape, k: number): Int32Array {
  const slot = new Map<number, number>(); // frontier node -> word offset of its ids
  let off = 0;
  for (const nodes of shape.frontier) {
    nodes.forEach((u, f) => slot.set(u, off + f * k));
    off += nodes.length * k;
  }
  return Int32Array.from(shape.parents, (u, i) => slot.get(u)! + shape.rank[i]);
}

/** The first `budget` nodes of a BFS-ordered tree (a parent precedes its children, so still a tree). */
export function truncate(tree: DraftTree, budget: number): DraftTree {
  if (tree.tokens.length <= budget) return tree;
  return { tokens: tree.tokens.slice(0, budget), parents: tree.parents.slice(0, budget), draft: tree.draft };
}
