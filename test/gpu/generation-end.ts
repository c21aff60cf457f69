/**
 * What the steps-ahead tests (steps-ahead.test.ts: plain decoding; steps-ahead-draft.test.ts:
 * draft-model steps; steps-ahead-hydra.test.ts: Hydra steps) compare between engines that keep different numbers of steps in flight: a
 * generation consumed chunk by chunk, possibly stopped by the consumer or aborted, and an
 * end-of-sequence token placed in one prompt's output.
 */
import type { Engine } from '../../src/engine/engine';
import type { GenerateOptions } from '../../src/engine/options';
import { ReferenceModel } from '../../src/model/reference';
import type { ModelFiles } from '../../src/model/weights';
import { expect } from 'vitest';

/** A generation's tokens, text, finish reason ('consumer' when the consumer stopped it) and the cache length it left. */
export async function consume(engine: Engine, prompt: Int32Array, opts: GenerateOptions, stopAfter?: number, how: 'return' | 'abort' = 'return') {
  let tokens: number[] = [];
  let text = '';
  let finish = 'consumer';
  const abort = new AbortController();
  const it = engine.generate(prompt, { ...opts, signal: abort.signal });
  for (let chunk = 0; ; chunk++) {
    if (stopAfter !== undefined && chunk === stopAfter) {
      if (how === 'abort') {
        abort.abort();
      } else {
        await it.return(undefined as never);
        break;
      }
    }
    const r = await it.next();
    if (r.done) {
      finish = r.value.finishReason;
      break;
    }
    tokens = tokens.concat(r.value.tokens);
    text += r.value.text;
  }
  return { tokens, text, finish, kvLength: engine.model.kv.length };
}

/**
 * `files` with an end-of-sequence token that ends a's greedy output (`aTokens` tokens of it, by
 * the CPU reference) at index `at` >= `from` and never b's output up to the context: the token's
 * first occurrence in a's output, absent from b's and not already an EOS.
 */
export function withEndToken(files: ModelFiles, a: Int32Array, b: Int32Array, aTokens: number, from: number, maxContext: number): { files: ModelFiles; eosId: number; at: number } {
  const ref = ReferenceModel.fromFiles(files, maxContext);
  const outA = Array.from(ref.generateGreedy(a, aTokens));
  const outB = Array.from(ref.generateGreedy(b, maxContext - b.length));
  const at = outA.findIndex((t, i) => i >= from && !outA.slice(0, i).includes(t) && !outB.includes(t) && !files.config.eosTokenIds.includes(t));
  if (at < 0) throw new Error(`no end-of-sequence token for the test: a's output ${outA}, b's ${outB}`);
  return { files: { ...files, config: { ...files.config, eosTokenIds: [outA[at]] } }, eosId: outA[at], at };
}

/** What a generation left that a later one could see: its end (consume) and the next turn's tokens. */
export type Left = Awaited<ReturnType<typeof consume>> & { next: number[] };

/**
 * `got` (`at`: stepsAhead n) left what `want` (one step at a time) left. The cache holds every
 * committed token but the last, and a step that ends generation may commit tokens past its end
 * (after an end-of-sequence token or a stop string), which depend on the tree: there the cache
 * may be longer, never shorter than the output. Max tokens and the context end on the same
 * length. Where the consumer stops or aborts after some chunks, the tokens so far depend on how
 * many each step accepted, which depends on the trees (their depth follows earlier steps, which a
 * step encoded ahead has not seen): they are a prefix of the uninterrupted output (`one.whole`),
 * and the next turn is one step at a time's after the same tokens (`one.next`).
 */
export async function sameAsOneStep(got: Left, want: Left, at: string, promptLength: number, one: { whole(): Promise<number[]>; next(tokens: number[]): Promise<number[]> }): Promise<void> {
  const { kvLength, ...rest } = got;
  const { kvLength: wantLength, ...wantRest } = want;
  if (want.finish === 'consumer' || want.finish === 'aborted') {
    const whole = await one.whole();
    expect(got.finish, at).toBe(want.finish);
    expect(got.tokens.length, at).toBeGreaterThan(0);
    expect(got.tokens, at).toEqual(whole.slice(0, got.tokens.length));
    expect(got.next, at).toEqual(await one.next(got.tokens));
  } else {
    expect(rest, at).toEqual(wantRest);
  }
  if (want.finish === 'length' || want.finish === 'context') expect(kvLength, at).toBe(wantLength);
  else expect(kvLength, at).toBeGreaterThanOrEqual(promptLength + got.tokens.length - 1);
}
