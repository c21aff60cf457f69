/**
 * Draft-model steps encoded ahead (EngineOptions.stepsAhead; DESIGN section 8: where the next
 * step's inputs are on the GPU, keep the step state there and encode ahead, reading results
 * behind). A step grown on the GPU (src/draft/gpu-grow.ts) needs, of the steps before it, only
 * the prefix length and the root, and under sampling where the request's stream of draws stands;
 * everything else it reads the CPU knows ahead or the step writes itself. So a step encoded
 * ahead (GrowParams.ahead) ends with its commit kernel writing the next step's prefix and root
 * (shaders/draft_commit_u32.wgsl): into the prefix word of every pass's Step words, the draft's
 * first pass input, and a pair the next step copies into its parameters before its first
 * kernel. The CPU then submits step t+1 (up to `depth` in flight) before it has read step t, and
 * reads the outcomes in order, one readback each.
 *
 * The draft cache must hold every accepted node without a sync pass (which would need the path
 * on the CPU), so a step encoded ahead runs its deepest level's nodes in one more draft pass (no
 * logits) and keeps them all: one pass of W rows per step more than a step read before the next.
 *
 * Sampled steps (no repetition penalty, whose history would need tokens only the GPU has seen)
 * use the request's draws in the order a step read before the next does: the CPU writes the
 * stream ahead into a ring (GpuTreeGrower.writePool: from the first draw no step read has used,
 * as many as the steps in flight and this one may use), each step's first kernel loads its
 * uniforms from the stream position the step before left (shaders/draft_uniforms_u32.wgsl), its
 * commit kernel moves that position past the draws it used, and the CPU consumes them from the
 * Rng when it reads the step. A seed reproduces a generation; it gives one step at a time's tokens
 * as long as the trees are the same (their budgets can differ near the end, below).
 *
 * Bounds: each step commits 1 to levels + 1 tokens, so the CPU knows, at every submit, the most
 * the steps in flight can commit. A step is encoded only where what it can commit fits the
 * context and the tokens left after that, and its node budget is bounded as a step read before it
 * would be (the first step of a flight drafts exactly that step's tree); so near the end fewer
 * steps are in flight. Verification keeps the target's tokens (greedy) or distribution (sampled)
 * for any tree; steps past an end-of-sequence token or a stop string are dropped unread (finish).
 *
 * Books: the caches' lengths and the draft's token list move on the CPU only when an outcome is
 * read, so after finish() both caches hold what the steps read committed; what the steps dropped
 * wrote lies past their length, where the next pass to commit those slots rewrites it.
 */
import type { ReadbackRing } from '../gpu/readback.ts';
import type { GpuModel } from '../model/gpu-model.ts';
import { checkBonus } from '../verify/accept.ts';
import type { GpuWalkResult } from '../verify/gpu-walk.ts';
import type { AheadLimits, GpuAheadSteps, GpuStepRequest, GpuStepResult } from './drafter.ts';
import type { GpuTreeGrower } from './gpu-grow.ts';

/** A step in flight. */
interface Flight {
  slot: number;
  levels: number;
  /** The most tokens the step commits: its deepest accepted path and the bonus. */
  maxCommit: number;
  /** The most uniforms the step uses (sampled): one per node and one per verify row. */
  maxDraws: number;
  walked: { words: number; parse(out: Int32Array): GpuWalkResult };
}

/**
 * The node budget of a step submitted after those `inFlight`, `n` tokens read: it commits at
 * most budget + 1 tokens, which must fit the context and the tokens left after the most the
 * steps in flight can commit (so no step commits past max tokens, as one step at a time never
 * does). Also Hydra's steps encoded ahead (hydra-ahead.ts).
 */
export function aheadBudget(inFlight: { maxCommit: number }[], n: number, limits: AheadLimits): number {
  const most = inFlight.reduce((s, f) => s + f.maxCommit, 0);
  return Math.min(limits.maxContext - n - most - 1, limits.tokensLeft - most - 1, limits.treeBudget);
}

/**
 * Why steps on `target` (and the models in `others`, whose caches its steps write too) cannot be
 * encoded ahead, or null when they can: the next step's root is the walk's bonus, which must be a
 * token id, and a pass encoded ahead must not depend on which slots a sliding-window ring still
 * holds (the CPU checks that with the path read). Also Hydra's steps (hydra-ahead.ts).
 */
export function aheadBreach(target: GpuModel, ...others: GpuModel[]): string | null {
  if (target.outVocab !== target.config.vocabSize) return `the target's logits rows (${target.outVocab}) are not its vocabulary (${target.config.vocabSize}): the bonus is not a token id`;
  if ([target, ...others].some((m) => m.kv.layout.ring > 0)) return 'a sliding-window layer keeps its cache as a ring';
  return null;
}

/** Words of the state's head read back after the walk's result (GpuTreeGrower.treePart). */
const TREE_WORDS = 4 + 2 * 128;

