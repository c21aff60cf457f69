/**
 * Re-tokenization between a target and a draft model with different tokenizers (OmniDraft,
 * Ramakrishnan et al. 2025; "universal assisted generation" in transformers): text is the
 * common currency. Three pieces, each a plain function or a small class over `TextCodec`:
 *
 *  - `DraftContext`: the draft model's own ids for the committed text, re-tokenized
 *    incrementally. Text is encoded once, chunk by chunk, up to the last single space between
 *    two non-spaces (`chunkCut`): GPT-2's pre-tokenizer (`'s|'t|..| ?\p{L}+| ?\p{N}+|
 *    ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`) always starts a pre-token there, and BPE never merges
 *    across pre-tokens, so the chunks' ids are the whole text's. Only the text after that
 *    point is re-encoded each step, since later text may extend it. (For a tokenizer without
 *    that property the context is merely approximate: drafts get worse, never wrong.)
 *  - `stableCut`: drafted text may end inside a word (or in whitespace that a SentencePiece
 *    tokenizer would fold into the next word), so only the text before its last word is used.
 *  - `TargetMapper`: draft text -> target ids after the committed tokens. The text of the last
 *    few committed tokens (the window) is encoded alone and followed by the draft text; the
 *    draft's target ids are what follows the window's own encoding, and only if the
 *    continuation leaves the window's encoding unchanged (otherwise the draft would need
 *    committed tokens re-tokenized: no draft). Encoding the window rather than the draft
 *    alone absorbs tokenizer quirks at the start of an encoding (SentencePiece's prefix space).
 *    Mappings are cached online (window ids + draft text -> target ids), bounded, LRU.
 *
 * None of this affects correctness: the target verifies whatever ids come out.
 */
import { OptionsError } from '../errors';

/** What re-tokenization needs of a tokenizer (src/tokenizer/tokenizer.ts provides it). */
export interface TextCodec {
  encode(text: string, opts?: { addSpecialTokens?: boolean }): Int32Array;
  decode(ids: ArrayLike<number>, opts?: { skipSpecialTokens?: boolean }): string;
}

/**
 * Index where the text's last word begins, with the whitespace before it: the text before it
 * is final. A word is a run of letters, digits or underscores; trailing whitespace counts as
 * the start of a word to come. "a cat sa" -> "a cat"; "x = f(" -> whole; "one\n" -> "one".
 */
export function stableCut(text: string): number {
  const m = /\s*[\p{L}\p{N}_]*$/u.exec(text);
  return m ? m.index : text.length;
}

/** Index of the last single space between two non-space characters (a GPT-2 pre-token start), or 0. */
export function chunkCut(text: string): number {
  for (let i = text.length - 2; i > 0; i--) {
    if (text[i] === ' ' && !/\s/.test(text[i - 1]) && !/\s/.test(text[i + 1])) return i;
  }
  return 0;
}

/** The draft model's ids of the committed text, re-tokenized incrementally. */
export class DraftContext {
  /** Text already encoded into `stableIds` (a prefix of the committed text ending at a chunkCut). */
  private stableText = '';
  private stableIds: number[] = [];

  /** @param prefixIds ids the draft context starts with (its BOS), [] for none */
  constructor(
    private readonly codec: TextCodec,
    private readonly prefixIds: number[],
  ) {}

  /** The draft ids of `text` (the whole committed text): prefix, stable chunks, then the re-encoded tail. */
  update(text: string): Int32Array {
    if (!text.startsWith(this.stableText)) this.clear(); // another sequence, or an edited one
    const cut = chunkCut(text);
    if (cut > this.stableText.length) {
      const chunk = text.slice(this.stableText.length, cut);
      for (const id of this.codec.encode(chunk, { addSpecialTokens: false })) this.stableIds.push(id);
      this.stableText = text.slice(0, cut);
    }
    const tail = text.slice(this.stableText.length);
    const tailIds = tail ? this.codec.encode(tail, { addSpecialTokens: false }) : new Int32Array(0);
    return Int32Array.from([...this.prefixIds, ...this.stableIds, ...tailIds]);
  }

  clear(): void {
    this.stableText = '';
    this.stableIds = [];
  }
}

export interface TargetMapperOptions {
  /** Committed tokens whose text forms the window (default 4). */
  window?: number;
  /** Mappings kept (default 4096); the least recently used is evicted. */
  maxEntries?: number;
}

/** Draft text -> target ids following the committed target ids, with an online LRU cache. */
export class TargetMapper {
  private readonly window: number;
  private readonly maxEntries: number;
  /** key (window ids + draft text) -> target ids; Map order = recency. */
  private readonly cache = new Map<string, Int32Array>();
  hits = 0;
  misses = 0;

  constructor(
    private readonly target: TextCodec,
    options: TargetMapperOptions = {},
  ) {
    this.window = options.window ?? 4;
    this.maxEntries = options.maxEntries ?? 4096;
    if (!Number.isInteger(this.window) || this.window < 1) throw new OptionsError(`cross-vocab window must be an integer >= 1, got ${this.window}`);
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) throw new OptionsError(`cross-vocab maxEntries must be an integer >= 1, got ${this.maxEntries}`);
  }

  get size(): number {
    return this.cache.size;
  }

  /**
   * Target ids that continue `committed` with `draftText` (already cut with stableCut), or an
   * empty array when the draft text cannot follow the committed tokenization.
   * @param committedText the text of `committed` as decoded whole (decode(committed))
   */
  map(committed: Int32Array, committedText: string, draftText: string): Int32Array {
    if (!draftText) return new Int32Array(0);
    const w = Math.min(this.window, committed.length);
    const windowIds = committed.subarray(committed.length - w);
    const key = `${windowIds.join(',')}|${draftText}`;
    const hit = this.cache.get(key);
    if (hit) {
      this.hits++;
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    this.misses++;
    const ids = this.compute(committed, committedText, w, draftText);
    this.cache.set(key, ids);
    if (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
    return ids;
  }

  private compute(committed: Int32Array, committedText: string, w: number, draftText: string): Int32Array {
    // The window's text in context: what the last w tokens add to the decoded text.
    const before = this.target.decode(committed.subarray(0, committed.length - w));
    if (!committedText.startsWith(before)) return new Int32Array(0); // a split multi-byte character
    const windowText = committedText.slice(before.length);
    const alone = this.target.encode(windowText, { addSpecialTokens: false });
    const joined = this.target.encode(windowText + draftText, { addSpecialTokens: false });
    if (joined.length <= alone.length) return new Int32Array(0);
    for (let i = 0; i < alone.length; i++) if (joined[i] !== alone[i]) return new Int32Array(0);
    return joined.slice(alone.length);
  }

  clear(): void {
    this.cache.clear();
    this.hits = this.misses = 0;
  }
}
