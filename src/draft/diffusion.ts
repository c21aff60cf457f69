/**
 * The diffusion drafter (DEER, Cheng et al. 2025; DiffuSpec, Li et al. 2025): a small
 * bidirectional block drafter (src/model/diffusion.ts) fills K masked positions after the root
 * in one pass, whatever the draft length; its per-position candidates (the lattice) become a
 * tree by DiffuSpec's causal-consistency path search (path-search.ts), with the online n-gram
 * cache of the committed text (the `ngram` drafter's) as the causal score, and the draft length
 * adapting to the drafter's confidence (paths whose score falls under `minScore` end).
 *
 * Greedy requests: the tree's tokens are lattice candidates (deterministic, one-hot q).
 * Sampling requests: the same tree shape, but the children of a node at depth d are drawn
 * without replacement from q_{d+1}, the request's distribution (temperature, top-k/p, penalty)
 * applied to the drafter's logits at position d+1, recorded per row so that recursive
 * rejection sampling stays lossless (DESIGN section 5).
 */
import type { GpuCounter } from '../gpu/counter';
import type { DraftTree } from '../tree/types';
import { emptyTree } from '../tree/types';
import { sampleFrom, targetProbs } from '../verify/sampler';
import type { DraftContext, Drafter, VerifyObservation } from './drafter';
import type { BlockPass } from './diffusion-pass';
import { NgramDrafter } from './ngram';
import { searchPaths, type CausalScore, type SearchedTree } from './path-search';

export interface DiffusionOptions {
  /** Weight of the causal score's log in a path's score (default 0.5). */
  causalWeight?: number;
  /** Paths whose probability falls under this end (adaptive draft length; default 0.005: on the bench prompts it reaches the tau of full trees, 0.02 falls 0.09 short). */
  minScore?: number;
}

/** Causal score of a token the n-gram cache has seen follow nothing of this key (neutral-ish). */
const UNSEEN = 0.6;
/** Causal score of a token the cache has never seen follow a known key. */
const DISAGREE = 0.3;

export class DiffusionDrafter implements Drafter {
  readonly name = 'diffusion';
  private readonly causalWeight: number;
  private readonly minScore: number;
  /** The online n-gram cache of the committed text (keys of 1..3 tokens), the causal score. */
  private readonly ngram = new NgramDrafter({ contLen: 1 });

  /** targetVocab: the target's vocabulary size (sampled rows' q are distributions over it). */
  constructor(readonly pass: BlockPass, private readonly targetVocab: number, opts: DiffusionOptions = {}) {
    this.causalWeight = opts.causalWeight ?? 0.5;
    this.minScore = opts.minScore ?? 0.005;
  }

  begin(prompt: Int32Array): void {
    this.ngram.begin(prompt);
  }

  async propose(ctx: DraftContext, budget: number): Promise<DraftTree> {
    this.ngram.propose(ctx, 0); // indexes the committed text
    if (budget < 1) return emptyTree();
    const m = this.pass.model;
    const { ids, probs, logits } = await this.pass.draft(ctx.tokens, ctx.sampling);
    const tokens = Int32Array.from(ids, (i) => (i < 0 ? -1 : m.vocabIds[i]));
    const lattice = { depth: m.block, width: this.pass.width, tokens, probs };
    const tree = searchPaths(lattice, this.causalScore(ctx.tokens), { budget, causalWeight: this.causalWeight, minScore: this.minScore });
    if (!ctx.sampling) return { tokens: tree.tokens, parents: tree.parents, draft: { kind: 'deterministic' } };
    return this.sampleTree(ctx, tree, logits!);
  }

  /** c(t | context, path): the share of the longest matching key's sightings that t followed. */
  private causalScore(context: Int32Array): CausalScore {
    const keyLen = this.ngram.options.keyLen;
    return (path, len, token) => {
      // the key: the last keyLen tokens of the context followed by path[0..len)
      const fromPath = Math.min(len, keyLen);
      const k = new Int32Array(Math.min(keyLen, context.length + fromPath));
      k.set(context.subarray(context.length - (k.length - fromPath)), 0);
      k.set(path.subarray(len - fromPath, len), k.length - fromPath);
      for (let order = k.length; order >= 1; order--) {
        const conts = this.ngram.lookup(k, k.length - order, order);
        if (conts.length === 0) continue;
        let total = 0;
        let agree = 0;
        for (const c of conts) {
          total += c.count;
          if (c.tokens[0] === token) agree += c.count;
        }
        return DISAGREE + (1 - DISAGREE) * (agree / total);
      }
      return UNSEEN;
    };
  }

  /**
   * The searched shape with tokens drawn from the request's distribution per depth, each row's
   * q recorded. A node whose row has no probability left (fewer tokens kept than children) is
   * dropped with its subtree.
   */
  private sampleTree(ctx: DraftContext, tree: SearchedTree, logits: Float32Array): DraftTree {
    const m = this.pass.model;
    const V = m.vocabIds.length;
    const qAt: Float32Array[] = [];
    const qOf = (j: number): Float32Array => {
      if (!qAt[j]) {
        const l = new Float32Array(this.targetVocab).fill(-Infinity); // tokens outside the trimmed vocabulary are never drafted
        for (let i = 0; i < V; i++) l[m.vocabIds[i]] = logits[j * V + i];
        qAt[j] = targetProbs(l, ctx.options, ctx.tokens);
      }
      return qAt[j];
    };
    const n = tree.tokens.length;
    const kept = new Int32Array(n).fill(-1); // searched node -> drafted node
    const depth: number[] = [];
    const tokens: number[] = [];
    const parents: number[] = [];
    const q: (Float32Array | null)[] = [null];
    const left = new Map<number, Float32Array>(); // drafted row -> what is left of its q
    for (let i = 0; i < n; i++) {
      const p = tree.parents[i];
      if (p >= 0 && kept[p] < 0) continue;
      const parent = p < 0 ? -1 : kept[p];
      const d = parent < 0 ? 1 : depth[parent] + 1;
      const row = parent + 1;
      if (!left.has(row)) {
        q[row] = qOf(d - 1);
        left.set(row, q[row]!.slice());
      }
      const rest = left.get(row)!;
      if (!rest.some((v) => v > 0)) continue;
      const t = sampleFrom(rest, ctx.rng);
      rest[t] = 0;
      kept[i] = tokens.length;
      tokens.push(t);
      parents.push(parent);
      depth.push(d);
      q.push(null);
    }
    return { tokens: Int32Array.from(tokens), parents: Int32Array.from(parents), draft: { kind: 'sampled', withReplacement: false, q } };
  }

  observe(_obs: VerifyObservation): void {
    // The n-gram cache reads the committed text at the next propose.
  }

  reset(): void {
    this.ngram.reset();
  }

  /** The GPU pass's counter (its dispatches, submit and readback per drafting); none for the CPU pass. */
  counters(): GpuCounter[] {
    return this.pass.counter ? [this.pass.counter] : [];
  }

  destroy(): void {
    this.pass.destroy?.();
  }
}
