import type { DraftContext, Drafter, VerifyObservation } from './drafter';
import type { DraftTree } from '../tree/types';
import { TokenTrie } from '../tree/trie';
import { OptionsError } from '../errors';
import { NgramCache } from './ngram-cache';

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
 * Memory bound: maxKeys keys of perKey continuations of contLen tokens (NgramCache): about
 * 1.4 MB with the defaults, plus a trie of keyLen * perKey * contLen + 1 nodes.
 */
export class NgramDrafter implements Drafter {
  readonly name = 'ngram';
  readonly options: Readonly<Required<NgramOptions>>;
  private readonly cache: NgramCache;
  private readonly trie: TokenTrie;
  /** Committed tokens already indexed as keys (positions < indexed). */
  private indexed = 0;
  /** Length and last token of the sequence read so far (to detect a new sequence). */
  private seenLen = 0;
  private seenLast = -1;
  /** Whether the current sequence's prompt is to be skipped (indexPrompt false). */
  private skipUntil = 0;

  constructor(options: NgramOptions = {}) {
    const o = { ...DEFAULTS, ...options };
    for (const k of ['keyLen', 'contLen', 'perKey', 'maxKeys'] as const) {
      if (!Number.isInteger(o[k]) || o[k] < 1) throw new OptionsError(`ngram option ${k} must be an integer >= 1, got ${o[k]}`);
    }
    this.options = o;
    this.cache = new NgramCache(o.keyLen, o.contLen, o.perKey, o.maxKeys);
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
      const { keyLen, contLen, perKey } = this.options;
      const { tok, count, used } = this.cache;
      for (let order = Math.min(keyLen, t.length); order >= 1; order--) {
        const s = this.cache.find(t, t.length - order, order);
        if (s === -1) continue;
        const scale = WEIGHT_BASE ** (order - 1);
        for (let c = 0; c < used[s]; c++) {
          const off = (s * perKey + c) * contLen;
          this.trie.insert(tok, count[s * perKey + c] * scale, off, off + contLen);
        }
      }
    }
    return this.trie.toDraftTree(budget);
  }

  /** The continuations cached for the key t[start..start+len) (copies; empty if none). */
  lookup(t: ArrayLike<number>, start = 0, len = t.length - start): { tokens: Int32Array; count: number }[] {
    const s = this.cache.find(t, start, len);
    if (s === -1) return [];
    const { contLen, perKey } = this.options;
    return Array.from({ length: this.cache.used[s] }, (_, c) => {
      const off = (s * perKey + c) * contLen;
      return { tokens: this.cache.tok.slice(off, off + contLen), count: this.cache.count[s * perKey + c] };
    });
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
        this.cache.record(t, p + 1 - order, order, p + 1);
      }
      this.indexed = p + 1;
    }
  }

  observe(_obs: VerifyObservation): void {
    // Accepted tokens are read from the committed context at the next propose.
  }

  reset(): void {
    this.cache.clear();
    this.indexed = 0;
    this.seenLen = 0;
    this.skipUntil = 0;
  }
}

/** Factor between the weights of keys one token apart in length. */
const WEIGHT_BASE = 64;
