import { describe, expect, it } from 'vitest';
import { type TreeLayout, layoutTree } from '../../src/tree/layout';
import type { DraftTree } from '../../src/tree/types';
import { type AcceptResult, drawIndex, sum } from '../../src/verify/accept';
import { Rng } from '../../src/verify/rng';
import { type RowProbs, acceptStochastic } from '../../src/verify/stochastic';
import { chiSquareTest, poolSmallCells } from './stats';

/**
 * THE lossless test at the verifier level (DESIGN section 6): a toy target whose next-token
 * distribution depends on the last token (a Markov chain over V = 6 tokens), drafts of depth 2
 * with 1-3 children per node, many seeds. The first emitted token must follow T[root] and the
 * first two tokens must follow T[root][x1] * T[x1][x2], by a chi-square test at p > 1e-4; the
 * same test must reject deliberately biased verifiers, proving it can fail.
 */

const V = 6;
const ROOT = 0; // the last committed token when generation starts
const TRIALS = 30000;

// T[a]: the target's distribution after token a. Zeros exercise p(t) = 0.
const T = [
  [0.3, 0.25, 0.2, 0.15, 0.1, 0],
  [0.05, 0.4, 0, 0.3, 0, 0.25],
  [0.1, 0.1, 0.5, 0.1, 0.1, 0.1],
  [0, 0, 0.6, 0, 0.4, 0],
  [0.25, 0.25, 0.25, 0, 0, 0.25],
  [0.5, 0.1, 0.1, 0.1, 0.1, 0.1],
].map((r) => Float32Array.from(r));

// Q[a]: the drafter's distribution after token a. It proposes tokens the target never emits
// (q > 0 = p), misses tokens the target emits (q = 0 < p), and Q[2] == T[2] (residual all zero).
const Q = [
  [0.05, 0.05, 0.1, 0.3, 0, 0.5],
  [0.4, 0.1, 0.3, 0.1, 0.1, 0],
  [0.1, 0.1, 0.5, 0.1, 0.1, 0.1],
  [0.2, 0.2, 0.2, 0.2, 0.1, 0.1],
  [0, 0.9, 0, 0.1, 0, 0],
  [1 / 6, 1 / 6, 1 / 6, 1 / 6, 1 / 6, 1 / 6],
].map((r) => Float32Array.from(r));

type Verify = (tree: DraftTree, layout: TreeLayout, rowProbs: RowProbs, rng: Rng) => AcceptResult;
type MakeTree = (last: number, drng: Rng) => DraftTree;

function below(n: number, rng: Rng): number {
  return Math.min(n - 1, Math.floor(rng.next() * n));
}

/** k draws from q (fewer without replacement if q's support is smaller), in draw order. */
function drawChildren(q: Float32Array, k: number, withReplacement: boolean, drng: Rng): number[] {
  const w = Float64Array.from(q);
  const out: number[] = [];
  for (let i = 0; i < k && sum(w) > 0; i++) {
    const t = drawIndex(w, sum(w), drng);
    out.push(t);
    if (!withReplacement) w[t] = 0; // the next child is drawn from q renormalised without t
  }
  return out;
}

/** Depth-2 tree: 1-3 root children, each with 0-3 children; tokens from `pick` (BFS order). */
function depthTwo(last: number, drng: Rng, pick: (ctx: number, k: number) => number[]): { tokens: number[]; parents: number[] } {
  const tokens = pick(last, 1 + below(3, drng));
  const parents = tokens.map(() => -1);
  const level1 = tokens.length;
  for (let i = 0; i < level1; i++) {
    for (const t of pick(tokens[i], below(4, drng))) {
      tokens.push(t);
      parents.push(i);
    }
  }
  return { tokens, parents };
}

const sampledTrees =
  (withReplacement: boolean): MakeTree =>
  (last, drng) => {
    const { tokens, parents } = depthTwo(last, drng, (ctx, k) => drawChildren(Q[ctx], k, withReplacement, drng));
    // q[row]: the distribution row's children were drawn from; row of node i is i + 1
    const q: (Float32Array | null)[] = [Q[last], ...tokens.map((t, i) => (parents.includes(i) ? Q[t] : null))];
    return { tokens: Int32Array.from(tokens), parents: Int32Array.from(parents), draft: { kind: 'sampled', withReplacement, q } };
  };

/** Deterministic drafts: distinct uniform tokens (independent of the verifier's randomness). */
const uniformDeterministicTrees: MakeTree = (last, drng) => {
  const { tokens, parents } = depthTwo(last, drng, (_ctx, k) => {
    const perm = [0, 1, 2, 3, 4, 5];
    for (let i = V - 1; i > 0; i--) {
      const j = below(i + 1, drng);
      [perm[i], perm[j]] = [perm[j], perm[i]];
    }
    return perm.slice(0, k);
  });
  return { tokens: Int32Array.from(tokens), parents: Int32Array.from(parents), draft: { kind: 'deterministic' } };
};

/** Deterministic drafts as a lookup drafter makes them: the top-k of Q (ties by lowest id). */
const topKDeterministicTrees: MakeTree = (last, drng) => {
  const { tokens, parents } = depthTwo(last, drng, (ctx, k) =>
    [0, 1, 2, 3, 4, 5].sort((a, b) => Q[ctx][b] - Q[ctx][a] || a - b).slice(0, k),
  );
  return { tokens: Int32Array.from(tokens), parents: Int32Array.from(parents), draft: { kind: 'deterministic' } };
};

