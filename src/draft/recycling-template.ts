import { OptionsError } from '../errors';

/**
 * The static tree template of Token Recycling (Luo et al. 2024, *Turning Trash into Treasure*,
 * section 3.2): a fixed tree shape whose node i says "take the childRank-th most likely successor
 * of my parent's token". The drafter instantiates it from the root through its adjacency matrix.
 *
 * Layout: (m, 2) Int32Array of (parent, childRank) pairs in BFS order: parent is -1 (the root)
 * or an earlier node, depth never decreases, no (parent, childRank) pair repeats, 0 <= childRank.
 */
export type TreeTemplate = Int32Array;

/**
 * Assumed probability that the target's rank-r successor is the right next token: geometric,
 * (1 - rho) rho^r with rho = 0.45 (rank 0 = 0.55, rank 1 = 0.25, rank 2 = 0.11, ...). Chosen,
 * not measured; the shape that matters is "falls quickly with rank", as the paper's template
 * (wide at the top, rank-0 chains deep) reflects. Pass your own prior to fit measured rates.
 */
export function geometricRankPrior(k: number, rho = 0.45): Float64Array {
  const p = new Float64Array(k);
  for (let r = 0; r < k; r++) p[r] = (1 - rho) * rho ** r;
  return p;
}

export interface TemplateOptions {
  /** Nodes in the template (default 80, the paper's size). */
  nodes?: number;
  /** Children considered per node = the matrix width k (default 8). */
  k?: number;
  /** Deepest level (default 10). */
  maxDepth?: number;
  /** (k) per-rank acceptance prior (default geometricRankPrior(k)). */
  rankPrior?: Float64Array;
}

/**
 * The template of `nodes` nodes maximising the expected accepted length under the rank prior:
 * a node's value is the product of its ancestors' and its own prior (the chance its whole path
 * is accepted), and the best-first greedy over a product score that falls along every path
 * picks the top set, which is closed under parents (the same argument as Sequoia's and
 * EAGLE-2's tree selection). Emitted in BFS order with rank-ordered children.
 */
export function buildTemplate(options: TemplateOptions = {}): TreeTemplate {
  const nodes = options.nodes ?? 80;
  const k = options.k ?? 8;
  const maxDepth = options.maxDepth ?? 10;
  const prior = options.rankPrior ?? geometricRankPrior(k);
  if (!Number.isInteger(nodes) || nodes < 0) throw new OptionsError(`template nodes must be an integer >= 0, got ${nodes}`);
  if (!Number.isInteger(k) || k < 1) throw new OptionsError(`template k must be an integer >= 1, got ${k}`);
  if (!Number.isInteger(maxDepth) || maxDepth < 1) throw new OptionsError(`template maxDepth must be >= 1, got ${maxDepth}`);
  if (prior.length < k) throw new OptionsError(`rankPrior has ${prior.length} entries, need k = ${k}`);
  // Best-first over the implicit k-ary tree: the frontier holds the children of kept nodes.
  const keptParent: number[] = [];
  const keptRank: number[] = [];
  const frontier: { parent: number; rank: number; score: number; depth: number }[] = [];
  const pushChildren = (parent: number, score: number, depth: number) => {
    if (depth >= maxDepth) return;
    for (let r = 0; r < k; r++) frontier.push({ parent, rank: r, score: score * prior[r], depth: depth + 1 });
  };
  pushChildren(-1, 1, 0);
  while (keptParent.length < nodes && frontier.length > 0) {
    let best = 0;
    for (let i = 1; i < frontier.length; i++) {
      const a = frontier[i];
      const b = frontier[best];
      // ties: shallower, then earlier parent, then lower rank (deterministic)
      if (a.score > b.score || (a.score === b.score && (a.depth < b.depth || (a.depth === b.depth && (a.parent < b.parent || (a.parent === b.parent && a.rank < b.rank)))))) best = i;
    }
    const v = frontier[best];
    frontier[best] = frontier[frontier.length - 1];
    frontier.pop();
    keptParent.push(v.parent);
    keptRank.push(v.rank);
    pushChildren(keptParent.length - 1, v.score, v.depth);
  }
  // BFS order: a queue over kept nodes, children of each in rank order.
  const m = keptParent.length;
  const children: number[][] = Array.from({ length: m + 1 }, () => []);
  for (let i = 0; i < m; i++) children[keptParent[i] + 1].push(i);
  const out = new Int32Array(2 * m);
  const newIndex = new Int32Array(m);
  const queue: number[] = [-1];
  let q = 0;
  for (let head = 0; head < queue.length; head++) {
    const v = queue[head];
    const kids = children[v + 1].sort((a, b) => keptRank[a] - keptRank[b]);
    for (const c of kids) {
      newIndex[c] = q;
      out[2 * q] = v === -1 ? -1 : newIndex[v];
      out[2 * q + 1] = keptRank[c];
      q++;
      queue.push(c);
    }
  }
  return out;
}

/** Throws OptionsError unless `t` is a valid template for matrix width k (see TreeTemplate). */
export function checkTemplate(t: TreeTemplate, k: number): void {
  if (t.length % 2 !== 0) throw new OptionsError(`template length ${t.length} is not a list of (parent, childRank) pairs`);
  const m = t.length / 2;
  const depth = new Int32Array(m);
  const seen = new Set<number>();
  for (let i = 0; i < m; i++) {
    const p = t[2 * i];
    const r = t[2 * i + 1];
    if (!(p === -1 || (p >= 0 && p < i))) throw new OptionsError(`template node ${i}: parent ${p} must be -1 or an earlier node`);
    if (!(r >= 0 && r < k)) throw new OptionsError(`template node ${i}: childRank ${r} must be in [0, ${k})`);
    depth[i] = p === -1 ? 1 : depth[p] + 1;
    if (i > 0 && depth[i] < depth[i - 1]) throw new OptionsError(`template node ${i}: not in BFS order (depth decreases)`);
    const key = (p + 1) * k + r;
    if (seen.has(key)) throw new OptionsError(`template node ${i}: (parent ${p}, childRank ${r}) repeats`);
    seen.add(key);
  }
}
