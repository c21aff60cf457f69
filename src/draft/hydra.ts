/**
 * Hydra (Ankner et al. 2024): sequentially dependent draft heads on the target's own final
 * hidden state. The heads draft the next tree on the GPU inside each verify step's command
 * buffer (hydra-gpu.ts), right after the acceptance walk, from the hidden state of the last
 * accepted row and the bonus token; the tree's ids come back with the walk's result, so a step
 * is one command buffer and one readback, and propose() only hands over what was read. The
 * first tree of a generation is drafted after the prefill, from the row before the root.
 *
 * Tree shape: children per node per depth from the measured acceptance of each (depth, rank)
 * (hydra-shape.ts), starting from the heads' held-out agreement and rebuilt every
 * RESHAPE_EVERY observed steps. Children are each head's top-k, deterministic under greedy
 * decoding and sampling alike: verification treats them as one-hot drafts (DESIGN section 5),
 * so sampled output keeps the target's distribution.
 */
import type { GpuCounter } from '../gpu/counter.ts';
import { TreeError } from '../tree/validate.ts';
import { emptyTree, type DraftTree } from '../tree/types.ts';
import type { HydraHeads } from '../model/heads.ts';
import type { GpuModel } from '../model/gpu-model.ts';
import type { ReadbackPart } from '../gpu/readback.ts';
import type { GpuAcceptWalk } from '../verify/gpu-walk.ts';
import type { DraftContext, Drafter, GpuStepper, InSubmitDraft, VerifyObservation } from './drafter.ts';
import { HydraStepper, type Drafting, type HydraSource } from './hydra-ahead.ts';
import { HydraGpu, decodeTree, truncate, type HeadInputs } from './hydra-gpu.ts';
import { AcceptanceTable, buildShape, priorAcceptance, type TreeShape } from './hydra-shape.ts';

/** Observed steps between two rebuilds of the tree shape. */
const RESHAPE_EVERY = 8;

export interface HydraOptions {
  /** Rows of a verify pass at most (root included): bounds each level's frontier. */
  maxRows: number;
  /** Children per node at most (each level's top-k). Default 8. */
  k?: number;
  /** Nodes of the first shape, before propose() says the budget. Default 16. */
  budget?: number;
  /** How the trimmed LM head is stored (the target's matrices: f32, else f16). */
  matrixDtype: 'f32' | 'f16';
}

export class HydraDrafter implements Drafter, HydraSource {
  readonly name = 'hydra';
  readonly inSubmit: InSubmitDraft;
  private readonly gpu: HydraGpu;
  private readonly prior: Float64Array[];
  private table: AcceptanceTable;
  private budget: number;
  private observed = 0;
  /** The tree drafted in the last verify submit, for the root it was drafted after. */
  private next: Drafting | null = null;
  private proposed: { tree: DraftTree; shape: TreeShape } | null = null;
  /** Greedy steps encoded ahead (hydra-ahead.ts), built at the first gpuStepper() of a target. */
  private stepper: HydraStepper | null = null;

  constructor(inputs: HeadInputs, readonly heads: HydraHeads, opts: HydraOptions) {
    const k = opts.k ?? 8;
    this.gpu = new HydraGpu(inputs, heads, k, Math.max(1, opts.maxRows - 1), opts.matrixDtype);
    this.prior = priorAcceptance(heads.agreement, heads.numHeads, k);
    this.table = new AcceptanceTable(this.prior);
    this.budget = Math.min(opts.budget ?? 16, opts.maxRows - 1);
    this.reshape();
    const gpu = this.gpu;
    this.inSubmit = {
      record: (encoder, walkResult) => gpu.record(encoder, walkResult),
      receive: (words, bonus) => this.receive(words, bonus),
    };
  }

  /** The heads' GPU work (stats.gpu counts it as drafting): 1 + 3 x levels dispatches per step, no readback of its own. */
  counters(): GpuCounter[] {
    return [this.gpu.counter];
  }

  /** Throws ShaderCompileError if a kernel does not compile. */
  async check(): Promise<void> {
    await this.gpu.check();
  }

