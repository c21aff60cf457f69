import type { DraftContext, Drafter, VerifyObservation } from './drafter';
import type { DraftTree } from '../tree/types';
import { TokenTrie } from '../tree/trie';
import { OptionsError } from '../errors';
import { BIGRAM, TrigramTable } from './aded-table';

export interface AdedOptions {
  /** Contexts kept (default 16384, a multiple of 4). */
  slots?: number;
  /** Successors kept per context (default 8). */
  width?: number;
  /** Weight kept per committed token (default 0.999: an event 700 tokens old counts half). */
  decay?: number;
  /** UCB exploration constant c (default 0.3; 0 = pure exploitation). */
  explore?: number;
  /** Factor on bigram estimates used when the tri-gram context is unknown (default 0.5). */
  backoff?: number;
  /** Weight of the target's top-1 at verify rows off the committed path (default 0.5). */
  rowWeight?: number;
  /** Deepest draft level (default 8). */
  maxDepth?: number;
  /** Largest budget served in full (default 128 = the verify row limit): sizes the trie. */
  maxBudget?: number;
}

const DEFAULTS: Required<AdedOptions> = {
  slots: 16384, width: 8, decay: 0.999, explore: 0.3, backoff: 0.5, rowWeight: 0.5, maxDepth: 8, maxBudget: 128,
};

/**
 * ADED (Liu et al. 2024, *Adaptive Draft-Verification for Efficient LLM Decoding*): a tri-gram
 * model of the target's output, learned online from the committed text and from what the target
 * predicted at every verify row, drafts a tree by a search that balances exploiting frequent
 * continuations with exploring the less-tried ones.
 *
 * Search (the paper's MCTS-flavoured draft construction, as a best-first tree search): a node's
 * value is the product along its path of per-step scores
 *   s(t | a, b) = min(1, p(t | a, b) + c * sqrt(ln(1 + N(a, b)) / (1 + n(a, b, t))))
 * (UCB1, Auer et al. 2002): p the decayed empirical frequency, N the times the context was
 * drafted from, n the times t was drafted there and put to the test. A continuation drafted
 * often but never accepted loses its bonus while its frequency stays low; one rarely tried gets
 * a chance. Unknown tri-gram contexts back off to the bigram (b) with factor `backoff`. The
 * `budget` best nodes are expanded best first; values never grow along a path, so the trie keeps
 * the top set.
 *
 * Adaptation: all statistics decay by `decay` per committed token (TrigramTable), so the model
 * follows the current text. State persists across generations; reset() clears it.
 * Memory: the table (slots * (16 + 12 * width) bytes, 1.8 MB by default) + a trie of
 * maxBudget * width + 1 nodes.
 */
export class AdedDrafter implements Drafter {
  readonly name = 'aded';
  readonly options: Readonly<Required<AdedOptions>>;
  readonly table: TrigramTable;
  private readonly trie: TokenTrie;
  /** (trie capacity) the token before each trie node's token: its children's context is (ctxA, token). */
  private readonly ctxA: Int32Array;
  /** (trie capacity) max-heap of trie nodes by score. */
  private readonly heap: Int32Array;
  /** (width) scratch for successors. */
  private readonly sTok: Int32Array;
  private readonly sP: Float64Array;
  private readonly sN: Float64Array;
  private readonly sVisits = new Float64Array(1);
  /** Committed tokens already counted, and the last of them (to detect a new sequence). */
  private indexed = 0;
  private indexedLast = -1;
  /** The two tokens ending the last proposal's context: (-1 when absent). */
  private rootPrev = -1;
  private root = -1;

  constructor(options: AdedOptions = {}) {
    const o = { ...DEFAULTS, ...options };
    if (!(o.decay > 0 && o.decay <= 1)) throw new OptionsError(`ADED decay must be in (0, 1], got ${o.decay}`);
    for (const k of ['explore', 'backoff', 'rowWeight'] as const) {
      if (!(o[k] >= 0 && Number.isFinite(o[k]))) throw new OptionsError(`ADED ${k} must be a finite number >= 0, got ${o[k]}`);
    }
    for (const k of ['maxDepth', 'maxBudget'] as const) {
      if (!Number.isInteger(o[k]) || o[k] < 1) throw new OptionsError(`ADED ${k} must be an integer >= 1, got ${o[k]}`);
    }
    this.options = o;
    this.table = new TrigramTable(o.slots, o.width);
    const cap = o.maxBudget * o.width + 1;
    this.trie = new TokenTrie(cap);
    this.ctxA = new Int32Array(cap);
    this.heap = new Int32Array(cap);
    this.sTok = new Int32Array(o.width);
    this.sP = new Float64Array(o.width);
    this.sN = new Float64Array(o.width);
  }

  begin(_prompt: Int32Array): void {
    this.indexed = 0; // the prompt is counted at the first propose, from ctx.tokens
  }

  propose(ctx: DraftContext, budget: number): DraftTree {
    const t = ctx.tokens;
    const n = t.length;
    this.ingest(t);
    this.root = n > 0 ? t[n - 1] : -1;
    this.rootPrev = n > 1 ? t[n - 2] : -1;
    this.trie.clear();
    if (n > 0 && budget >= 1) this.search(budget);
    return this.trie.toDraftTree(budget);
  }