interface Outcome {
  first: number[]; // (V) counts of x1
  pair: number[]; // (V*V) counts of (x1, x2), index x1*V + x2
  steps: number;
  accepted: number; // accepted tokens over all steps
  laterSibling: number; // acceptances of a child that was not its parent's first
}

/** Generates the first two tokens of TRIALS generations (seed = trial) with speculative steps. */
function simulate(makeTree: MakeTree, verify: Verify, trials = TRIALS): Outcome {
  const o: Outcome = { first: new Array(V).fill(0), pair: new Array(V * V).fill(0), steps: 0, accepted: 0, laterSibling: 0 };
  const drng = new Rng(0x5eed); // the drafter's own stream, independent of every request seed
  for (let trial = 0; trial < trials; trial++) {
    const rng = new Rng(trial);
    const out: number[] = [];
    let last = ROOT;
    while (out.length < 2) {
      const tree = makeTree(last, drng);
      const layout = layoutTree(tree, V);
      const rowToken = (row: number) => (row === 0 ? last : tree.tokens[row - 1]);
      const r = verify(tree, layout, (row) => T[rowToken(row)], rng);
      o.steps++;
      o.accepted += r.nodes.length;
      let prevRow = 0;
      for (const n of r.nodes) {
        if (layout.children[prevRow][0] !== n + 1) o.laterSibling++;
        prevRow = n + 1;
        out.push(tree.tokens[n]);
      }
      out.push(r.bonus);
      last = out[out.length - 1];
    }
    o.first[out[0]]++;
    o.pair[out[0] * V + out[1]]++;
  }
  return o;
}

const expectedFirst = Array.from(T[ROOT]);
const expectedPair = Array.from({ length: V * V }, (_, i) => T[ROOT][Math.floor(i / V)] * T[Math.floor(i / V)][i % V]);

/** p-values of the first-token and first-two-token chi-square tests. */
function pValues(o: Outcome): { first: number; pair: number } {
  const pooled = poolSmallCells(o.pair, expectedPair);
  return { first: chiSquareTest(o.first, expectedFirst).pValue, pair: chiSquareTest(pooled.observed, pooled.expected).pValue };
}

// --- Deliberately biased verifiers: each is a classic bug the test must catch. ---

/** Draws the bonus from p at the last accepted row instead of the residual left by rejections. */
const bonusFromP: Verify = (tree, layout, rowProbs, rng) => {
  const r = acceptStochastic(tree, layout, rowProbs, rng);
  const row = r.nodes.length > 0 ? r.nodes[r.nodes.length - 1] + 1 : 0;
  const p = Float64Array.from(rowProbs(row));
  return { nodes: r.nodes, bonus: drawIndex(p, sum(p), rng) };
};

/** Accepts the first child at every row whatever the target says. */
const alwaysAccept: Verify = (tree, layout, rowProbs, rng) => {
  const nodes: number[] = [];
  let row = 0;
  while (layout.children[row].length > 0) {
    row = layout.children[row][0];
    nodes.push(row - 1);
  }
  const p = Float64Array.from(rowProbs(row));
  return { nodes: Int32Array.from(nodes), bonus: drawIndex(p, sum(p), rng) };
};

/** Verifies children drawn WITHOUT replacement as if drawn with it (q not renormalised). */
const ignoresWithoutReplacement: Verify = (tree, layout, rowProbs, rng) => {
  const asWith: DraftTree = tree.draft.kind === 'sampled' ? { ...tree, draft: { ...tree.draft, withReplacement: true } } : tree;
  return acceptStochastic(asWith, layout, rowProbs, rng);
};

describe('acceptStochastic is lossless (chi-square over many seeds)', () => {
  const configs: [string, MakeTree][] = [
    ['sampled with replacement', sampledTrees(true)],
    ['sampled without replacement', sampledTrees(false)],
    ['deterministic, uniform tokens', uniformDeterministicTrees],
    ['deterministic, top-k of q', topKDeterministicTrees],
  ];
  for (const [name, makeTree] of configs) {
    it(`${name}: first token and first two tokens follow the target`, () => {
      const o = simulate(makeTree, acceptStochastic);
      const pv = pValues(o);
      expect(pv.first, `x1 counts ${o.first}`).toBeGreaterThan(1e-4);
      expect(pv.pair, `(x1, x2) counts ${o.pair}`).toBeGreaterThan(1e-4);
      // Not vacuous: speculation accepted tokens, including later siblings after a rejection.
      expect(o.accepted / o.steps).toBeGreaterThan(0.2);
      expect(o.laterSibling).toBeGreaterThan(TRIALS / 100);
    });
  }
});

describe('the lossless test can fail: it rejects biased verifiers', () => {
  const cases: [string, MakeTree, Verify][] = [
    ['bonus from p instead of the residual', sampledTrees(true), bonusFromP],
    // With one-hot drafts of uniform random tokens this bug happens to be harmless (a single
    // uniform child t: P(x) = p(x)/V + (1 - 1/V) p(x) = p(x)), so the drafts here are top-k of q.
    ['bonus from p instead of the residual (one-hot top-k drafts)', topKDeterministicTrees, bonusFromP],
    ['always accept', topKDeterministicTrees, alwaysAccept],
    ['without-replacement drafts verified as with replacement', sampledTrees(false), ignoresWithoutReplacement],
  ];
  for (const [name, makeTree, verify] of cases) {
    it(name, () => {
      const pv = pValues(simulate(makeTree, verify));
      expect(Math.min(pv.first, pv.pair)).toBeLessThan(1e-4);
    });
  }
});
