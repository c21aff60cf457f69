import { describe, expect, it } from 'vitest';
import { layoutTree } from '../../src/tree/layout';
import type { DraftTree } from '../../src/tree/types';
import { VerifyError } from '../../src/verify/accept';
import { acceptGreedy } from '../../src/verify/greedy';
import { Rng } from '../../src/verify/rng';
import { acceptStochastic } from '../../src/verify/stochastic';

/** Returns the scripted uniforms in order and counts calls; fails the test if the script runs out. */
class ScriptedRng extends Rng {
  calls = 0;
  constructor(private readonly script: number[]) {
    super(0);
  }
  override next(): number {
    if (this.calls >= this.script.length) throw new Error(`rng drawn ${this.calls + 1} times, script has ${this.script.length}`);
    return this.script[this.calls++];
  }
}

/** Counts draws of a real generator. */
class CountingRng extends Rng {
  calls = 0;
  override next(): number {
    this.calls++;
    return super.next();
  }
}

const f32 = (v: number[]) => Float32Array.from(v);

function det(tokens: number[], parents: number[]): DraftTree {
  return { tokens: Int32Array.from(tokens), parents: Int32Array.from(parents), draft: { kind: 'deterministic' } };
}

function run(tree: DraftTree, probs: Float32Array[], script: number[]) {
  const rng = new ScriptedRng(script);
  const r = acceptStochastic(tree, layoutTree(tree, probs[0].length), (row) => probs[row], rng);
  return { nodes: [...r.nodes], bonus: r.bonus, draws: rng.calls };
}

