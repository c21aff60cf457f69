import type { DraftContext, Drafter, VerifyObservation } from './drafter';
import type { DraftTree } from '../tree/types';
import { TokenTrie } from '../tree/trie';
import { OptionsError } from '../errors';

export interface NgramOptions {
  /** Longest key: the last keyLen tokens select the cached continuations (default 3). */
  keyLen?: number;
  /** Tokens cached after each key (default 5): the depth of a branch. */
  contLen?: number;
  /** Continuations kept per key (default 4); the least used is evicted. */
  perKey?: number;
  /** Keys kept in all (default 8192); the least recently used key is evicted. */
  maxKeys?: number;
  /** Index the prompt as well as the generated text (default true). */
  indexPrompt?: boolean;
}

const DEFAULTS: Required<NgramOptions> = { keyLen: 3, contLen: 5, perKey: 4, maxKeys: 8192, indexPrompt: true };

/** One cached continuation of a key. */
interface Cont {
  /** (contLen) tokens that followed the key. */
  tokens: Int32Array;
  /** Times seen (each sighting adds 1). */
  count: number;
  /** Update clock at the last sighting (ties in eviction go to the oldest). */
  stamp: number;
}

/**
 * Online n-gram cache (OmniDraft, Ramakrishnan et al. 2025, section 3; the n-gram pool of
 * Lookahead decoding, Fu et al. 2024): every key of 1..keyLen tokens in the committed text maps
 * to the contLen tokens that followed it. Drafting looks up the longest key ending at the root
 * and proposes its continuations as branches; shorter keys add branches below the longer keys'
 * (their weight is scaled down by WEIGHT_BASE per missing key token, so one sighting of a
 * longer key outranks any count of a shorter one up to that factor).
 *
 * The cache is filled from the committed text as it grows (read from ctx.tokens at propose, so
 * it sees exactly what was accepted), a position once its contLen successors are committed.
 * It persists across generations (begin() restarts the reading position; reset() empties it).
 *
 * Memory bound: maxKeys * perKey continuations of contLen tokens; with the defaults at most
 * 32768 continuations, about 100 bytes each with object overhead: about 3.5 MB.
 */
export class NgramDrafter implements Drafter {
  readonly name = 'ngram';
  readonly options: Readonly<Required<NgramOptions>>;
  /** key "order:t1,..,tk" -> continuations; Map order = recency (least recent first). */
  private readonly cache = new Map<string, Cont[]>();
  private readonly trie: TokenTrie;
  /** Committed tokens already indexed as keys (positions < indexed). */
  private indexed = 0;
  /** Length and last token of the sequence read so far (to detect a new sequence). */
  private seenLen = 0;
  private seenLast = -1;
  private clock = 0;
  /** Whether the current sequence's prompt is to be skipped (indexPrompt false). */
  private skipUntil = 0;

  constructor(options: NgramOptions = {}) {
    const o = { ...DEFAULTS, ...options };
    for (const k of ['keyLen', 'contLen', 'perKey', 'maxKeys'] as const) {
      if (!Number.isInteger(o[k]) || o[k] < 1) throw new OptionsError(`ngram option ${k} must be an integer >= 1, got ${o[k]}`);
    }
    this.options = o;
    this.trie = new TokenTrie(o.keyLen * o.perKey * o.contLen + 1);
  }

  /** Keys cached now (<= maxKeys). */
  get size(): number {
    return this.cache.size;
  }

  begin(prompt: Int32Array): void {
    this.indexed = 0;
    this.seenLen = 0;
    this.skipUntil = this.options.indexPrompt ? 0 : prompt.length;
  }

  propose(ctx: DraftContext, budget: number): DraftTree {
    const t = ctx.tokens;
    this.ingest(t);
    this.trie.clear();
    if (budget >= 1) {
      const { keyLen } = this.options;
      for (let order = Math.min(keyLen, t.length); order >= 1; order--) {
        const conts = this.cache.get(keyOf(t, t.length - order, order));
        if (conts === undefined) continue;
        const scale = WEIGHT_BASE ** (order - 1);
        for (const c of conts) this.trie.insert(c.tokens, c.count * scale);
      }
    }
    return this.trie.toDraftTree(budget);
  }

  /** The continuations cached for the key t[start..start+len) (copies; empty if none). */
  lookup(t: ArrayLike<number>, start = 0, len = t.length - start): { tokens: Int32Array; count: number }[] {
    const conts = this.cache.get(keyOf(t, start, len)) ?? [];
    return conts.map((c) => ({ tokens: c.tokens.slice(), count: c.count }));
  }

  /**
   * Indexes every position p of `t` whose contLen successors are all present. A sequence that
   * is not an extension of the one read so far (checked on the last token read) restarts.
   */
  private ingest(t: Int32Array): void {
    const { keyLen, contLen } = this.options;
    const s = this.seenLen;
    if (s > t.length || (s > 0 && t[s - 1] !== this.seenLast)) this.indexed = 0;
    this.seenLen = t.length;
    this.seenLast = t.length > 0 ? t[t.length - 1] : -1;
    for (let p = Math.max(this.indexed, this.skipUntil); p + contLen < t.length; p++) {
      for (let order = 1; order <= keyLen && order <= p + 1; order++) {
        this.record(keyOf(t, p + 1 - order, order), t, p + 1);
      }
      this.indexed = p + 1;
    }
  }

  /** Adds one sighting of t[from..from+contLen) after `key`, evicting per the bounds. */
  private record(key: string, t: Int32Array, from: number): void {
    const { contLen, perKey, maxKeys } = this.options;
    this.clock++;
    let conts = this.cache.get(key);
    if (conts === undefined) {
      conts = [];
      if (this.cache.size >= maxKeys) this.cache.delete(this.cache.keys().next().value as string); // LRU
    } else {
      this.cache.delete(key); // re-inserted below: most recently used goes last
    }
    this.cache.set(key, conts);
    for (const c of conts) {
      if (equalAt(c.tokens, t, from)) {
        c.count++;
        c.stamp = this.clock;
        return;
      }
    }
    const fresh: Cont = { tokens: t.slice(from, from + contLen), count: 1, stamp: this.clock };
    if (conts.length < perKey) {
      conts.push(fresh);
      return;
    }
    // Full: evict the least counted, oldest on ties.
    let worst = 0;
    for (let i = 1; i < conts.length; i++) {
      const a = conts[i];
      const w = conts[worst];
      if (a.count < w.count || (a.count === w.count && a.stamp < w.stamp)) worst = i;
    }
    conts[worst] = fresh;
  }

  observe(_obs: VerifyObservation): void {
    // Accepted tokens are read from the committed context at the next propose.
  }

  reset(): void {
    this.cache.clear();
    this.indexed = 0;
    this.seenLen = 0;
    this.clock = 0;
    this.skipUntil = 0;
  }
}

/** Factor between the weights of keys one token apart in length. */
const WEIGHT_BASE = 64;

function keyOf(t: ArrayLike<number>, start: number, len: number): string {
  let k = `${len}:`;
  for (let i = 0; i < len; i++) k += i === 0 ? `${t[start + i]}` : `,${t[start + i]}`;
  return k;
}

function equalAt(a: Int32Array, t: Int32Array, from: number): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== t[from + i]) return false;
  return true;
}
