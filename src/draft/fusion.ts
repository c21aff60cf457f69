/**
 * RASD fusion (Quan et al. 2025, "Retrieval-Augmented Speculative Decoding"): the retrieval
 * drafter's continuations, pruned by the draft model (a retrieved token is kept only if it is
 * among the draft model's top-k at its parent; its branch is dropped otherwise), merged into the
 * draft model's tree by longest-prefix matching: a retrieved path follows the tree's existing
 * nodes as far as they agree and only its remaining suffix adds nodes, so shared prefixes are
 * verified once. The result holds at most `budget` nodes, in BFS order.
 *
 * Drafts are deterministic (q one-hot, DESIGN section 5) even when the request samples: the
 * draft model contributes its greedy tree, so retrieved and drafted nodes can share one tree
 * and verification stays lossless.
 */
import type { Drafter, DraftContext, VerifyObservation } from './drafter';
import type { DraftTree } from '../tree/types';
import type { DraftModel } from './draft-model';
import type { GpuCounter } from '../gpu/counter';
import type { ModelDrafter } from './model-drafter';
import type { RetrievalDrafter } from './retrieval';

/**
 * Merges `paths` (continuations of the root, best first) into `base` (a tree in BFS order) by
 * longest-prefix matching, adding at most budget - |base| nodes; base nodes beyond `budget` are
 * dropped from the end of its BFS order (parents precede children, so the rest stays a tree).
 * Returns a deterministic tree in BFS order (depth non-decreasing, insertion order within a depth).
 */
export function fuseTrees(base: DraftTree, paths: ArrayLike<number>[], budget: number): DraftTree {
  const tok: number[] = [];
  const par: number[] = [];
  const children = new Map<string, number>(); // "parent,token" -> node
  const add = (parent: number, t: number): number => {
    tok.push(t);
    par.push(parent);
    children.set(`${parent},${t}`, tok.length - 1);
    return tok.length - 1;
  };
  const keep = Math.min(budget, base.tokens.length);
  for (let i = 0; i < keep; i++) add(base.parents[i], base.tokens[i]);
  for (const path of paths) {
    let at = -1;
    for (let d = 0; d < path.length; d++) {
      const next = children.get(`${at},${path[d]}`);
      if (next !== undefined) { at = next; continue; } // shared prefix: reuse the node
      if (tok.length >= budget) break;
      at = add(at, path[d]);
    }
  }
  return bfsOrder(tok, par);
}

/** Re-emits a parent-closed forest (parents before children) in BFS order, parents remapped. */
function bfsOrder(tok: number[], par: number[]): DraftTree {
  const depth = par.map(() => 0);
  par.forEach((p, i) => { depth[i] = p < 0 ? 1 : depth[p] + 1; });
  const order = tok.map((_, i) => i).sort((a, b) => depth[a] - depth[b] || a - b);
  const at = new Map(order.map((old, i) => [old, i]));
  return {
    tokens: Int32Array.from(order, (i) => tok[i]),
    parents: Int32Array.from(order, (i) => (par[i] < 0 ? -1 : at.get(par[i])!)),
    draft: { kind: 'deterministic' },
  };
}

/**
 * Keeps of `paths` only the prefix of each whose tokens are in the draft's top-k at their
 * parent (topK(row) gives the draft's top-k ids after root + path prefix of that row).
 */
export function prunePaths(paths: Int32Array[], topKAt: (path: Int32Array, depth: number) => ArrayLike<number>): Int32Array[] {
  const out: Int32Array[] = [];
  for (const p of paths) {
    let len = 0;
    while (len < p.length && Array.prototype.includes.call(topKAt(p, len), p[len])) len++;
    if (len > 0) out.push(p.subarray(0, len));
  }
  return out;
}

export interface FusionOptions {
  /** Retrieved continuations considered (default 8) and their longest (default 8). */
  maxPaths?: number;
  maxLen?: number;
  /** Share of the budget reserved for retrieved nodes (default 0.5). */
  retrievalShare?: number;
}

export class FusionDrafter implements Drafter {
  readonly name = 'fusion';
  private readonly o: Required<FusionOptions>;

  constructor(
    private readonly draft: DraftModel,
    private readonly model: ModelDrafter,
    private readonly retrieval: RetrievalDrafter,
    opts: FusionOptions = {},
  ) {
    this.o = { maxPaths: 8, maxLen: 8, retrievalShare: 0.5, ...opts };
  }

  async propose(ctx: DraftContext, budget: number): Promise<DraftTree> {
    const found = this.retrieval.retrievalCandidates(ctx.tokens, this.o.maxPaths, this.o.maxLen).map((c) => c.tokens);
    const pruned = found.length ? await this.draft.exclusive(() => this.prune(ctx.tokens, found)) : [];
    const novel = new Set(pruned.flatMap((p) => Array.from(p, (_, d) => p.subarray(0, d + 1).join(',')))).size;
    const reserve = Math.min(novel, Math.floor(budget * this.o.retrievalShare));
    // The draft model's greedy tree (deterministic under sampling too, see the header).
    const base = await this.model.propose({ ...ctx, sampling: false }, Math.max(1, budget - reserve));
    return fuseTrees(base, pruned, budget);
  }

  /** One draft pass over root + the retrieved paths as a trie; a token survives if in the draft's top-k at its parent. */
  private async prune(tokens: Int32Array, paths: Int32Array[]): Promise<Int32Array[]> {
    const n = tokens.length;
    const gpu = this.draft.gpu;
    this.draft.sync(tokens.subarray(0, n - 1));
    const trie = fuseTrees({ tokens: new Int32Array(0), parents: new Int32Array(0), draft: { kind: 'deterministic' } }, paths, gpu.maxRows - 1);
    const rows = trie.tokens.length + 1;
    const positions = new Int32Array(rows).fill(n - 1);
    const mask = new Uint32Array(rows * 4); // (rows, 4) ancestor bits
    mask[0] = 1;
    const rowOf = new Map<string, number>([['', 0]]);
    const key: string[] = [''];
    for (let i = 0; i < trie.tokens.length; i++) {
      const r = i + 1;
      const p = trie.parents[i] + 1;
      positions[r] = positions[p] + 1;
      for (let w = 0; w < 4; w++) mask[r * 4 + w] = mask[p * 4 + w];
      mask[r * 4 + (r >> 5)] |= 1 << (r & 31);
      key[r] = key[p] === '' ? `${trie.tokens[i]}` : `${key[p]},${trie.tokens[i]}`;
      rowOf.set(key[r], r);
    }
    gpu.forward(Int32Array.from([tokens[n - 1], ...trie.tokens]), positions, mask);
    const { topK, k } = await gpu.readArgmaxTopK(rows);
    return prunePaths(paths, (path, d) => {
      const r = rowOf.get(Array.from(path.subarray(0, d)).join(','));
      if (r === undefined) return []; // beyond the rows a pass holds: not checked, not kept
      return Array.from(topK.subarray(r * k, (r + 1) * k), (j) => this.draft.tokenOf(j));
    });
  }

  /** The draft model's prefill and a fresh depth schedule (ModelDrafter.begin): a generation owes nothing to the last one's acceptance. */
  begin(prompt: Int32Array): Promise<void> {
    return this.model.begin(prompt);
  }

  /** The draft model's depth follows the accepted length of the fused tree (ModelDrafter.observe). */
  observe(obs: VerifyObservation): void {
    this.model.observe(obs);
  }

  reset(): void {
    this.model.reset();
  }

  /** The draft model's work: its pruning pass and the tree it grows. */
  counters(): GpuCounter[] {
    return [this.draft.gpu.counter];
  }
}