describe('acceptStochastic, hand cases with scripted uniforms', () => {
  const P = f32([0.3, 0.5, 0.2, 0]);

  it('empty tree: one draw, the bonus from p (plain sampling)', () => {
    expect(run(det([], []), [P], [0.79])).toEqual({ nodes: [], bonus: 1, draws: 1 });
    expect(run(det([], []), [P], [0.81])).toEqual({ nodes: [], bonus: 2, draws: 1 });
    expect(run(det([], []), [P], [0.9999])).toEqual({ nodes: [], bonus: 2, draws: 1 }); // never the p = 0 token
  });

  it('deterministic child: accept iff u < p(t); on reject the bonus comes from p with t zeroed', () => {
    const t = det([0], [-1]);
    const leaf = f32([0, 0, 0, 1]);
    expect(run(t, [P, leaf], [0.29, 0.5])).toEqual({ nodes: [0], bonus: 3, draws: 2 });
    // rejected (u = 0.31 >= 0.3): residual [0, 5/7, 2/7, 0]; u = 0.7 < 5/7 -> 1, u = 0.72 -> 2
    expect(run(t, [P, leaf], [0.31, 0.7])).toEqual({ nodes: [], bonus: 1, draws: 2 });
    expect(run(t, [P, leaf], [0.31, 0.72])).toEqual({ nodes: [], bonus: 2, draws: 2 });
  });

  it('deterministic child with p(t) = 0 is never accepted', () => {
    expect(run(det([3], [-1]), [P, P], [0, 0])).toEqual({ nodes: [], bonus: 0, draws: 2 });
  });

  it('deterministic siblings: the residual is updated after each rejection', () => {
    // children 1 then 2: reject 1 (u=0.5 >= 0.5) -> p = [0.6, 0, 0.4, 0]; child 2 accepted iff u < 0.4
    const t = det([1, 2], [-1, -1]);
    const leaf = f32([1, 0, 0, 0]);
    expect(run(t, [P, leaf, leaf], [0.5, 0.39, 0.1])).toEqual({ nodes: [1], bonus: 0, draws: 3 });
    // reject both: p = [1, 0, 0, 0] -> bonus 0 whatever u
    expect(run(t, [P, leaf, leaf], [0.5, 0.41, 0.99])).toEqual({ nodes: [], bonus: 0, draws: 3 });
  });

  it('sampled child: accept with min(1, p/q); reject leaves norm(max(0, p - q))', () => {
    const q = f32([0.25, 0.25, 0.25, 0.25]);
    const mk = (tok: number): DraftTree => ({ tokens: Int32Array.from([tok]), parents: Int32Array.from([-1]), draft: { kind: 'sampled', withReplacement: true, q: [q, null] } });
    const leaf = f32([0, 1, 0, 0]);
    // p(0) = 0.3 >= q(0): always accepted
    expect(run(mk(0), [P, leaf], [0.9999, 0.5])).toEqual({ nodes: [0], bonus: 1, draws: 2 });
    // p(2)/q(2) = 0.8: u = 0.79 accepts, u = 0.8 rejects; residual [0.05, 0.25, 0, 0] / 0.3
    expect(run(mk(2), [P, leaf], [0.79, 0.5])).toEqual({ nodes: [0], bonus: 1, draws: 2 });
    expect(run(mk(2), [P, leaf], [0.8, 0.16])).toEqual({ nodes: [], bonus: 0, draws: 2 });
    expect(run(mk(2), [P, leaf], [0.8, 0.17])).toEqual({ nodes: [], bonus: 1, draws: 2 });
    // p(3) = 0: rejected even at u = 0
    expect(run(mk(3), [P, leaf], [0, 0.5])).toEqual({ nodes: [], bonus: 1, draws: 2 });
  });

  it('without replacement the second sibling is judged against q renormalised without the first', () => {
    // p = [0.1, 0.6, 0.3, 0], q = [0.6, 0.2, 0.2, 0], children tokens 0 then 2.
    // child 0: ratio 1/6, u = 0.5 rejects; p <- [0, 0.8, 0.2, 0].
    // without replacement: q <- [0, 0.5, 0.5, 0], child 2 ratio 0.2/0.5 = 0.4, u = 0.5 rejects,
    //   p <- norm(max(0, [0, 0.3, -0.3, 0])) = [0, 1, 0, 0]: bonus 1.
    // with replacement: q stays, child 2 ratio 0.2/0.2 = 1: accepted.
    const p = f32([0.1, 0.6, 0.3, 0]);
    const q = f32([0.6, 0.2, 0.2, 0]);
    const leaf = f32([0, 0, 0, 1]);
    const mk = (withReplacement: boolean): DraftTree => ({
      tokens: Int32Array.from([0, 2]),
      parents: Int32Array.from([-1, -1]),
      draft: { kind: 'sampled', withReplacement, q: [q, null, null] },
    });
    expect(run(mk(false), [p, leaf, leaf], [0.5, 0.5, 0.0])).toEqual({ nodes: [], bonus: 1, draws: 3 });
    expect(run(mk(true), [p, leaf, leaf], [0.5, 0.5, 0.0])).toEqual({ nodes: [1], bonus: 3, draws: 3 });
  });

  it('with replacement a repeated token is always rejected after its first rejection', () => {
    const p = f32([0.1, 0.6, 0.3, 0]);
    const q = f32([0.6, 0.2, 0.2, 0]);
    const t: DraftTree = { tokens: Int32Array.from([0, 0]), parents: Int32Array.from([-1, -1]), draft: { kind: 'sampled', withReplacement: true, q: [q, null, null] } };
    // first copy rejected (u = 0.2 >= 1/6) -> p = [0, .8, .2, 0]; second copy: p(0) = 0, rejected at u = 0
    // -> p = norm(max(0, [0, .8, .2, 0] - q)) = [0, 1, 0, 0]
    expect(run(t, [p, p, p], [0.2, 0, 0.99])).toEqual({ nodes: [], bonus: 1, draws: 3 });
  });

  it('walks depth: accepted rows load their own target distribution', () => {
    // chain 1 -> 2 -> 3 under deterministic drafts
    const t = det([1, 2, 3], [-1, 0, 1]);
    const probs = [f32([0, 1, 0, 0]), f32([0, 0, 0.5, 0.5]), f32([0.5, 0, 0, 0.5]), f32([0, 0, 1, 0])];
    expect(run(t, probs, [0.2, 0.4, 0.6, 0.1])).toEqual({ nodes: [0, 1], bonus: 0, draws: 4 });
    expect(run(t, probs, [0.2, 0.4, 0.4, 0.1])).toEqual({ nodes: [0, 1, 2], bonus: 2, draws: 4 });
  });
});

