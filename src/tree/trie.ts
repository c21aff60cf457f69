import type { DraftTree } from './types';
import { OptionsError } from '../errors';

/**
 * A token trie shared by the model-free drafters (lookup, Token Recycling, ADED, n-gram,
 * retrieval). A drafter inserts candidate continuations of the root, each with a weight, and
 * asks for the best `budget` nodes as a DraftTree.
 *
 * Node 0 is the root (the last committed token; never emitted). Every other node is one token
 * below its parent; siblings have distinct tokens by construction (insert walks existing
 * children before creating one), so an emitted tree never holds duplicate siblings.
 *
 * Scores. `insert` adds the path's weight to every node on it, so a node's score is the total
 * weight of the paths through it (a count, as in REST's frequency-weighted trie). `insertScored`
 * gives each node on the path max(current, given) (a cumulative probability, as in Token
 * Recycling's or a draft model's tree). Either way a node's score never exceeds its parent's
 * when weights are non-negative / probabilities are products of factors <= 1.
 *
 * Selection (`toDraftTree`). Best-first growth from the root: a max-heap holds the children of
 * the nodes kept so far, and the best one is kept next until `budget` nodes are kept. The kept
 * set is closed under parents (a node enters the heap only once its parent is kept), and when
 * scores are monotone along paths it is the `budget` highest-scoring nodes (the top set of a
 * monotone score is parent-closed; this is the same greedy EAGLE-2 and Sequoia use to pick a
 * tree of maximal expected accepted length). Ties: higher score, then shallower, then earlier
 * inserted.
 *
 * Memory: capacity nodes x 6 numbers (about 40 bytes per node); allocated once, reused after
 * clear(). An insert that would exceed capacity stops at that node (the path is truncated,
 * never an error), so the caller's memory is bounded whatever it inserts.
 */
export class TokenTrie {
  /** Maximum number of nodes including the root. */
  readonly capacity: number;
  /** (capacity) token of each node; the root's is -1. */
  private readonly tok: Int32Array;
  /** (capacity) parent node; -1 for the root. */
  private readonly par: Int32Array;
  /** (capacity) first child, -1 if none (children form a singly linked list). */
  private readonly firstChild: Int32Array;
  /** (capacity) next sibling, -1 at the end of the list. */
  private readonly nextSibling: Int32Array;
  /** (capacity) depth below the root (root = 0). */
  private readonly dep: Int32Array;
  /** (capacity) node score (see class comment). */
  private readonly sc: Float64Array;
  /** Nodes in use (root included). */
  private n = 1;

  /** Scratch for toDraftTree, sized to capacity once. */
  private readonly heap: Int32Array;
  private readonly kept: Uint8Array;
  private readonly order: Int32Array;

