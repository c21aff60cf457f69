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
import { appendTokens } from '../engine/prefill';
import { targetProbs, sampleFrom } from '../verify/sampler';

export class SelfDrafter implements Drafter {
  readonly name = 'self';

  /** @param model a GpuModel loaded from the same files as the target, with its own KV cache */
  constructor(
    private readonly model: GpuModel,
    private readonly maxRows: number,
  ) {}

  async propose(ctx: DraftContext, budget: number): Promise<DraftTree> {
    const n = ctx.tokens.length;
    const model = this.model;
    // Keep the draft cache equal to the target's committed cache: tokens[0..n-2]. Within a
    // generation it holds a prefix of ctx.tokens (begin() empties it between generations).
    if (model.kv.length > n - 1) model.truncate(n - 1);
    await appendTokens(model, ctx.tokens.subarray(model.kv.length, n - 1), this.maxRows);
    const tokens = new Int32Array(budget);
    const q: (Float32Array | null)[] = [];
    const history = Array.from(ctx.tokens);
    let prev = ctx.tokens[n - 1];
    for (let d = 0; d < budget; d++) {
      model.forward(Int32Array.of(prev), Int32Array.of(n - 1 + d), Uint32Array.of(1, 0, 0, 0));
      if (ctx.sampling) {
        const p = targetProbs(await model.readLogits(1), ctx.options, Int32Array.from(history));
        q.push(p);
        prev = sampleFrom(p, ctx.rng);
      } else {
        prev = (await model.readArgmaxTopK(1)).argmax[0];
      }
      model.commit(Int32Array.of(0));
      tokens[d] = prev;
      history.push(prev);
    }
    q.push(null);
    model.truncate(n - 1);
    const parents = Int32Array.from({ length: budget }, (_, i) => i - 1);
    return {
      tokens,
      parents,
      draft: ctx.sampling ? { kind: 'sampled', withReplacement: true, q } : { kind: 'deterministic' },
    };
  }

  /** A new generation: the draft cache holds the previous context, not a prefix of this one. */
  begin(_prompt: Int32Array): void {
    this.model.truncate(0);
  }

  observe(_obs: VerifyObservation): void {}

  reset(): void {
    this.model.truncate(0);
  }
}
