import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { before, searchPaths, stepScore, type CausalScore, type Lattice } from '../../src/draft/path-search';

/** A deterministic causal score from a hash of the path prefix and the token: 1, 1/2 or 1/4. */
const hashedCausal: CausalScore = (path, len, token) => {
  let h = token * 31 + len;
  for (let i = 0; i < len; i++) h = (h * 17 + path[i]) % 1009;
  return [1, 0.5, 0.25][h % 3];
};

/** Every path prefix of the lattice, scored as the search scores it, then the best `budget` by the same order. */
function oracle(l: Lattice, causal: CausalScore, w: number, budget: number, minScore: number): string[] {
  const all: { score: number; ranks: number[] }[] = [];
  const floor = minScore > 0 ? Math.log(minScore) : -Infinity;
  const path = new Int32Array(l.depth);
  const walk = (ranks: number[], score: number): void => {
    const d = ranks.length;
    if (d >= l.depth) return;
    for (let r = 0; r < l.width; r++) {
      for (let j = 0; j < d; j++) path[j] = l.tokens[j * l.width + ranks[j]];
      const s = score + stepScore(l, causal, w, path, d, r);
      if (s === -Infinity || !(s >= floor)) continue;
      all.push({ score: s, ranks: [...ranks, r] });
      walk([...ranks, r], s);
    }
  };
  walk([], 0);
  all.sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
  return all.slice(0, budget).map((n) => n.ranks.join('.')).sort();
}

/** The searched tree's nodes as rank paths; checks BFS order and that each node's token is its lattice candidate. */
function rankPaths(l: Lattice, t: ReturnType<typeof searchPaths>): string[] {
  const paths: number[][] = [];
  for (let i = 0; i < t.tokens.length; i++) {
    const p = t.parents[i];
    expect(p).toBeLessThan(i);
    if (p >= 0 && i > 0) expect(paths[p].length).toBeGreaterThanOrEqual(paths[t.parents[i - 1]]?.length ?? 0);
    paths.push(p < 0 ? [t.ranks[i]] : [...paths[p], t.ranks[i]]);
    expect(t.tokens[i]).toBe(l.tokens[(paths[i].length - 1) * l.width + t.ranks[i]]);
  }
  return paths.map((r) => r.join('.')).sort();
}

const latticeArb = fc.record({ depth: fc.integer({ min: 1, max: 4 }), width: fc.integer({ min: 1, max: 3 }) }).chain(({ depth, width }) =>
  fc.record({
    depth: fc.constant(depth),
    width: fc.constant(width),
    // few distinct tokens and quantised probabilities: ties and repeated tokens are common
    tokens: fc.array(fc.integer({ min: -1, max: 5 }), { minLength: depth * width, maxLength: depth * width }).map((a) => Int32Array.from(a)),
    probs: fc.array(fc.constantFrom(0, 0.05, 0.1, 0.25, 0.5, 0.9, 1), { minLength: depth * width, maxLength: depth * width }).map((a) => Float32Array.from(a)),
  }),
);

describe('searchPaths (DiffuSpec causal-consistency path search)', () => {
  it('selects exactly the best nodes that a brute-force enumeration of all paths selects', () => {
    fc.assert(
      fc.property(latticeArb, fc.integer({ min: 0, max: 12 }), fc.constantFrom(0, 0.5, 1), fc.constantFrom(0, 0.01, 0.1, 0.3), (l, budget, w, minScore) => {
        const t = searchPaths(l, hashedCausal, { budget, causalWeight: w, minScore });
        expect(t.tokens.length).toBeLessThanOrEqual(budget);
        expect(rankPaths(l, t)).toEqual(oracle(l, hashedCausal, w, budget, minScore));
      }),
      { numRuns: 400, seed: 21 },
    );
  });

  it('the causal score reorders paths: a consistent second choice beats an inconsistent first', () => {
    // position 1: a (0.6) or b (0.4); position 2: c (0.9). c follows b in the cache, not a.
    const l: Lattice = { depth: 2, width: 2, tokens: Int32Array.of(1, 2, 3, -1), probs: Float32Array.of(0.6, 0.4, 0.9, 0) };
    const causal: CausalScore = (path, len, tok) => (len === 1 && tok === 3 ? (path[0] === 2 ? 1 : 0.1) : 1);
    const plain = searchPaths(l, causal, { budget: 3, causalWeight: 0, minScore: 0 });
    expect(Array.from(plain.tokens)).toEqual([1, 2, 3]);
    expect(Array.from(plain.parents)).toEqual([-1, -1, 0]);
    const causalTree = searchPaths(l, causal, { budget: 3, causalWeight: 1, minScore: 0 });
    expect(Array.from(causalTree.tokens)).toEqual([1, 2, 3]);
    expect(Array.from(causalTree.parents)).toEqual([-1, -1, 1]);
  });

  it('adapts the draft length to confidence: a confident lattice drafts deep, an unsure one stops early', () => {
    const row = (p: number) => [p, (1 - p) / 2];
    const mk = (ps: number[]): Lattice => ({ depth: ps.length, width: 2, tokens: Int32Array.from({ length: ps.length * 2 }, (_, i) => i + 1), probs: Float32Array.from(ps.flatMap(row)) });
    const opts = { budget: 16, causalWeight: 0, minScore: 0.2 };
    const sure = searchPaths(mk([0.95, 0.95, 0.95, 0.95, 0.95, 0.95]), () => 1, opts);
    const unsure = searchPaths(mk([0.5, 0.5, 0.5, 0.5, 0.5, 0.5]), () => 1, opts);
    const depth = (t: ReturnType<typeof searchPaths>) => { let d = 0; for (let i = 0, u = t.tokens.length - 1; u >= 0; i++, u = t.parents[u]) d = i + 1; return d; };
    expect(depth(sure)).toBe(6);
    expect(depth(unsure)).toBe(2);
    expect(unsure.tokens.length).toBeLessThan(16);
  });
});
