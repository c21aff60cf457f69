import type { TreeLayout } from '../tree/layout';
import type { DraftTree } from '../tree/types';
import { TreeError } from '../tree/validate';
import { type AcceptResult, VerifyError, drawIndex, sum } from './accept';
import type { Rng } from './rng';

/**
 * The target's distribution at a verify row (row 0 = root, row i+1 = node i): (vocab), already
 * temperature / top-k / top-p processed exactly as plain sampling does. Called once per visited
 * row (the root, then each accepted row), in path order.
 */
export type RowProbs = (row: number) => Float32Array;

/**
 * Lossless tree acceptance under sampling (DESIGN section 5). At the current row u with target
 * distribution p (a fresh copy of rowProbs(u)), the children of u are tried in node order:
 *  - sampled from q, with replacement: accept child t with probability min(1, p(t)/q(t)); on
 *    reject p <- norm(max(0, p - q)) (Leviathan et al. 2023, Chen et al. 2023; for several
 *    i.i.d. children, SpecInfer's multi-step speculative sampling, Miao et al. 2024, Alg. 2);
 *  - sampled from q without replacement: the same, where q is renormalised without the tokens
 *    already tried, since child i was drawn from exactly that (Jeon et al. 2024, Recursive
 *    Speculative Decoding; Hu et al. 2025, Towards Optimal Multi-draft Speculative Decoding);
 *  - deterministic (q one-hot on t): accept with probability p(t); on reject p(t) <- 0 and
 *    renormalise, which is norm(max(0, p - onehot(t))).
 * An accepted child becomes the current row; when every child is rejected (or there are none)
 * the bonus token is drawn from the current p, i.e. the residual after the last rejection.
 *
 * Invariant (why it is lossless): at each try, with p_i the residual so far and q_i the law the
 * child was drawn from given the earlier siblings, P(emit x) = min(p_i(x), q_i(x)) + P(reject)
 * * p_{i+1}(x) = p_i(x); by induction over the siblings the token emitted at this depth is
 * distributed as p_0 = the target's distribution at u, and by induction over depth the path is
 * distributed as the target's sequence. Corner cases: p(t) = 0 never accepts; a residual that
 * is all zero means p_i == q_i (rejection happened only through float round-off), so p stays.
 *
 * Randomness: rng.next() is consumed in a fixed order so a seed reproduces: one draw per tried
 * child (accept iff u * q(t) < p(t)), visited rows in path order and children in node order,
 * then exactly one draw for the bonus. Draws used = tried children + 1.
 */
export function acceptStochastic(tree: DraftTree, layout: TreeLayout, rowProbs: RowProbs, rng: Rng): AcceptResult {
  if (layout.rows !== tree.tokens.length + 1) {
    throw new TreeError(`layout.rows = ${layout.rows}, expected tree nodes + 1 = ${tree.tokens.length + 1} (layout of another tree?)`);
  }
  const first = rowProbs(0);
  const vocab = first.length;
  const p = new Float64Array(vocab); // (vocab) target distribution at the current row, then its residual
  const q = new Float64Array(vocab); // (vocab) draft distribution of the current sibling, sampled trees only
  loadDistribution(p, first, 'rowProbs(0)');
  for (let i = 0; i < tree.tokens.length; i++) {
    if (tree.tokens[i] >= vocab) throw new VerifyError(`node ${i}: token ${tree.tokens[i]}, expected < ${vocab} (the target distribution's length)`);
  }
  const path: number[] = [];
  let row = 0;
  for (;;) {
    const next = tryChildren(tree, layout.children[row], row, p, q, rng);
    if (next < 0) return { nodes: Int32Array.from(path), bonus: drawIndex(p, sum(p), rng) };
    path.push(next - 1);
    row = next;
    loadDistribution(p, rowProbs(row), `rowProbs(${row})`);
  }
}

/**
 * Tries the children (row indices, node order) of `row` against p; returns the accepted child's
 * row, or -1 with p replaced by the final residual (normalised). One rng draw per tried child.
 */
function tryChildren(tree: DraftTree, kids: Int32Array, row: number, p: Float64Array, q: Float64Array, rng: Rng): number {
  if (kids.length === 0) return -1;
  const draft = tree.draft;
  if (draft.kind === 'deterministic') {
    for (let c = 0; c < kids.length; c++) {
      const t = tree.tokens[kids[c] - 1];
      if (rng.next() < p[t]) return kids[c]; // q(t) = 1: accept with probability min(1, p(t)/1)
      rejectOneHot(p, t);
    }
    return -1;
  }
  const qRow = draft.q[row];
  if (!qRow) throw new TreeError(`draft.q[${row}] is null but row ${row} has children, expected its draft distribution`);
  loadDistribution(q, qRow, `draft.q[${row}]`);
  for (let c = 0; c < kids.length; c++) {
    const t = tree.tokens[kids[c] - 1];
    // u < min(1, p/q) written without division; q(t) > 0 is validated, so p(t) >= q(t) always accepts.
    if (rng.next() * q[t] < p[t]) return kids[c];
    rejectSampled(p, q);
    if (!draft.withReplacement) removeToken(q, t);
  }
  return -1;
}

/** p <- norm(max(0, p - onehot(t))): p(t) zeroed. If p was one-hot on t (round-off rejection), p stays. */
function rejectOneHot(p: Float64Array, t: number): void {
  const rest = sum(p) - p[t];
  if (!(rest > 0)) return;
  p[t] = 0;
  for (let i = 0; i < p.length; i++) p[i] /= rest;
}

/** p <- norm(max(0, p - q)). An all-zero residual means p == q (up to round-off): p stays. */
function rejectSampled(p: Float64Array, q: Float64Array): void {
  let total = 0;
  for (let i = 0; i < p.length; i++) total += p[i] > q[i] ? p[i] - q[i] : 0;
  if (!(total > 0)) return;
  for (let i = 0; i < p.length; i++) p[i] = p[i] > q[i] ? (p[i] - q[i]) / total : 0;
}

/** q <- q without token t, renormalised: the law of the next child drawn without replacement. */
function removeToken(q: Float64Array, t: number): void {
  q[t] = 0;
  const total = sum(q);
  if (!(total > 0)) return; // q's support is exhausted: no further distinct child can exist (validateTree)
  for (let i = 0; i < q.length; i++) q[i] /= total;
}

/** dst <- src / sum(src), checking src is a distribution of dst's length (finite, >= 0, positive sum). */
function loadDistribution(dst: Float64Array, src: Float32Array, what: string): void {
  if (src.length !== dst.length) throw new VerifyError(`${what}.length = ${src.length}, expected the vocabulary size ${dst.length}`);
  let total = 0;
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    if (!(v >= 0) || v === Infinity) throw new VerifyError(`${what}[${i}] = ${v}, expected a finite probability >= 0`);
    total += v;
  }
  if (!(total > 0)) throw new VerifyError(`${what} sums to ${total}, expected a positive total`);
  for (let i = 0; i < src.length; i++) dst[i] = src[i] / total;
}
