/**
 * A chain draft from a model that shares the target's view of the context (a copy of the
 * target, or the target itself exiting early): one pass per token after the committed slots
 * tokens[0..n-2], the root tokens[n-1] at position n-1. Greedy, or sampled from the request's
 * distribution with each row's q recorded, so verification stays lossless. Each drafted row is
 * committed so the next sees it, and the chain is truncated away before returning (also on
 * error): the model's cache holds n-1 slots again.
 */
import type { ForwardOptions, GpuModel } from '../model/gpu-model';
import type { DraftTree } from '../tree/types';
import { sampleFrom, targetProbs } from '../verify/sampler';
import type { DraftContext } from './drafter';

export async function draftChain(model: GpuModel, ctx: DraftContext, length: number, forward: ForwardOptions = {}): Promise<DraftTree> {
  const n = ctx.tokens.length;
  const tokens = new Int32Array(length);
  const q: (Float32Array | null)[] = [];
  const history = Array.from(ctx.tokens);
  let prev = ctx.tokens[n - 1];
  try {
    for (let d = 0; d < length; d++) {
      // Draft token d+1: slot n-1+d, position n-1+d, sees the cache and itself.
      model.forward(Int32Array.of(prev), Int32Array.of(n - 1 + d), Uint32Array.of(1, 0, 0, 0), forward);
      if (ctx.sampling) {
        const p = targetProbs(await model.readLogits(1), ctx.options, Int32Array.from(history));
        q.push(p);
        prev = sampleFrom(p, ctx.rng);
      } else {
        prev = (await model.readArgmaxTopK(1)).argmax[0];
      }
      model.commit(Int32Array.of(0)); // the next draft row sees this one
      tokens[d] = prev;
      history.push(prev);
    }
  } finally {
    model.truncate(n - 1);
  }
  q.push(null);
  return {
    tokens,
    parents: Int32Array.from({ length }, (_, i) => i - 1),
    draft: ctx.sampling ? { kind: 'sampled', withReplacement: true, q } : { kind: 'deterministic' },
  };
}
