import { OptionsError } from '../errors';
import { buildSuffixArray, findRange } from './suffix-array';

/** Between two documents in the concatenated text: never a token id, so no match crosses it. */
export const DOC_SEPARATOR = -1;

/** A continuation found in a datastore: its tokens and how many occurrences it stands for. */
export interface RetrievalCandidate {
  /** (<= maxLen) tokens that followed the matched suffix. */
  tokens: Int32Array;
  /** Occurrences of matched suffix + tokens (estimated when the match range was sampled). */
  count: number;
}

/** The longest suffix of a context found in a datastore. */
export interface SuffixMatch {
  /** Matched suffix length (0 = nothing matched). */
  length: number;
  /** [lo, hi) range of the suffix array holding the occurrences. */
  lo: number;
  hi: number;
}

/**
 * REST's datastore (He et al. 2024, *REST: Retrieval-Based Speculative Decoding*): caller
 * documents as token ids, concatenated with DOC_SEPARATOR between them, and a suffix array
 * over the whole. Build once, reuse across requests (it is read-only after build).
 *
 * Memory: text + suffix array = 8 bytes per token (1M tokens, a few MB of text: 8 MB);
 * 24 bytes per token during build. Build: prefix doubling, O(n log n) worst case.
 */
export class Datastore {
  /** (n) concatenated documents with separators. */
  readonly text: Int32Array;
  /** (n) suffix array of text. */
  readonly sa: Int32Array;

  private constructor(text: Int32Array, sa: Int32Array) {
    this.text = text;
    this.sa = sa;
  }

  /** Indexes the documents (token ids >= 0); empty documents are skipped. */
  static build(docs: Int32Array[]): Datastore {
    let n = 0;
    for (const d of docs) if (d.length > 0) n += d.length + 1;
    const text = new Int32Array(n);
    let p = 0;
    for (let k = 0; k < docs.length; k++) {
      const d = docs[k];
      if (d.length === 0) continue;
      for (let i = 0; i < d.length; i++) {
        if (!(d[i] >= 0)) throw new OptionsError(`retrieval document ${k}: token ${d[i]} at ${i} is not a token id (>= 0)`);
      }
      text.set(d, p);
      p += d.length;
      text[p++] = DOC_SEPARATOR;
    }
    return new Datastore(text, buildSuffixArray(text));
  }

  /** Tokens indexed, separators included. */
  get length(): number {
    return this.text.length;
  }

  /** Bytes held (text + suffix array). */
  get bytes(): number {
    return this.text.byteLength + this.sa.byteLength;
  }

  /**
   * The longest suffix of context (length from maxLen down to minLen, as REST tries them) that
   * occurs in the datastore followed by at least one token (an occurrence at the very end of a
   * document has nothing to propose and is not counted). O(maxLen^2 log n) at worst.
   */
  longestSuffix(context: Int32Array, maxLen: number, minLen = 1): SuffixMatch {
    const n = context.length;
    for (let len = Math.min(maxLen, n); len >= Math.max(1, minLen); len--) {
      const [lo, hi] = findRange(this.text, this.sa, context, n - len, n);
      if (this.anyFollowed(lo, hi, len)) return { length: len, lo, hi };
    }
    return { length: 0, lo: 0, hi: 0 };
  }

  /** True when some occurrence in [lo, hi) of a length-len match has a token after it. */
  private anyFollowed(lo: number, hi: number, len: number): boolean {
    // Occurrences followed by a separator sort first (separator = -1 < any id), so look last.
    if (hi <= lo) return false;
    const after = this.sa[hi - 1] + len;
    return after < this.text.length && this.text[after] !== DOC_SEPARATOR;
  }

  /**
   * Continuations of a match: for each occurrence in the match's range (at most maxScan of them,
   * evenly spaced when the range is larger, each then standing for range/maxScan occurrences),
   * the up to maxLen tokens after it, stopping at a document end. Occurrences with the same
   * continuation are adjacent in the suffix array (sorted by what follows the match), so equal
   * ones group in one pass. Returned best first (count, then longer), at most maxPaths.
   */
  continuations(match: SuffixMatch, maxPaths: number, maxLen: number, maxScan = 256): RetrievalCandidate[] {
    const { lo, hi, length } = match;
    const total = hi - lo;
    if (length === 0 || total <= 0 || maxPaths < 1 || maxLen < 1) return [];
    const samples = Math.min(total, Math.max(1, maxScan));
    const weight = total / samples;
    const out: RetrievalCandidate[] = [];
    let prevStart = -1;
    let prevLen = 0;
    for (let s = 0; s < samples; s++) {
      const pos = this.sa[lo + Math.floor((s * total) / samples)] + length;
      const len = this.followLength(pos, maxLen);
      if (len === 0) continue;
      if (prevStart >= 0 && len === prevLen && this.equal(prevStart, pos, len)) {
        out[out.length - 1].count += weight;
        continue;
      }
      out.push({ tokens: this.text.slice(pos, pos + len), count: weight });
      prevStart = pos;
      prevLen = len;
    }
    out.sort((a, b) => b.count - a.count || b.tokens.length - a.tokens.length);
    if (out.length > maxPaths) out.length = maxPaths;
    return out;
  }

  /** Tokens after pos before a separator or the end, at most maxLen. */
  private followLength(pos: number, maxLen: number): number {
    const end = Math.min(this.text.length, pos + maxLen);
    let i = pos;
    while (i < end && this.text[i] !== DOC_SEPARATOR) i++;
    return i - pos;
  }

  private equal(a: number, b: number, len: number): boolean {
    for (let i = 0; i < len; i++) if (this.text[a + i] !== this.text[b + i]) return false;
    return true;
  }
}
