import { OptionsError } from '../errors';
import type { DraftTree } from '../tree/types';
import { Rng } from '../verify/rng';
import type { DraftContext, Drafter, VerifyObservation } from './drafter';

/** Options of the random drafter. */
export interface RandomDrafterOptions {
  /** Tokens are drawn from [0, vocabSize). */
  vocabSize: number;
  /** Seed of the drafter's own generator; reset() restarts it. */
  seed: number;
}

/**
 * Random trees: a baseline that is almost always rejected, and a test tool (DESIGN section 6:
 * speculative output must equal plain output even for a drafter that is always wrong). Trees
 * have a random size in [1, budget], a random BFS shape and uniform random tokens, drawn from
 * the drafter's own seeded generator, never from the request's: the draft is independent of
 * the verifier's coin flips, which is what makes a deterministic (one-hot q) draft lossless.
 */
export class RandomDrafter implements Drafter {
  readonly name = 'random';
  private readonly vocabSize: number;
  private readonly seed: number;
  private rng: Rng;

  constructor(opts: RandomDrafterOptions) {
    if (!Number.isInteger(opts.vocabSize) || opts.vocabSize < 1) {
      throw new OptionsError(`RandomDrafter vocabSize = ${opts.vocabSize}, expected a positive integer`);
    }
    this.vocabSize = opts.vocabSize;
    this.seed = opts.seed;
    this.rng = new Rng(opts.seed);
  }

  propose(_ctx: DraftContext, budget: number): DraftTree {
    const m = budget >= 1 ? 1 + this.below(Math.floor(budget)) : 0;
    const tokens = new Int32Array(m); // (m)
    const parents = new Int32Array(m); // (m)
    const childCount = new Int32Array(m + 1); // (m+1) children placed per row, row 0 = root
    const used = new Set<number>(); // parentRow * vocabSize + token of every placed node
    let parent = -1;
    for (let i = 0; i < m; i++) {
      // BFS order holds when parents never decrease in node order (depth = parent's depth + 1,
      // and depths of earlier nodes never decrease by induction). Keep the parent with
      // probability 1/2 (wider trees), else move to a uniform later one in (parent, i-1].
      if (parent < i - 1 && this.rng.next() >= 0.5) parent += 1 + this.below(i - 1 - parent);
      // A parent with every token already used as a child cannot take another; node i-1 has
      // no children yet, so moving forward always terminates.
      while (childCount[parent + 1] >= this.vocabSize) parent++;
      parents[i] = parent;
      tokens[i] = this.freshToken(parent + 1, used);
      childCount[parent + 1]++;
    }
    return { tokens, parents, draft: { kind: 'deterministic' } };
  }

  /** The random drafter learns nothing. */
  observe(_obs: VerifyObservation): void {}

  /** Each generation restarts the generator, so a request's output depends only on the request. */
  begin(): void {
    this.reset();
  }

  reset(): void {
    this.rng = new Rng(this.seed);
  }

  /** A uniform token, moved to the next unused one (mod vocab) if a sibling holds it: siblings stay distinct. */
  private freshToken(parentRow: number, used: Set<number>): number {
    let t = this.below(this.vocabSize);
    while (used.has(parentRow * this.vocabSize + t)) t = (t + 1) % this.vocabSize;
    used.add(parentRow * this.vocabSize + t);
    return t;
  }

  /** Uniform integer in [0, n). */
  private below(n: number): number {
    return Math.min(n - 1, Math.floor(this.rng.next() * n));
  }
}
