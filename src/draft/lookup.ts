import type { DraftContext, Drafter, VerifyObservation } from './drafter';
import type { DraftTree } from '../tree/types';
import { TokenTrie } from '../tree/trie';
import { OptionsError } from '../errors';

/** Options of the prompt lookup drafter; every field has the default written beside it. */
export interface LookupOptions {
  /** Longest suffix n-gram tried (default 4). */
  maxNgram?: number;
  /** Shortest suffix n-gram accepted as a match (default 1). */
  minNgram?: number;
  /** Tokens copied after each match (default 10): the depth of a branch. */
  maxContinuation?: number;
  /** Match positions used, best first (default 8): the most branches in one tree. */
  maxMatches?: number;
}

const DEFAULTS: Required<LookupOptions> = { maxNgram: 4, minNgram: 1, maxContinuation: 10, maxMatches: 8 };

/**
 * Prompt lookup decoding (Saxena 2023, "Prompt Lookup Decoding"; the n-gram matching of
 * LLMA, Yang et al. 2023): find earlier places in the committed text (prompt + generated)
 * whose preceding tokens equal the current suffix, and propose what followed them. Several
 * matches become branches of one trie, so one verify pass tries them all.
 *
 * Ranking: a match whose suffix agreement is longer always outranks any number of shorter
 * ones (weight (maxMatches+1)^(len - minNgram) per match, so one match of length L+1 weighs
 * more than maxMatches matches of length L); equal continuations add up (frequency), and among
 * equal scores the most recent match comes first (inserted first, the trie keeps that order).
 *
 * State: none across calls beyond a trie of maxMatches * maxContinuation + 1 nodes (about
 * 40 bytes per node). Cost per propose: one backward scan of the context, O(n * maxNgram).
 */
export class LookupDrafter implements Drafter {
  readonly name = 'lookup';
  readonly options: Readonly<Required<LookupOptions>>;
  private readonly trie: TokenTrie;
  /** (maxMatches) end index of each chosen match (last token of the matched n-gram). */
  private readonly matchEnd: Int32Array;
  /** (maxMatches) agreement length of each chosen match. */
  private readonly matchLen: Int32Array;
  /** (maxNgram + 1) matches found per agreement length. */
  private readonly perLen: Int32Array;

  constructor(options: LookupOptions = {}) {
    const o = { ...DEFAULTS, ...options };
    for (const [k, v] of Object.entries(o)) {
      if (!Number.isInteger(v) || v < 1) throw new OptionsError(`lookup option ${k} must be an integer >= 1, got ${v}`);
    }
    if (o.minNgram > o.maxNgram) {
      throw new OptionsError(`lookup minNgram (${o.minNgram}) must not exceed maxNgram (${o.maxNgram})`);
    }
    this.options = o;
    this.trie = new TokenTrie(o.maxMatches * o.maxContinuation + 1);
    this.matchEnd = new Int32Array(o.maxMatches);
    this.matchLen = new Int32Array(o.maxMatches);
    this.perLen = new Int32Array(o.maxNgram + 1);
  }

  propose(ctx: DraftContext, budget: number): DraftTree {
    this.trie.clear();
    if (budget >= 1) this.fill(ctx.tokens);
    return this.trie.toDraftTree(budget);
  }

  /**
   * Length of agreement between the n-grams ending at j and at the context's end, capped at
   * maxNgram. Invariant: j < n - 1, so a continuation tokens[j+1] exists.
   */
  private agreement(t: Int32Array, j: number): number {
    const n = t.length;
    const cap = Math.min(this.options.maxNgram, j + 1);
    let l = 0;
    while (l < cap && t[j - l] === t[n - 1 - l]) l++;
    return l;
  }

  /** Picks the best matches (two backward scans) and inserts their continuations. */
  private fill(t: Int32Array): void {
    const { minNgram, maxNgram, maxContinuation, maxMatches } = this.options;
    const n = t.length;
    if (n < 2) return;
    // Pass 1: how many matches per agreement length.
    this.perLen.fill(0);
    for (let j = n - 2; j >= 0; j--) {
      const l = this.agreement(t, j);
      if (l >= minNgram) this.perLen[l]++;
    }
    // Threshold: take every match longer than `cut`, and the most recent at `cut` to fill.
    let cut = maxNgram;
    let above = 0;
    while (cut > minNgram && above + this.perLen[cut] < maxMatches) above += this.perLen[cut--];
    let atCut = Math.min(maxMatches - above, this.perLen[cut]);
    // Pass 2: collect, most recent first.
    let m = 0;
    for (let j = n - 2; j >= 0 && m < maxMatches; j--) {
      const l = this.agreement(t, j);
      if (l < cut) continue;
      if (l === cut) {
        if (atCut === 0) continue;
        atCut--;
      }
      this.matchEnd[m] = j;
      this.matchLen[m++] = l;
    }
    const base = maxMatches + 1;
    for (let i = 0; i < m; i++) {
      const start = this.matchEnd[i] + 1;
      const end = Math.min(n, start + maxContinuation);
      this.trie.insert(t, base ** (this.matchLen[i] - minNgram), start, end);
    }
  }

  observe(_obs: VerifyObservation): void {
    // Stateless: the committed text it searches arrives with the next propose.
  }

  reset(): void {
    this.trie.clear();
  }
}
