/**
 * Streaming detokenization: the text that became final after some ids were appended. A
 * character may span several byte tokens, and SentencePiece decoders strip the leading space
 * of the first token, so ids cannot be decoded one at a time. This is the prefix/read offset
 * scheme of Hugging Face text-generation-inference (`decode_token`): decode a short window
 * with and without the new ids, emit the difference once it no longer ends in an incomplete
 * character (U+FFFD). Concatenating every push() and the final flush() gives decode(all ids).
 */

export interface StreamDecoder {
  /** Appends ids; returns the text that is now final (possibly ""). */
  push(ids: ArrayLike<number>): string;
  /** Returns whatever is still held back (an incomplete character decodes as U+FFFD). */
  flush(): string;
}

/**
 * @param context ids that precede the streamed ones (the prompt's last few tokens): they are
 *   never emitted, but decoding after them keeps the first streamed token's leading space.
 */
export function createStreamDecoder(decode: (ids: number[]) => string, context: ArrayLike<number> = []): StreamDecoder {
  const ids: number[] = Array.from(context);
  let prefixOffset = 0; // window start: earlier context that fixes leading-space handling
  let readOffset = ids.length; // ids before this have been emitted (or are context)
  const pending = (): { text: string; prefix: string } => ({
    prefix: decode(ids.slice(prefixOffset, readOffset)),
    text: decode(ids.slice(prefixOffset)),
  });
  return {
    push(newIds: ArrayLike<number>): string {
      for (let i = 0; i < newIds.length; i++) ids.push(newIds[i]);
      const { text, prefix } = pending();
      if (text.length <= prefix.length || text.endsWith('\uFFFD') || !text.startsWith(prefix)) return '';
      prefixOffset = readOffset;
      readOffset = ids.length;
      return text.slice(prefix.length);
    },
    flush(): string {
      const { text, prefix } = pending();
      prefixOffset = readOffset = ids.length;
      return text.startsWith(prefix) ? text.slice(prefix.length) : text;
    },
  };
}
