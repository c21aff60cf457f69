/**
 * Draft-model drafter (SpecInfer, Miao et al. 2024; dynamic trees of EAGLE-2, Li et al. 2024):
 * a small LM with the target's tokenizer grows a tree level by level, expanding the frontier
 * nodes with the highest cumulative log-probability under the draft model.
 *
 * Engine steps run on the GPU (gpuStepper, src/draft/gpu-grow.ts), greedy and sampled: the draft
 * keeps its nodes' K/V in its cache under the tree mask (Step.rowBase), each level runs only its
 * frontier, selection (or, sampling, the draws with q kept) runs in kernels, and draft, verify,
 * walk and both compactions are one submit; the `auto` controller runs its draft arm that way
 * too, and so do trimmed drafts (VocabTrim). Sampled steps take the CPU path where
 * gpuSampleBreach says why. How many levels a step grows, on either path, follows the acceptance
 * of earlier steps (`depth`, src/draft/draft-depth.ts).
 *
 * propose() (fusion, profiled runs, sampled steps gpuSampleBreach refuses; and the GPU path's oracle)
 * runs one draft pass per level on the CPU's schedule: level d re-runs root + every node kept
 * so far (their tree masks, positions n-1+depth) and reads the logits of the frontier rows only
 * (readLogitRows); earlier rows recompute identical values. With `width` W the pass of level d
 * has at most 1 + W(d-1) rows. Each level is a dependent pass and a readback, so the levels that
 * accepted paths do not reach are shed as on the GPU: at most depth.levels levels, and observe()
 * feeds the accepted length of the step it drafted back to `depth`. The depth is fixed before
 * drawing from what earlier steps accepted, so under sampling the tree is only shallower and
 * every node's q is unchanged: verification stays lossless.
 *
 * Greedy requests (deterministic drafts, DESIGN section 5: q one-hot): each of the W frontier
 * nodes offers its W most likely children, the level keeps the W best candidates by cumulative
 * log-probability, and growth stops at the step's depth or when no candidate beats the budget-th best
 * node so far (cumulative log-probabilities only fall with depth, so nothing below it can
 * enter the tree). The tree is then the `budget` best nodes (EAGLE-2's reranking): a parent
 * ranks before its children (ties broken by depth), so the selection is a tree.
 *
 * Sampling requests: children are SAMPLED without replacement from the draft's processed
 * distribution q = targetProbs(draft logits, request options, history) and every drawn child is
 * kept, with q recorded per row, so recursive rejection sampling stays lossless. Dropping a
 * drawn child because of its own value would bias the draws, so how many children a node gets
 * is decided before drawing, from values already known: each level adds min(W, budget left)
 * nodes, one per frontier node in order of cumulative log q, the surplus to the best one.
 */
import type { Drafter, DraftContext, GpuStepper, VerifyObservation } from './drafter';
import type { GpuModel } from '../model/gpu-model';
import type { GpuAcceptWalk } from '../verify/gpu-walk';
import { GpuTreeGrower, gpuGrowBreach } from './gpu-grow';
import { DraftDepth } from './draft-depth';
import type { DraftTree } from '../tree/types';
import type { GpuCounter } from '../gpu/counter';
import type { DraftModel } from './draft-model';
import { sampleFrom } from '../verify/sampler';
import { OptionsError } from '../errors';
import { greedyLevel, rerank, rowQ, sampleLevel, type GrowNode } from './tree-select';

export interface ModelDrafterOptions {
  /** Frontier nodes expanded per level and children offered per node (default 4). */
  width?: number;
  /** Deepest level grown (default 10). */
  maxDepth?: number;
}

export class ModelDrafter implements Drafter {
  readonly width: number;
  readonly maxDepth: number;
  /** Levels of the next step, grown on the GPU or by propose() (from the acceptance of earlier ones; reset per generation). */
  readonly depth: DraftDepth;
  /**
   * Levels the last propose() ran, until observe() hands its acceptance to `depth`; null when
   * the step observed was not drafted by propose() (a GPU step observes itself; `auto`'s other
   * arms' steps say nothing of this drafter's depth).
   */
  private proposedLevels: number | null = null;
  private readonly growers = new WeakMap<GpuModel, Promise<GpuTreeGrower>>();

