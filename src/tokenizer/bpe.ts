/**
 * Byte-pair encoding of one pre-tokenized word, with exactly the tokens of
 * @huggingface/tokenizers 0.2.0's BPE model (`BPE.bpe`, `BPE.encode`): repeatedly merge the
 * adjacent pair of lowest merge rank, the leftmost of equal ranks (the library's heap scores a
 * pair rank + startIndex / wordLength, the same order); then every piece that is not in the
 * vocabulary becomes its UTF-8 bytes as `<0xXX>` tokens (byte_fallback, when all exist), else the
 * unk token, else nothing. The library holds merges in a Map keyed by JSON.stringify([a, b])
 * and compares token strings; here each string is a symbol number, pairs are keyed by number,
 * and a word's symbols live in typed arrays, which is where the speed comes from (tools/bench-documents.ts).
 */

/** Symbols of strings named by the vocabulary or by a merge are below this. */
const NAMED = 1 << 22;
/** A character that no vocabulary entry and no merge names is the symbol UNNAMED + its code point. */
const UNNAMED = 1 << 22;
/** Heap key: rank * POSITIONS + position of the pair's left symbol in the word. */
const POSITIONS = 2 ** 26;
/** Longest word (in symbols) and largest merge list the keys above hold exactly. */
export const MAX_WORD = POSITIONS;

export interface BpeSpec {
  /** token string -> id: model.vocab with the added tokens set over it, as the library builds it (the model takes it over). */
  tokensToIds: Map<string, number>;
  /** Merge pairs in rank order; a later duplicate of a pair overrides the earlier rank (as the library's Map). */
  merges: [string, string][];
  unkId: number | null;
  byteFallback: boolean;
}

export class BpeModel {
  /** Id of every vocabulary string; symbols below `base` are these ids. */
  private readonly base: number;
  private readonly symbols: Map<string, number>;
  /** Strings of the symbols at and above `base` (named by merges only). */
  private readonly extra: string[] = [];
  /** UTF-16 code unit -> symbol of that one-character string, or -1. */
  private readonly single = new Int32Array(65536).fill(-1);
  private readonly astral = new Map<number, number>();
  private readonly ranks: PairTable;
  /** rank -> the merged pair's symbol */
  private readonly merged: Int32Array;
  /** byte_fallback: the id of `<0xXX>` for each byte (undefined where the vocabulary lacks it); null without. */
  private readonly byteIds: (number | undefined)[] | null;
  private readonly utf8 = new TextEncoder();
  private readonly unkId: number | null;
  // Scratch, grown on demand: the word's symbols (-1 once merged away), linked list, heap.
  private syms = new Int32Array(64);
  private next = new Int32Array(64);
  private prev = new Int32Array(64);
  private heap = new Float64Array(64);