describe('acceptStochastic, contracts', () => {
  const V = 16;
  const rnd = new Rng(99);
  const randomDist = (): Float32Array => {
    const v = new Float32Array(V).map(() => (rnd.next() < 0.3 ? 0 : rnd.next()));
    v[0] += 0.01;
    return v;
  };

  it('uses exactly one draw per tried child plus one, and a seed reproduces the result', () => {
    const t = det([1, 2, 3, 4, 5, 6, 7], [-1, -1, -1, 0, 0, 1, 3]);
    const layout = layoutTree(t, V);
    const probs = Array.from({ length: layout.rows }, randomDist);
    for (let seed = 0; seed < 200; seed++) {
      const a = new CountingRng(seed);
      const ra = acceptStochastic(t, layout, (r) => probs[r], a);
      const b = new CountingRng(seed);
      const rb = acceptStochastic(t, layout, (r) => probs[r], b);
      expect([...rb.nodes, rb.bonus]).toEqual([...ra.nodes, ra.bonus]);
      // tried children: at every visited row, all children up to the accepted one, or all if none
      let tried = 0;
      const visited = [0, ...[...ra.nodes].map((n) => n + 1)];
      visited.forEach((row, i) => {
        const kids = [...layout.children[row]];
        tried += i + 1 < visited.length ? kids.indexOf(visited[i + 1]) + 1 : kids.length;
      });
      expect(a.calls).toBe(tried + 1);
    }
  });

  it('equals greedy acceptance when every target distribution is one-hot (temperature 0)', () => {
    const t = det([1, 2, 3, 4, 5, 6, 7], [-1, -1, -1, 0, 0, 1, 3]);
    const layout = layoutTree(t, V);
    for (let trial = 0; trial < 200; trial++) {
      const argmax = Int32Array.from({ length: layout.rows }, () => Math.floor(rnd.next() * 8));
      const oneHot = Array.from(argmax, (a) => f32(Array.from({ length: V }, (_, i) => (i === a ? 1 : 0))));
      const s = acceptStochastic(t, layout, (r) => oneHot[r], new Rng(trial));
      const g = acceptGreedy(t, layout, argmax);
      expect([...s.nodes, s.bonus]).toEqual([...g.nodes, g.bonus]);
    }
  });

  it('throws VerifyError for a target distribution that is not one, or a token outside it', () => {
    const t = det([1], [-1]);
    const layout = layoutTree(t, 4);
    const bad: [Float32Array, RegExp][] = [
      [f32([0.5, NaN, 0, 0]), /rowProbs\(0\)\[1\] = NaN, expected a finite probability/],
      [f32([0, 0, 0, 0]), /rowProbs\(0\) sums to 0/],
      [f32([1, -0.5, 0, 0]), /rowProbs\(0\)\[1\] = -0.5/],
      [f32([1, Infinity, 0, 0]), /rowProbs\(0\)\[1\] = Infinity/],
    ];
    for (const [p, msg] of bad) expect(() => acceptStochastic(t, layout, () => p, new Rng(1))).toThrow(msg);
    // row 1 is loaded after the child is accepted (u = 0 < p(1)); its length disagrees with row 0's
    const probs = [f32([0.25, 0.25, 0.25, 0.25]), f32([0.5, 0.5, 0])];
    const call = () => acceptStochastic(t, layout, (r) => probs[r], new ScriptedRng([0, 0]));
    expect(call).toThrow(VerifyError);
    expect(call).toThrow(/rowProbs\(1\).length = 3, expected the vocabulary size 4/);
    // a tree token outside the target's vocabulary
    const t5 = det([5], [-1]);
    expect(() => acceptStochastic(t5, layoutTree(t5, 8), () => probs[0], new Rng(1))).toThrow(/node 0: token 5, expected < 4/);
  });
});