  /**
   * Counts the tri-grams of a corpus text (the paper builds its matrix from a corpus before
   * decoding, then adapts it). Documents are counted with the same decay as committed text, so
   * later ones weigh more; reset() forgets them too.
   */
  learn(text: Int32Array): void {
    this.countFrom(text, 1);
  }

  /** Counts the tri-grams and bigrams ending at positions from..length-1 of t. */
  private countFrom(t: Int32Array, from: number): void {
    for (let p = Math.max(1, from); p < t.length; p++) {
      this.table.decay(this.options.decay);
      if (p >= 2) this.table.addCount(t[p - 2], t[p - 1], t[p]);
      this.table.addCount(BIGRAM, t[p - 1], t[p]);
    }
  }

  /** Counts (t[p-2], t[p-1]) -> t[p] and (t[p-1]) -> t[p] for every position not counted yet. */
  private ingest(t: Int32Array): void {
    if (this.indexed > t.length || (this.indexed > 0 && t[this.indexed - 1] !== this.indexedLast)) this.indexed = 0;
    this.countFrom(t, this.indexed);
    this.indexed = t.length;
    this.indexedLast = t.length > 0 ? t[t.length - 1] : -1;
  }

  /** Best-first expansion from the root: at most `budget` nodes are expanded. */
  private search(budget: number): void {
    const { maxDepth } = this.options;
    let hl = 0;
    hl = this.expand(0, this.rootPrev, this.root, 1, hl);
    for (let pops = 0; pops < budget && hl > 0; pops++) {
      const v = this.heap[0];
      hl = this.pop(hl);
      if (this.trie.depth(v) < maxDepth) hl = this.expand(v, this.ctxA[v], this.trie.token(v), this.trie.score(v), hl);
    }
  }

  /** Adds node's children (successors of context (a, b)) to the trie and the heap. */
  private expand(node: number, a: number, b: number, value: number, hl: number): number {
    const { explore, backoff } = this.options;
    let slot = a === -1 ? -1 : this.table.find(a, b);
    let factor = 1;
    if (slot === -1) {
      slot = this.table.find(BIGRAM, b);
      factor = backoff;
    }
    if (slot === -1) return hl;
    const m = this.table.successors(slot, this.sTok, this.sP, this.sN, this.sVisits);
    const lnN = Math.log(1 + this.sVisits[0]);
    for (let j = 0; j < m; j++) {
      const s = Math.min(1, this.sP[j] + explore * Math.sqrt(lnN / (1 + this.sN[j]))) * factor;
      const c = this.trie.child(node, this.sTok[j]);
      if (c === -1) return hl; // trie full (budget beyond maxBudget)
      this.trie.maxScore(c, value * s);
      this.ctxA[c] = b;
      hl = this.push(hl, c);
    }
    return hl;
  }

  private push(hl: number, x: number): number {
    const h = this.heap;
    const sx = this.trie.score(x);
    let i = hl;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.trie.score(h[p]) >= sx) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = x;
    return hl + 1;
  }

  private pop(hl: number): number {
    const h = this.heap;
    const x = h[--hl];
    const sx = this.trie.score(x);
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= hl) break;
      const c = l + 1 < hl && this.trie.score(h[l + 1]) > this.trie.score(h[l]) ? l + 1 : l;
      if (this.trie.score(h[c]) <= sx) break;
      h[i] = h[c];
      i = c;
    }
    if (hl > 0) h[i] = x;
    return hl;
  }

  /**
   * Visit counts: node i was put to the test iff its parent is the root or accepted; it counts
   * as one draft of token i from its tri-gram and bigram contexts. Rows off the committed path
   * teach what the target predicts after them (weight rowWeight); the committed text itself is
   * counted at the next propose.
   */
  /** Rows off the committed path teach what the target predicts after them (when rowWeight > 0). */
  get observesAllRows(): boolean {
    return this.options.rowWeight > 0;
  }

  observe(obs: VerifyObservation): void {
    const { tree, acceptedNodes, topK, k } = obs;
    const m = tree.tokens.length;
    const accepted = new Uint8Array(m);
    for (let j = 0; j < acceptedNodes.length; j++) if (acceptedNodes[j] < m) accepted[acceptedNodes[j]] = 1;
    const tok = (i: number) => (i === -1 ? this.root : tree.tokens[i]);
    const before = (i: number) => (i === -1 ? this.rootPrev : tok(tree.parents[i]));
    for (let i = 0; i < m; i++) {
      const p = tree.parents[i];
      if ((p !== -1 && accepted[p] === 0) || tok(p) < 0) continue;
      if (before(p) >= 0) this.table.addTried(before(p), tok(p), tree.tokens[i]);
      this.table.addTried(BIGRAM, tok(p), tree.tokens[i]);
    }
    if (this.options.rowWeight > 0 && k >= 1) {
      for (let i = 0; i < m && (i + 1) * k < topK.length; i++) {
        const next = topK[(i + 1) * k];
        if (accepted[i] === 1 || next < 0 || tok(i) < 0) continue;
        if (before(i) >= 0) this.table.addCount(before(i), tok(i), next, this.options.rowWeight);
        this.table.addCount(BIGRAM, tok(i), next, this.options.rowWeight);
      }
    }
  }

  reset(): void {
    this.table.clear();
    this.indexed = 0;
    this.root = -1;
    this.rootPrev = -1;
  }
}
