/**
 * Turns generated token ids into streamed text: decodes incrementally and holds back any
 * tail that could still become one of the stop strings, so a stop string is never emitted.
 */
import type { Tokenizer } from '../tokenizer/tokenizer';

export class TextStream {
  private readonly decoder: { push(ids: ArrayLike<number>): string; flush(): string };
  private pending = '';
  /** Set once a stop string has been seen. */
  stopped = false;

  /** @param context the prompt ids: the text streamed is what follows them (leading space kept). */
  constructor(
    tokenizer: Tokenizer,
    private readonly stops: string[],
    context: Int32Array,
  ) {
    this.decoder = tokenizer.createStreamDecoder(context.subarray(Math.max(0, context.length - 4)));
  }

  /** Text that is final after appending `ids`. */
  push(ids: ArrayLike<number>): string {
    if (this.stopped) return '';
    this.pending += this.decoder.push(ids);
    return this.release(false);
  }

  /** Whatever is held back, at the end of generation. */
  flush(): string {
    if (this.stopped) return '';
    this.pending += this.decoder.flush();
    return this.release(true);
  }

  private release(final: boolean): string {
    let cut = -1;
    for (const s of this.stops) {
      const i = this.pending.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      this.stopped = true;
      const out = this.pending.slice(0, cut);
      this.pending = '';
      return out;
    }
    let keep = 0;
    if (!final) {
      // longest suffix of pending that is a proper prefix of some stop string
      for (const s of this.stops) {
        for (let len = Math.min(s.length - 1, this.pending.length); len > keep; len--) {
          if (this.pending.endsWith(s.slice(0, len))) { keep = len; break; }
        }
      }
    }
    const out = this.pending.slice(0, this.pending.length - keep);
    this.pending = this.pending.slice(this.pending.length - keep);
    return out;
  }
}
