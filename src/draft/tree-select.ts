/**
 * Candidate selection of the draft tree, on the CPU: greedy (EAGLE-2, Li et al. 2024) and
 * sampled (SpecInfer's draws without replacement, q kept per row). The rules ModelDrafter grows
 * its trees by, and the oracles of the GPU kernels that grow them on the GPU
 * (shaders/draft_level_f32.wgsl, draft_sample_f32.wgsl, draft_tree_u32.wgsl;
 * test/gpu/draft-grow.test.ts, test/gpu/draft-sample.test.ts).
 */

import { targetProbs, type SamplingOptions } from '../verify/sampler';

/** A node of the tree being grown; row = index + 1 in the draft pass. */
export interface GrowNode {
  token: number;
  parent: number;
  depth: number;
  /** Cumulative log-probability of the path root..node under the draft. */
  logp: number;
}

/**
 * One greedy level: each frontier node (index into nodes, -1 = the root) offers its `width`
 * most likely children (logits row i of (frontier, outVocab)); a candidate must beat the
 * budget-th best node so far (otherwise neither it nor its subtree is kept); the `room` best
 * candidates (stable: ties keep frontier order, then child rank) are appended to `nodes`.
 * Returns the indices of the added nodes (the next frontier). `tokenOf` maps an LM-head row
 * to its token id (VocabTrim).
 */
export function greedyLevel(nodes: GrowNode[], frontier: number[], logits: Float32Array, outVocab: number, width: number, room: number, budget: number, tokenOf: (row: number) => number): number[] {
  const V = outVocab;
  const floor = nodes.length >= budget ? nodes.map((x) => x.logp).sort((a, b) => b - a)[budget - 1] : -Infinity;
  const cands: GrowNode[] = [];
  frontier.forEach((f, i) => {
    const row = logits.subarray(i * V, (i + 1) * V);
    const lse = logSumExp(row);
    const base = f < 0 ? 0 : nodes[f].logp;
    const depth = f < 0 ? 1 : nodes[f].depth + 1;
    for (const j of topIndices(row, width)) {
      const logp = base + row[j] - lse;
      if (logp > floor) cands.push({ token: tokenOf(j), parent: f, depth, logp });
    }
  });
  cands.sort((a, b) => b.logp - a.logp); // stable: ties keep frontier order
  const start = nodes.length;
  nodes.push(...cands.slice(0, room));
  return Array.from({ length: nodes.length - start }, (_, i) => start + i);
}

/**
 * One sampled level: `count` children drawn without replacement, allotted before drawing (a
 * child dropped for its own value would bias the draws) from values already known: one per
 * frontier node in order of cumulative log q (stable: ties keep frontier order), the surplus
 * to the best one. For each node with children in that order, `qOf(i, f)` gives q of frontier
 * row i (node f, -1 = the root) over the vocabulary (rowQ: token ids, also under VocabTrim),
 * recorded in `q` at the node's row f + 1;
 * `draw(left)` draws an index from the unnormalised `left` with one uniform. Children are
 * appended to `nodes` (logp = the parent's + log q(t)); a q with no mass left ends a node's
 * draws without a draw. Returns the indices of the added nodes (the next frontier).
 */
export function sampleLevel(
  nodes: GrowNode[],
  frontier: number[],
  count: number,
  qOf: (i: number, f: number) => Float32Array,
  draw: (left: Float32Array) => number,
  q: (Float32Array | null)[],
): number[] {
  const base = (f: number) => (f < 0 ? 0 : nodes[f].logp);
  const order = frontier.map((f, i) => ({ f, i })).sort((a, b) => base(b.f) - base(a.f));
  const kids = order.map((_, r) => (r < count ? 1 : 0));
  if (kids.length > 0) kids[0] += Math.max(0, count - order.length);
  const start = nodes.length;
  order.forEach(({ f, i }, r) => {
    if (kids[r] === 0) return;
    const qRow = qOf(i, f);
    q[f + 1] = qRow;
    const left = Float32Array.from(qRow);
    for (let c = 0; c < kids[r] && left.some((x) => x > 0); c++) {
      const t = draw(left);
      left[t] = 0;
      nodes.push({ token: t, parent: f, depth: f < 0 ? 1 : nodes[f].depth + 1, logp: base(f) + Math.log(qRow[t]) });
    }
  });
  return Array.from({ length: nodes.length - start }, (_, i) => start + i);
}

/**
 * q of one draft logits row over a vocabulary of `vocab` tokens: row entry j is the logit of
 * token tokenOf(j) (VocabTrim: the LM head keeps only some tokens), every token the head does
 * not keep has logit -inf, so q = 0 there; then the request's distribution (targetProbs,
 * `history` for the repetition penalty). The verifier's residual max(p - q, 0) reads q of every
 * token, so q spans the target's vocabulary, not the head's rows.
 */
export function rowQ(row: Float32Array, vocab: number, tokenOf: (j: number) => number, options: SamplingOptions, history: Int32Array): Float32Array {
  const full = new Float32Array(vocab).fill(-Infinity); // (vocab) draft logits, -inf outside the kept rows
  for (let j = 0; j < row.length; j++) full[tokenOf(j)] = row[j];
  return targetProbs(full, options, history);
}

/** The `budget` best nodes by cumulative log-probability (ties: shallower first), in creation (BFS) order, parents remapped. */
export function rerank(nodes: GrowNode[], budget: number): GrowNode[] {
  if (nodes.length <= budget) return nodes;
  const idx = nodes.map((_, i) => i).sort((a, b) => nodes[b].logp - nodes[a].logp || nodes[a].depth - nodes[b].depth || a - b);
  const keep = idx.slice(0, budget).sort((a, b) => a - b);
  const newIndex = new Map(keep.map((old, i) => [old, i]));
  return keep.map((old) => {
    const nd = nodes[old];
    const parent = nd.parent < 0 ? -1 : newIndex.get(nd.parent);
    if (parent === undefined) throw new Error(`rerank: node ${old} kept without its parent ${nd.parent}`);
    return { ...nd, parent };
  });
}


export function logSumExp(x: Float32Array): number {
  let max = -Infinity;
  for (const v of x) if (v > max) max = v;
  let s = 0;
  for (const v of x) s += Math.exp(v - max);
  return max + Math.log(s);
}

/** Indices of the k largest entries, largest first (ties to the lower index). */
export function topIndices(x: Float32Array, k: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < x.length; i++) {
    if (best.length === k && x[i] <= x[best[k - 1]]) continue;
    let at = best.length < k ? best.length : k - 1;
    while (at > 0 && x[i] > x[best[at - 1]]) at--;
    best.splice(at, 0, i);
    if (best.length > k) best.pop();
  }
  return best;
}
