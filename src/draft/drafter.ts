import type { GpuCounter } from '../gpu/counter';
import type { ReadbackPart } from '../gpu/readback';
import type { DraftTree } from '../tree/types';
import type { GpuModel } from '../model/gpu-model';
import type { GpuAcceptWalk } from '../verify/gpu-walk';
import type { Rng } from '../verify/rng';
import type { SamplingOptions } from '../verify/sampler';

/** What a drafter sees when asked for a tree. */
export interface DraftContext {
  /** Committed tokens; the last one is the root of the tree to draft. */
  tokens: Int32Array;
  /** True when the request samples (temperature > 0): sampled drafts must carry q. */
  sampling: boolean;
  /** The request's sampling options: a drafter that samples draws from the same processed distribution family. */
  options: SamplingOptions;
  /** The request's seeded generator, for drafters that sample. */
  rng: Rng;
}

/** What the target said about one verified tree (DESIGN section 3, step 4). */
export interface VerifyObservation {
  tree: DraftTree;
  /** Accepted node indices, root excluded, in path order. */
  acceptedNodes: Int32Array;
  /** Tokens committed by this step: the accepted tokens then the bonus token. */
  committed: Int32Array;
  /**
   * (rows, k) the target's top-k token ids per verify row (row 0 = root, row i+1 = node i).
   * Only the committed path's rows (the root and the accepted rows) are filled, the others are
   * -1, unless the drafter has observesAllRows: verification reads back only what is needed.
   * Under greedy decoding only column 0 is filled unless the drafter has needsTopK.
   */
  topK: Int32Array;
  /** Width of topK. */
  k: number;
  /** What the step encoded on the GPU, drafting and verifying (absent where it was not counted). */
  gpu?: { dispatches: number; readbacks: number };
}

/** What a step run wholly on the GPU (GpuStepper) verified and accepted. */
export interface GpuStepResult {
  /** The tree that was verified. */
  tree: DraftTree;
  /** Accepted node indices in path order. */
  nodes: Int32Array;
  /** The token drawn from the target at the last accepted row. */
  bonus: number;
  /** (rows, k) the target's top-k ids of the root's and the accepted rows (others -1). */
  topK: Int32Array;
  k: number;
}

/**
 * A step recorded as one command buffer (DESIGN section 8): draft, verify pass, acceptance
 * walk and both caches' compaction; the target's cache grows by the accepted nodes and the
 * root (the bonus is the next root), as after verifyTree and commit.
 */
export interface GpuStepper {
  /**
   * null where this step is not run on the GPU (the `auto` controller chose an arm that drafts
   * on the CPU, or plain decoding, or a sampled step this stepper cannot take): the caller then
   * drafts with propose() and verifies. `request` absent: a greedy step.
   */
  step(committed: Int32Array, budget: number, needs?: GpuStepNeeds, request?: GpuStepRequest): Promise<GpuStepResult | null>;
  /**
   * Steps encoded ahead, up to `depth` in flight (EngineOptions.stepsAhead), with no
   * GpuStepNeeds: greedy, or sampled for `request`; null where this stepper cannot run them.
   */
  ahead?(depth: number, request?: GpuStepRequest): GpuAheadSteps | null;
}

/** What bounds the steps encoded ahead: the context, the tokens still wanted and the tree budget. */
export interface AheadLimits {
  maxContext: number;
  /** Tokens the generation may still produce (max tokens less those produced). */
  tokensLeft: number;
  treeBudget: number;
}

/**
 * Steps encoded ahead of their readback (DESIGN section 8): each step's accepted path stays on
 * the GPU, where the next step reads its prefix and root, so the CPU encodes step t+1 before it
 * has read step t and reads the results in order, one readback each.
 */
export interface GpuAheadSteps {
  /**
   * The outcome of the oldest step in flight after `committed` (every token read so far), after
   * topping the flight up to `depth` steps within `limits`; null when no step is in flight and
   * none fits the limits (the caller then takes a step of its own).
   */
  next(committed: Int32Array, limits: AheadLimits): Promise<GpuStepResult | null>;
  /** Steps in flight at most. */
  readonly depth: number;
  /** Whether steps are in flight: their outcomes must be read before any other step runs. */
  readonly pending: boolean;
  /** Drops the steps in flight: both caches hold what the steps read left them. */
  finish(): void;
}

/** The request a step samples for: its options and seeded Rng, which the step advances by the draws it used. */
export interface GpuStepRequest {
  options: SamplingOptions;
  rng: Rng;
}

/**
 * What the drafters observing a step run on the GPU need of it beyond the argmax of the path
 * rows (the `auto` controller's members, which all observe every step): Drafter.needsTopK,
 * observesAllRows and inSubmit, with the same meaning as for a verify step.
 */
export interface GpuStepNeeds {
  topK?: boolean;
  allRows?: boolean;
  inSubmit?: InSubmitDraft;
}

/**
 * Drafting on the GPU inside the verify step's command buffer, after the acceptance walk
 * (Hydra heads, DESIGN section 8): record() adds its passes, which read the walk's result on
 * the GPU, and names ranges to read back with the walk's result (the step's one readback);
 * receive() gets their words and the step's bonus token (the next root).
 */
export interface InSubmitDraft {
  record(encoder: GPUCommandEncoder, walkResult: GPUBuffer): ReadbackPart[];
  receive(words: Int32Array, bonus: number): void;
}

/**
 * A drafter proposes a tree below the root and learns from what the target did. Correctness
 * never depends on it: verification keeps the output equal to the target's.
 */
export interface Drafter {
  readonly name: string;
  /**
   * True when observe() needs the target's top-k at every verify row, not only on the committed
   * path (Token Recycling refreshes its matrix from all rows); costs rows * k u32 of readback.
   */
  readonly observesAllRows?: boolean;
  /**
   * True when observe() reads the target's top-k beyond column 0 (the argmax). Otherwise a
   * greedy step's target pass computes only the argmax (ForwardOptions.topK): one dispatch,
   * where the top-k over a GPU's slices of a large vocabulary takes two; observe() then sees
   * -1 in columns 1..k-1.
   */
  readonly needsTopK?: boolean;
  /** Set by a drafter that drafts inside the verify submit (see InSubmitDraft); it runs on every verify step. */
  readonly inSubmit?: InSubmitDraft;
  /** For composite drafters (the `auto` controller): the arm that drafted the last proposal. */
  readonly choice?: string;
  /** Called once per generation with the prompt tokens (after reset state is kept or not). */
  begin?(prompt: Int32Array): void | Promise<void>;
  /** A tree of at most `budget` nodes below ctx.tokens[last]. */
  propose(ctx: DraftContext, budget: number): DraftTree | Promise<DraftTree>;
  /** What verification accepted and what the target predicted at every row. */
  observe(obs: VerifyObservation): void;
  /**
   * Drafters that can run whole steps on the GPU: the stepper for this target and its
   * acceptance walk, or null where this drafter's configuration cannot.
   */
  gpuStepper?(target: GpuModel, walk: GpuAcceptWalk): Promise<GpuStepper | null>;
  /** Forgets all learned state. */
  reset(): void;
  /**
   * The counters of the GPU work this drafter runs (its draft model's GpuModel.counter, or its
   * own counter that the target's is diverted to while it drafts with the target's layers);
   * absent or empty for drafters that run on the CPU. The decode loop reports their growth as
   * the draft share of stats.gpu.
   */
  counters?(): GpuCounter[];
}
