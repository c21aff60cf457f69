import type { DraftContext, Drafter, VerifyObservation } from './drafter';
import type { DraftTree } from '../tree/types';
import { TokenTrie } from '../tree/trie';
import { OptionsError } from '../errors';
import { Datastore, type RetrievalCandidate } from './datastore';

export interface RetrievalOptions {
  /** Caller documents, built once with Datastore.build and shareable (default: none). */
  datastore?: Datastore;
  /** Longest context suffix tried (default 8). */
  maxSuffix?: number;
  /** Shortest suffix accepted as a match (default 2: one shared token says little). */
  minSuffix?: number;
  /** Tokens per continuation (default 10): the deepest branch. */
  maxLen?: number;
  /** Distinct continuations kept (default 32). */
  maxPaths?: number;
  /** Occurrences read per source and query (default 256); more are sampled evenly. */
  maxScan?: number;
  /** Also search the running context, prompt included (default true). */
  useContext?: boolean;
}

const DEFAULTS = { maxSuffix: 8, minSuffix: 2, maxLen: 10, maxPaths: 32, maxScan: 256, useContext: true };

/**
 * Retrieval drafter (REST, He et al. 2024; the retrieval tree of RASD, Quan et al. 2025): the
 * longest suffix of the context found in the datastore or earlier in the context itself, tried
 * from maxSuffix down to minSuffix; the continuations that followed it are inserted into a trie
 * weighted by how often each occurs, and the most frequent nodes under the budget are drafted
 * (REST builds its trie the same way and keeps the most frequent prefixes).
 *
 * The running context is searched by a backward scan (O(n * maxSuffix)), not indexed: it changes
 * every step, and a scan of a few thousand tokens costs microseconds, while a suffix array
 * would have to be rebuilt. State: a trie of maxPaths * maxLen + 1 nodes (about 40 bytes each);
 * the datastore (8 bytes per token) belongs to the caller and is never modified.
 */
export class RetrievalDrafter implements Drafter {
  readonly name = 'retrieval';
  /** The caller's documents; swapped per request with setDatastore (the drafter keeps no other state). */
  datastore: Datastore | null;
  readonly options: Readonly<Required<Omit<RetrievalOptions, 'datastore'>>>;
  private readonly trie: TokenTrie;

  constructor(options: RetrievalOptions = {}) {
    const o = { ...DEFAULTS, ...options };
    for (const k of ['maxSuffix', 'minSuffix', 'maxLen', 'maxPaths', 'maxScan'] as const) {
      if (!Number.isInteger(o[k]) || o[k] < 1) throw new OptionsError(`retrieval option ${k} must be an integer >= 1, got ${o[k]}`);
    }
    if (o.minSuffix > o.maxSuffix) throw new OptionsError(`retrieval minSuffix (${o.minSuffix}) exceeds maxSuffix (${o.maxSuffix})`);
    this.datastore = options.datastore ?? null;
    this.options = { maxSuffix: o.maxSuffix, minSuffix: o.minSuffix, maxLen: o.maxLen, maxPaths: o.maxPaths, maxScan: o.maxScan, useContext: o.useContext };
    this.trie = new TokenTrie(o.maxPaths * o.maxLen + 1);
  }

  /** Uses another datastore from now on (e.g. the documents of the next request); null = none. */
  setDatastore(datastore: Datastore | null): void {
    this.datastore = datastore;
  }

  propose(ctx: DraftContext, budget: number): DraftTree {
    this.trie.clear();
    if (budget >= 1) {
      const { maxPaths, maxLen } = this.options;
      for (const c of this.retrievalCandidates(ctx.tokens, maxPaths, maxLen)) this.trie.insert(c.tokens, c.count);
    }
    return this.trie.toDraftTree(budget);
  }

  /**
   * Distinct continuations of the longest matched suffix, from the datastore and the context
   * (whichever matched longest; both when they tie), most frequent first, at most maxPaths,
   * each at most maxLen tokens. For RASD's fusion, which prunes them by draft-model probability.
   */
  retrievalCandidates(context: Int32Array, maxPaths: number, maxLen: number): RetrievalCandidate[] {
    const { maxSuffix, minSuffix, maxScan, useContext } = this.options;
    const n = context.length;
    if (n === 0 || maxPaths < 1 || maxLen < 1) return [];
    const ds = this.datastore?.longestSuffix(context, maxSuffix, minSuffix) ?? { length: 0, lo: 0, hi: 0 };
    const ctxLen = useContext ? this.contextMatchLength(context) : 0;
    const len = Math.max(ds.length, ctxLen >= minSuffix ? ctxLen : 0);
    if (len === 0) return [];
    const found: RetrievalCandidate[] = [];
    if (ds.length === len && this.datastore !== null) found.push(...this.datastore.continuations(ds, Infinity, maxLen, maxScan));
    if (ctxLen === len) found.push(...this.contextContinuations(context, len, maxLen));
    return mergeCandidates(found, maxPaths);
  }

  /** Longest agreement (<= maxSuffix) between the context's suffix and an earlier position's. */
  private contextMatchLength(t: Int32Array): number {
    let best = 0;
    for (let j = t.length - 2; j >= 0; j--) best = Math.max(best, this.agreement(t, j));
    return best;
  }

  /** Agreement of the n-grams ending at j and at the end, capped at maxSuffix (j < n - 1). */
  private agreement(t: Int32Array, j: number): number {
    const n = t.length;
    const cap = Math.min(this.options.maxSuffix, j + 1);
    let l = 0;
    while (l < cap && t[j - l] === t[n - 1 - l]) l++;
    return l;
  }

  /** What followed the (most recent, at most maxScan) context positions matching len tokens. */
  private contextContinuations(t: Int32Array, len: number, maxLen: number): RetrievalCandidate[] {
    const out: RetrievalCandidate[] = [];
    for (let j = t.length - 2; j >= 0 && out.length < this.options.maxScan; j--) {
      if (this.agreement(t, j) < len) continue;
      out.push({ tokens: t.slice(j + 1, Math.min(t.length, j + 1 + maxLen)), count: 1 });
    }
    return out;
  }

  observe(_obs: VerifyObservation): void {
    // The committed text arrives with the next propose; the datastore is read-only.
  }

  reset(): void {
    this.trie.clear();
  }
}

/** Sums the counts of equal continuations; best first (count, then longer), at most maxPaths. */
function mergeCandidates(found: RetrievalCandidate[], maxPaths: number): RetrievalCandidate[] {
  const byKey = new Map<string, RetrievalCandidate>();
  for (const c of found) {
    const key = c.tokens.join(',');
    const prev = byKey.get(key);
    if (prev) prev.count += c.count;
    else byKey.set(key, { tokens: c.tokens, count: c.count });
  }
  const out = [...byKey.values()].sort((a, b) => b.count - a.count || b.tokens.length - a.tokens.length);
  if (out.length > maxPaths) out.length = maxPaths;
  return out;
}