  constructor(spec: BpeSpec) {
    const bytes = Array.from({ length: 256 }, (_, b) => spec.tokensToIds.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`));
    this.byteIds = spec.byteFallback ? bytes : null;
    this.symbols = spec.tokensToIds; // taken over: merge-only strings are added to it
    let max = -1;
    for (const id of spec.tokensToIds.values()) max = Math.max(max, id);
    this.base = max + 1;
    this.merged = new Int32Array(spec.merges.length);
    this.ranks = new PairTable(spec.merges.length);
    spec.merges.forEach(([a, b], rank) => {
      if (a === '' || b === '') return; // no piece is empty: such a merge never applies
      this.ranks.set(this.intern(a), this.intern(b), rank);
      this.merged[rank] = this.intern(a + b);
    });
    for (const [s, sym] of this.symbols) {
      if (s.length === 1) this.single[s.charCodeAt(0)] = sym;
      else if (s.length === 2 && s.codePointAt(0)! > 0xffff) this.astral.set(s.codePointAt(0)!, sym);
    }
    this.unkId = spec.unkId;
  }

  private intern(s: string): number {
    let sym = this.symbols.get(s);
    if (sym === undefined) {
      sym = this.base + this.extra.length;
      if (sym >= NAMED) throw new RangeError('BPE: too many symbols');
      this.extra.push(s);
      this.symbols.set(s, sym);
    }
    return sym;
  }

  /** Symbol of the one-character string with this code point. */
  charSymbol(cp: number): number {
    const sym = cp < 65536 ? this.single[cp] : (this.astral.get(cp) ?? -1);
    return sym >= 0 ? sym : UNNAMED + cp;
  }

  /** Token ids of a word given as its characters' symbols (charSymbol), appended to `out`. */
  encodeSymbols(word: ArrayLike<number>, out: number[]): void {
    const n = word.length;
    if (n > this.syms.length) this.grow(n);
    const syms = this.syms;
    for (let i = 0; i < n; i++) syms[i] = word[i];
    if (n === 1) this.emit(syms[0], out);
    if (n <= 1) return;
    this.mergeAll(n);
    for (let i = 0; i >= 0; i = this.next[i]) this.emit(syms[i], out);
  }

  private grow(n: number): void {
    const size = Math.max(n, this.syms.length * 2);
    this.syms = new Int32Array(size);
    this.next = new Int32Array(size);
    this.prev = new Int32Array(size);
  }


  /** Merges syms[0..n) in place; the result is the list from 0 along `next` (0 is never merged away). */
  private mergeAll(n: number): void {
    const { syms, next, prev } = this;
    let size = 0;
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
      const r = i + 1 < n ? this.ranks.get(syms[i], syms[i + 1]) : -1;
      if (r >= 0) size = this.push(size, r * POSITIONS + i);
    }
    while (size > 0) {
      const key = this.heap[0];
      size = this.pop(size);
      const r = Math.floor(key / POSITIONS);
      const p = key - r * POSITIONS;
      const q = next[p];
      // Stale entries: p merged away, or its pair changed since (symbols only grow, so an equal rank is the same pair).
      if (syms[p] < 0 || q < 0 || this.ranks.get(syms[p], syms[q]) !== r) continue;
      syms[p] = this.merged[r];
      syms[q] = -1;
      next[p] = next[q];
      if (next[q] >= 0) prev[next[q]] = p;
      const before = prev[p];
      const rb = before >= 0 ? this.ranks.get(syms[before], syms[p]) : -1;
      if (rb >= 0) size = this.push(size, rb * POSITIONS + before);
      const ra = next[p] >= 0 ? this.ranks.get(syms[p], syms[next[p]]) : -1;
      if (ra >= 0) size = this.push(size, ra * POSITIONS + p);
    }
  }

  private push(size: number, key: number): number {
    if (size === this.heap.length) {
      const grown = new Float64Array(size * 2);
      grown.set(this.heap);
      this.heap = grown;
    }
    const h = this.heap;
    let i = size;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent] <= key) break;
      h[i] = h[parent];
      i = parent;
    }
    h[i] = key;
    return size + 1;
  }

  /** Removes the heap's minimum; returns the new size. */
  private pop(size: number): number {
    const h = this.heap;
    const last = h[--size];
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= size) break;
      if (c + 1 < size && h[c + 1] < h[c]) c++;
      if (h[c] >= last) break;
      h[i] = h[c];
      i = c;
    }
    h[i] = last;
    return size;
  }

  /** A piece's ids: itself when in the vocabulary, else byte fallback, else unk, else nothing. */
  private emit(sym: number, out: number[]): void {
    if (sym < this.base) {
      out.push(sym);
      return;
    }
    const s = sym >= UNNAMED ? String.fromCodePoint(sym - UNNAMED) : this.extra[sym - this.base];
    if (this.byteIds) {
      const ids = Array.from(this.utf8.encode(s), (b) => this.byteIds![b]);
      if (ids.every((id) => id !== undefined)) {
        for (const id of ids) out.push(id!);
        return;
      }
    }
    if (this.unkId !== null) out.push(this.unkId);
  }
}

/** Merge ranks keyed by (left, right) symbol pair: open addressing over typed arrays (a JS Map keyed by a double was 3x slower). */
class PairTable {
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  private readonly rank: Int32Array;
  private readonly mask: number;

  constructor(pairs: number) {
    let size = 16;
    while (size < 2 * pairs) size *= 2;
    this.left = new Int32Array(size).fill(-1);
    this.right = new Int32Array(size);
    this.rank = new Int32Array(size);
    this.mask = size - 1;
  }

  private slot(l: number, r: number): number {
    let h = Math.imul(l ^ Math.imul(r, 0x9e3779b1), 0x85ebca6b);
    h ^= h >>> 15;
    let i = h & this.mask;
    while (this.left[i] !== -1 && (this.left[i] !== l || this.right[i] !== r)) i = (i + 1) & this.mask;
    return i;
  }

  /** Sets the pair's rank; a later set of the same pair overrides (the library's Map does the same). */
  set(l: number, r: number, rank: number): void {
    const i = this.slot(l, r);
    this.left[i] = l;
    this.right[i] = r;
    this.rank[i] = rank;
  }

  /** The pair's rank, or -1. */
  get(l: number, r: number): number {
    const i = this.slot(l, r);
    return this.left[i] === -1 ? -1 : this.rank[i];
  }
}