  constructor(capacity = 4096) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new OptionsError(`TokenTrie capacity must be an integer >= 1, got ${capacity}`);
    }
    this.capacity = capacity;
    this.tok = new Int32Array(capacity);
    this.par = new Int32Array(capacity);
    this.firstChild = new Int32Array(capacity);
    this.nextSibling = new Int32Array(capacity);
    this.dep = new Int32Array(capacity);
    this.sc = new Float64Array(capacity);
    this.heap = new Int32Array(capacity);
    this.kept = new Uint8Array(capacity);
    this.order = new Int32Array(capacity);
    this.clear();
  }

  /** Forgets every node but the root. O(1). */
  clear(): void {
    this.n = 1;
    this.tok[0] = -1;
    this.par[0] = -1;
    this.firstChild[0] = -1;
    this.nextSibling[0] = -1;
    this.dep[0] = 0;
    this.sc[0] = Infinity;
  }

  /** Nodes in use, root excluded. */
  get size(): number {
    return this.n - 1;
  }

  /** The child of `node` holding `token`, or -1. */
  findChild(node: number, token: number): number {
    for (let c = this.firstChild[node]; c !== -1; c = this.nextSibling[c]) {
      if (this.tok[c] === token) return c;
    }
    return -1;
  }

  /**
   * The child of `node` holding `token`, created (score 0) if missing; -1 when the trie is full.
   * New children go to the end of the sibling list so insertion order is kept for tie-breaks.
   */
  child(node: number, token: number): number {
    let last = -1;
    for (let c = this.firstChild[node]; c !== -1; c = this.nextSibling[c]) {
      if (this.tok[c] === token) return c;
      last = c;
    }
    if (this.n >= this.capacity) return -1;
    const c = this.n++;
    this.tok[c] = token;
    this.par[c] = node;
    this.firstChild[c] = -1;
    this.nextSibling[c] = -1;
    this.dep[c] = this.dep[node] + 1;
    this.sc[c] = 0;
    if (last === -1) this.firstChild[node] = c;
    else this.nextSibling[last] = c;
    return c;
  }

  /** Adds `w` to a node's score (count semantics). */
  addScore(node: number, w: number): void {
    if (node > 0) this.sc[node] += w;
  }

  /** Raises a node's score to at least `s` (probability semantics). */
  maxScore(node: number, s: number): void {
    if (node > 0 && s > this.sc[node]) this.sc[node] = s;
  }

  score(node: number): number {
    return this.sc[node];
  }

  token(node: number): number {
    return this.tok[node];
  }

  depth(node: number): number {
    return this.dep[node];
  }

  /**
   * Inserts tokens[start..end) as a path below the root, adding `weight` to every node on it.
   * Returns the number of tokens placed (less than end - start only when the trie is full).
   */
  insert(tokens: ArrayLike<number>, weight: number, start = 0, end = tokens.length): number {
    let node = 0;
    for (let i = start; i < end; i++) {
      const c = this.child(node, tokens[i]);
      if (c === -1) return i - start;
      this.sc[c] += weight;
      node = c;
    }
    return end - start;
  }

  /**
   * Inserts tokens[i] for i in [0, len) with scores[i] (e.g. cumulative probabilities); each
   * node's score becomes the max of its current and the given score.
   */
  insertScored(tokens: ArrayLike<number>, scores: ArrayLike<number>, len = tokens.length): number {
    let node = 0;
    for (let i = 0; i < len; i++) {
      const c = this.child(node, tokens[i]);
      if (c === -1) return i;
      if (scores[i] > this.sc[c]) this.sc[c] = scores[i];
      node = c;
    }
    return len;
  }

  /** True when node a should be kept before node b. */
  private better(a: number, b: number): boolean {
    const sa = this.sc[a];
    const sb = this.sc[b];
    if (sa !== sb) return sa > sb;
    if (this.dep[a] !== this.dep[b]) return this.dep[a] < this.dep[b];
    return a < b;
  }

  private heapPush(len: number, x: number): number {
    const h = this.heap;
    let i = len;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.better(x, h[p])) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = x;
    return len + 1;
  }

  /** Pops the best node; returns it. `len` is the size before popping. */
  private heapPop(len: number): number {
    const h = this.heap;
    const top = h[0];
    const x = h[len - 1];
    const n = len - 1;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.better(h[r], h[l]) ? r : l;
      if (!this.better(h[c], x)) break;
      h[i] = h[c];
      i = c;
    }
    if (n > 0) h[i] = x;
    return top;
  }

  /**
   * The best min(budget, size) nodes as a BFS-ordered DraftTree (see class comment).
   * Nodes with score <= minScore are never kept (default: keep any inserted node).
   * Output order: depth by depth; within a depth, by parent's output index, then children in
   * `better` order. So a parent precedes its children, depth never decreases, and the first
   * child tried at each row is the best-scored one.
   */
  toDraftTree(budget: number, minScore = -Infinity): DraftTree {
    const want = Math.max(0, Math.min(Math.floor(budget) || 0, this.n - 1));
    // Best-first selection.
    this.kept.fill(0, 0, this.n);
    let hl = 0;
    for (let c = this.firstChild[0]; c !== -1; c = this.nextSibling[c]) hl = this.heapPush(hl, c);
    let m = 0;
    while (m < want && hl > 0) {
      const v = this.heapPop(hl);
      hl--;
      if (!(this.sc[v] > minScore)) break; // heap top is the best left: nothing else qualifies
      this.kept[v] = 1;
      m++;
      for (let c = this.firstChild[v]; c !== -1; c = this.nextSibling[c]) hl = this.heapPush(hl, c);
    }
    return this.emitBfs(m);
  }

  /** Writes the m kept nodes in BFS order (see toDraftTree). */
  private emitBfs(m: number): DraftTree {
    const tokens = new Int32Array(m);
    const parents = new Int32Array(m);
    const order = this.order;
    // order[] doubles as the BFS queue: slot q holds the trie node of output node q.
    let tail = 0;
    let head = -1; // -1 = the root
    while (head < tail) {
      const v = head === -1 ? 0 : order[head];
      const start = tail;
      for (let c = this.firstChild[v]; c !== -1; c = this.nextSibling[c]) {
        if (this.kept[c] === 0) continue;
        // insertion sort of this node's kept children by `better` (fan-out is small)
        let j = tail++;
        while (j > start && this.better(c, order[j - 1])) {
          order[j] = order[j - 1];
          j--;
        }
        order[j] = c;
      }
      for (let j = start; j < tail; j++) {
        tokens[j] = this.tok[order[j]];
        parents[j] = head;
      }
      head++;
    }
    return { tokens, parents, draft: { kind: 'deterministic' } };
  }
}
