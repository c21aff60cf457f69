/**
 * The target drafting for itself: a second instance of the target model (its own KV cache)
 * proposes a greedy chain, or under sampling a chain sampled from the target's own
 * distribution with q = p. Every draft is then accepted (greedy) or accepted with
 * probability min(1, p/q) = 1 (sampling), so tau = depth + 1: a test of the verifier and of
 * the cache commit path, and the upper bound any drafter can reach.
 */
import type { Drafter, DraftContext, VerifyObservation } from './drafter';
import type { DraftTree } from '../tree/types';
import type { GpuModel } from '../model/gpu-model';
import type { GpuCounter } from '../gpu/counter';
import { draftChain } from './chain';

export class SelfDrafter implements Drafter {
  readonly name = 'self';

  /** @param model a GpuModel loaded from the same files as the target, with its own KV cache */
  /** Tokens whose K/V the draft model's cache holds, in slot order. */
  private cached: number[] = [];

  constructor(private readonly model: GpuModel) {}

  /** Keeps the draft cache equal to `tokens`: drops what differs, appends what is missing. */
  private sync(tokens: Int32Array): void {
    let common = 0;
    while (common < this.cached.length && common < tokens.length && this.cached[common] === tokens[common]) common++;
    // a sliding-window ring may no longer hold a short common prefix: then it recomputes from 0
    const kept = this.model.rewind(common);
    this.model.append(tokens.subarray(kept));
    this.cached = Array.from(tokens);
  }

  async propose(ctx: DraftContext, budget: number): Promise<DraftTree> {
    const n = ctx.tokens.length;
    const model = this.model;
    // The draft cache holds what the target's holds, tokens[0..n-2], whatever it held before
    // (another generation's context, or another target's when the draft model is shared).
    this.sync(ctx.tokens.subarray(0, n - 1));
    return draftChain(model, ctx, budget); // the chain is dropped after: `cached` still describes the cache
  }

  observe(_obs: VerifyObservation): void {}

  counters(): GpuCounter[] {
    return [this.model.counter];
  }

  reset(): void {
    this.model.truncate(0);
    this.cached = [];
  }
}