  /** The shape the next verify submit drafts with. */
  get shape(): TreeShape {
    return this.gpu.recordedShape!;
  }

  /** The first tree of a generation: drafted from the prefill's last row (the row before the root). */
  async begin(prompt: Int32Array): Promise<void> {
    this.clear();
    const root = prompt[prompt.length - 1];
    const words = prompt.length > 1 ? await this.gpu.draftAfterPass(root) : null;
    if (words) this.receive(words, root);
  }

  private clear(): void {
    this.next = null;
    this.proposed = null;
  }

  propose(ctx: DraftContext, budget: number): DraftTree {
    const root = ctx.tokens[ctx.tokens.length - 1];
    this.setBudget(budget);
    const ready = this.readyFor(root);
    this.next = null;
    if (!ready || budget < 1) {
      this.proposed = null;
      return emptyTree();
    }
    const tree = truncate(ready.tree, budget);
    this.proposed = { tree, shape: ready.shape };
    return tree;
  }

  observe(obs: VerifyObservation): void {
    const p = this.proposed;
    this.proposed = null;
    if (!p || obs.tree !== p.tree) return;
    const ranks = Array.from(obs.acceptedNodes, (i) => p.shape.rank[i]);
    const last = obs.acceptedNodes.length ? obs.acceptedNodes[obs.acceptedNodes.length - 1] : -1;
    this.table.record(ranks, p.tree.parents.includes(last));
    if (++this.observed % RESHAPE_EVERY === 0) this.reshape();
  }

  /**
   * Single steps stay on propose() and verifyTree (the stepper's step() is null); greedy steps
   * encoded ahead run on the GPU (hydra-ahead.ts), where the target allows (aheadBreach).
   */
  async gpuStepper(target: GpuModel, walk: GpuAcceptWalk): Promise<GpuStepper | null> {
    if (!this.stepper || this.stepper.target !== target || this.stepper.walk !== walk) {
      this.stepper?.destroy();
      this.stepper = new HydraStepper(this, target, walk);
      await this.stepper.pipelines.checkCompilation();
    }
    return this.stepper;
  }

  /** This step's verify submit drafts the next tree: with a shape of this budget. */
  setBudget(budget: number): void {
    if (budget !== this.budget && budget > 0) {
      this.budget = budget;
      this.reshape();
    }
  }

  readyFor(root: number): Drafting | null {
    return this.next && this.next.root === root ? this.next : null;
  }

  record(encoder: GPUCommandEncoder, walkResult: GPUBuffer): ReadbackPart[] {
    return this.gpu.record(encoder, walkResult);
  }

  stepRead(verified: { tree: DraftTree; shape: TreeShape }, drafted: Drafting): void {
    this.proposed = verified;
    this.next = drafted;
  }

  get k(): number {
    return this.gpu.k;
  }

  get maxFrontier(): number {
    return this.gpu.maxFrontier;
  }

  get vocabIdsBuffer(): GPUBuffer {
    return this.gpu.vocabIds;
  }

  reset(): void {
    this.table = new AcceptanceTable(this.prior);
    this.observed = 0;
    this.clear();
    this.reshape();
  }

  destroy(): void {
    this.stepper?.destroy();
    this.gpu.destroy();
  }

  private reshape(): void {
    const limits = { budget: this.budget, depth: this.heads.numHeads, k: this.gpu.k, frontier: this.gpu.maxFrontier };
    this.gpu.setShape(buildShape(this.table.estimate(), limits));
  }

  private receive(words: Int32Array, bonus: number): void {
    const shape = this.gpu.recordedShape;
    if (!shape || shape.parents.length === 0) return;
    const want = shape.frontier.reduce((n, f) => n + f.length, 0) * this.gpu.k;
    if (words.length !== want) throw new TreeError(`hydra: ${words.length} words read back, expected ${want} for the recorded shape`);
    this.next = { root: bonus, tree: decodeTree(shape, words, this.gpu.k, this.heads.vocabIds), shape, words: words.slice() };
  }
}