export class GpuGrowAhead implements GpuAheadSteps {
  private readonly ring: ReadbackRing;
  private readonly inFlight: Flight[] = [];
  /** Releases the draft model (held while steps are in flight), or null. */
  private release: (() => void) | null = null;

  /** Uniforms of the request's stream the steps read so far used (counted from the flight's start, as the GPU's stream position). */
  private consumed = 0;

  /** `request`: a sampled request (temperature > 0, no repetition penalty), absent for greedy steps. */
  constructor(private readonly g: GpuTreeGrower, readonly depth: number, private readonly request?: GpuStepRequest) {
    this.ring = g.aheadRing(depth);
  }

  get pending(): boolean {
    return this.inFlight.length > 0;
  }

  async next(committed: Int32Array, limits: AheadLimits): Promise<GpuStepResult | null> {
    const n = committed.length;
    if (!this.pending) {
      if (this.budget(n, limits) < 1) return null;
      this.release = await this.g.draft.claim();
      this.consumed = 0;
      // the draft cache holds what the target's holds (DESIGN section 3): a flight starts from the tokens read
      this.g.draft.sync(committed.subarray(0, n - 1));
    }
    while (this.inFlight.length < this.depth && this.encode(committed, limits));
    const f = this.inFlight.shift()!;
    try {
      const out = await this.ring.read(f.slot, new Int32Array(f.walked.words + TREE_WORDS + 1));
      const res = f.walked.parse(out.subarray(0, f.walked.words));
      checkBonus(res.bonus, this.g.target.outVocab, n - 1 + res.nodes.length);
      if (this.request) {
        // the levels' uniforms (GrowState.draws), then the walk's (result word 2), as a step read before the next consumes them
        const used = out[f.walked.words + TREE_WORDS] + out[2];
        this.request.rng.skip(used);
        this.consumed += used;
      }
      // a sampled tree's q stayed on the GPU, where the walk read it
      const draft = this.request ? { kind: 'sampled' as const, withReplacement: false, q: [] } : { kind: 'deterministic' as const };
      return this.g.committed(committed[n - 1], f.levels, true, res, out.subarray(f.walked.words, f.walked.words + TREE_WORDS), draft);
    } finally {
      if (!this.pending) this.unclaim();
    }
  }

  finish(): void {
    for (const f of this.inFlight.splice(0)) this.ring.discard(f.slot);
    this.unclaim();
  }

  private budget(n: number, limits: AheadLimits): number {
    return aheadBudget(this.inFlight, n, limits);
  }

  /** Submits one more step after those in flight; false where none fits (budget). */
  private encode(committed: Int32Array, limits: AheadLimits): boolean {
    const g = this.g;
    const n = committed.length;
    const budget = this.budget(n, limits);
    if (budget < 1) return false;
    const sampled = this.request;
    // a sampled level adds min(W, budget left) nodes, so levels past ceil(budget / W) would add none (GpuTreeGrower.step)
    const levels = sampled ? Math.min(g.depth.levelsFor(budget), Math.ceil(budget / g.width)) : g.depth.levelsFor(budget);
    const targetRows = 1 + Math.min(budget, g.width * levels);
    const maxDraws = sampled ? 2 * targetRows - 1 : 0;
    const first = !this.pending;
    // a later step's prefix and root are written on the GPU by the step before it
    g.writeInputs(first ? committed[n - 1] : 0, first ? n - 1 : 0, budget, targetRows, levels, true);
    if (first) g.writeStart(committed[n - 1], n - 1, targetRows);
    // the draws this step may use, after the most the steps in flight may: from the first not consumed
    if (sampled) {
      const need = this.inFlight.reduce((s, f) => s + f.maxDraws, 0) + maxDraws;
      g.writePool(this.consumed, sampled.rng.peekU32(need, new Uint32Array(need)) as Uint32Array<ArrayBuffer>);
    }
    const encoder = g.target.device.createCommandEncoder({ label: 'draftGrow.aheadEncoder' });
    g.copyNext(encoder);
    if (sampled) g.encodeUniforms(encoder);
    g.encodeLevels(encoder, levels, sampled ? g.walk.reserveQ(g.qSlots) : null, true);
    // the sampling walk reads column 0 of the top-k (its guard)
    g.target.encodePass(encoder, targetRows, g.targetStep, { topK: sampled !== undefined });
    const walked = sampled
      ? g.walk.encodeSampleOnGpuTree(encoder, targetRows, levels, sampled.options, committed, false, 2)
      : g.walk.encodeGreedyOnGpuTree(encoder, targetRows, levels);
    g.encodeCommit(encoder);
    const slot = this.ring.copyParts(encoder, [{ src: g.walk.gpuBuffers().result, srcOffset: 0, bytes: walked.words * 4 }, g.treePart(), g.drawsPart()]);
    g.target.counter.submit(g.target.device.queue, encoder); // the step's one submit
    this.inFlight.push({ slot, levels, maxCommit: Math.min(levels, budget) + 1, maxDraws, walked });
    return true;
  }

  private unclaim(): void {
    this.release?.();
    this.release = null;
  }
}
