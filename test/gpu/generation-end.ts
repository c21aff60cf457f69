/**
 * What the steps-ahead tests (steps-ahead.test.ts: plain decoding; steps-ahead-draft.test.ts:
 * draft-model steps) compare between engines that keep different numbers of steps in flight: a
 * generation consumed chunk by chunk, possibly stopped by the consumer or aborted, and an
 * end-of-sequence token placed in one prompt's output.
 */
import type { Engine } from '../../src/engine/engine';
import type { GenerateOptions } from '../../src/engine/options';
import { ReferenceModel } from '../../src/model/reference';
import type { ModelFiles } from '../../src/model/weights';

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