  constructor(
    readonly draft: DraftModel,
    opts: ModelDrafterOptions = {},
    readonly name = 'draft',
  ) {
    this.width = opts.width ?? 4;
    this.maxDepth = opts.maxDepth ?? 10;
    for (const [k, v] of [['width', this.width], ['maxDepth', this.maxDepth]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new OptionsError(`draft option ${k} must be an integer >= 1, got ${v}`);
    }
    this.depth = new DraftDepth(this.maxDepth);
  }

  counters(): GpuCounter[] {
    return [this.draft.gpu.counter];
  }

  /**
   * Steps grown on the GPU (src/draft/gpu-grow.ts), the same rules as grow() with the step's
   * depth from `depth`: built once per target; null when this width and maxDepth do not fit the
   * kernels (gpuGrowBreach). Its sampled steps come back null where gpuSampleBreach refuses them.
   */
  gpuStepper(target: GpuModel, walk: GpuAcceptWalk): Promise<GpuStepper | null> {
    if (gpuGrowBreach(this.draft, target, this.width, this.maxDepth)) return Promise.resolve(null);
    let g = this.growers.get(target);
    if (!g) {
      g = GpuTreeGrower.create(this.draft, target, walk, this.width, this.depth);
      this.growers.set(target, g);
    }
    return g;
  }

  propose(ctx: DraftContext, budget: number): Promise<DraftTree> {
    return this.draft.exclusive(() => this.grow(ctx, budget));
  }

  private async grow(ctx: DraftContext, budget: number): Promise<DraftTree> {
    const n = ctx.tokens.length;
    const gpu = this.draft.gpu;
    // The draft cache holds what the target's holds: tokens[0..n-2] (DESIGN section 3).
    this.draft.sync(ctx.tokens.subarray(0, n - 1));
    const nodes: GrowNode[] = [];
    const q: (Float32Array | null)[] = [];
    // Most nodes a pass may carry: the draft's rows, and (sampling keeps every node) the budget.
    const cap = Math.min(gpu.maxRows - 1, ctx.sampling ? budget : 127);
    const levels = this.depth.levelsFor(budget); // capped as on the GPU
    let frontier = [-1];
    let ran = 0;
    for (; ran < levels && frontier.length > 0 && nodes.length < cap; ran++) {
      this.runPass(ctx.tokens[n - 1], n - 1, nodes);
      const logits = await gpu.readLogitRows(frontier.map((f) => f + 1)); // (frontier, outVocab)
      const room = Math.min(this.width, cap - nodes.length);
      const added = ctx.sampling
        ? this.sampleLevel(ctx, nodes, frontier, logits, q, Math.min(room, budget - nodes.length))
        : this.greedyLevel(nodes, frontier, logits, room, budget);
      frontier = added;
    }
    // the levels whose passes ran: a path accepted to the last of them is one that reached the deepest level run
    this.proposedLevels = ran > 0 ? ran : null;
    return ctx.sampling ? toTree(nodes, q) : toTree(rerank(nodes, budget), null);
  }

  /** One draft pass over root + nodes; row i + 1 sees the root, its ancestors and itself. */
  private runPass(root: number, prefix: number, nodes: GrowNode[]): void {
    const rows = nodes.length + 1;
    const tokens = new Int32Array(rows);
    const positions = new Int32Array(rows);
    const mask = new Uint32Array(rows * 4); // (rows, 4) ancestor bits
    tokens[0] = root;
    positions[0] = prefix;
    mask[0] = 1;
    nodes.forEach((nd, i) => {
      const r = i + 1;
      tokens[r] = nd.token;
      positions[r] = prefix + nd.depth;
      const p = nd.parent + 1; // parent's row (0 = root); its mask is complete (BFS order)
      for (let w = 0; w < 4; w++) mask[r * 4 + w] = mask[p * 4 + w];
      mask[r * 4 + (r >> 5)] |= 1 << (r & 31);
    });
    this.draft.gpu.forward(tokens, positions, mask);
  }

  /** Greedy level: the `room` best of the frontier's top-W children that can still enter the budget. */
  private greedyLevel(nodes: GrowNode[], frontier: number[], logits: Float32Array, room: number, budget: number): number[] {
    return greedyLevel(nodes, frontier, logits, this.draft.gpu.outVocab, this.width, room, budget, (j) => this.draft.tokenOf(j));
  }

  /** Sampling level: `count` children drawn without replacement from q = the request's distribution of the draft's logits (sampleLevel). */
  private sampleLevel(ctx: DraftContext, nodes: GrowNode[], frontier: number[], logits: Float32Array, q: (Float32Array | null)[], count: number): number[] {
    const V = this.draft.gpu.outVocab;
    const qOf = (i: number, f: number): Float32Array =>
      rowQ(logits.subarray(i * V, (i + 1) * V), this.draft.gpu.config.vocabSize, (j) => this.draft.tokenOf(j), ctx.options, pathHistory(ctx.tokens, nodes, f));
    return sampleLevel(nodes, frontier, count, qOf, (left) => sampleFrom(left, ctx.rng), q);
  }

  /** The draft's prefill: its cache takes the prompt before the first step (DESIGN section 3: all but the root). */
  begin(prompt: Int32Array): Promise<void> {
    this.depth.reset();
    this.proposedLevels = null;
    return this.draft.exclusive(async () => this.draft.sync(prompt.subarray(0, prompt.length - 1)));
  }

  /**
   * The step's acceptance sets the next step's depth when propose() drafted it (a GPU step has
   * observed its own already). Under `fusion` the tree verified is the draft's merged with
   * retrieved paths: its accepted length is still the depth the text needs. The draft network
   * learns nothing; the next propose syncs its cache to the committed tokens.
   */
  observe(obs: VerifyObservation): void {
    if (this.proposedLevels !== null) this.depth.observe(this.proposedLevels, obs.acceptedNodes.length);
    this.proposedLevels = null;
  }

  reset(): void {
    this.draft.reset();
    this.depth.reset();
    this.proposedLevels = null;
  }
}

/** The committed tokens followed by the path root..node `f` (for the repetition penalty). */
function pathHistory(tokens: Int32Array, nodes: GrowNode[], f: number): Int32Array {
  const path: number[] = [];
  for (let u = f; u >= 0; u = nodes[u].parent) path.push(nodes[u].token);
  const out = new Int32Array(tokens.length + path.length);
  out.set(tokens);
  out.set(path.reverse(), tokens.length);
  return out;
}

function toTree(nodes: GrowNode[], q: (Float32Array | null)[] | null): DraftTree {
  const tokens = Int32Array.from(nodes, (x) => x.token);
  const parents = Int32Array.from(nodes, (x) => x.parent);
  if (!q) return { tokens, parents, draft: { kind: 'deterministic' } };
  const rows = Array.from({ length: nodes.length + 1 }, (_, r) => q[r] ?? null);
  return { tokens, parents, draft: { kind: 'sampled', withReplacement: false, q: rows } };
}
