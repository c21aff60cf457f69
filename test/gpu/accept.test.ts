/**
 * The acceptance walks on the GPU (src/verify/gpu-walk.ts) against their CPU oracles: greedy.ts
 * acceptGreedy, stochastic.ts acceptStochastic over sampler.ts targetProbs. Seeded random trees
 * (one node, chain, bushy, 127 nodes) over random logits of a small and an awkward vocabulary;
 * the same Rng seed must give the same nodes, bonus and Rng state afterwards. The distribution
 * the kernel samples from is compared with targetProbs directly, and deliberately wrong
 * oracles are shown to fail that comparison.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { uploadStorage } from '../../src/gpu/buffers.ts';
import { topK as cpuTopK } from '../../src/model/cpu-ops.ts';
import { layoutTree } from '../../src/tree/layout.ts';
import type { DraftTree } from '../../src/tree/types.ts';
import { GpuAcceptWalk } from '../../src/verify/gpu-walk.ts';
import { acceptGreedy } from '../../src/verify/greedy.ts';
import { Rng } from '../../src/verify/rng.ts';
import { targetProbs, type SamplingOptions } from '../../src/verify/sampler.ts';
import { acceptStochastic } from '../../src/verify/stochastic.ts';
import { readU32, rng as mulberry, testGpu } from './util.ts';
import { GpuCounter } from '../../src/gpu/counter.ts';
import { mine } from './runtime.ts';

const K = 4;
const HISTORY = Int32Array.from([3, 7, 7, 11, 2, 5]); // committed tokens; the last (5) is the root

type Shape = 'single' | 'chain' | 'bushy' | 'random';
type DraftKind = 'deterministic' | 'with' | 'without';

/** Parents (node indices, -1 = root) of `nodes` nodes in BFS order. */
function parentsOf(shape: Shape, nodes: number, seed: number): Int32Array {
  const r = mulberry(seed);
  const p = new Int32Array(nodes);
  for (let i = 0; i < nodes; i++) {
    if (shape === 'single') p[i] = -1;
    else if (shape === 'chain') p[i] = i - 1;
    else if (shape === 'bushy') p[i] = i < 4 ? -1 : Math.floor((i - 4) / 3);
    else p[i] = i === 0 ? -1 : Math.min(i - 1, p[i - 1] + (r() < 0.5 ? 0 : 1));
  }
  return p;
}

/** History the repetition penalty sees at `row`: the committed tokens, then the row's path. */
function rowHistory(tokens: Int32Array, parents: Int32Array, row: number): Int32Array {
  const path: number[] = [];
  for (let node = row - 1; node >= 0; node = parents[node]) path.unshift(tokens[node]);
  return Int32Array.from([...HISTORY, ...path]);
}

/** Random logits of (rows, vocab) with spread `scale`: distinct values, no near ties. */
function randomLogits(rows: number, vocab: number, seed: number, scale = 4): Float32Array {
  const r = mulberry(seed);
  return Float32Array.from({ length: rows * vocab }, () => scale * (r() * 2 - 1));
}

/** Logits from a few levels: many exact ties. */
function tiedLogits(rows: number, vocab: number, seed: number): Float32Array {
  const r = mulberry(seed);
  return Float32Array.from({ length: rows * vocab }, () => Math.floor(r() * 5) - 2);
}

/** Draws an index from p (f64 sum) with test randomness. */
function drawFrom(p: ArrayLike<number>, u: number): number {
  let total = 0;
  for (let i = 0; i < p.length; i++) total += p[i];
  let c = 0;
  for (let i = 0; i < p.length; i++) { c += p[i]; if (u * total < c && p[i] > 0) return i; }
  return p.length - 1;
}

/**
 * A tree whose children often follow the target (so walks go deep): a child of row r is drawn
 * from the target's distribution at r (probsAt) or, for sampled drafts, from q[r] = a mix of it
 * and a random distribution, so every q(t) > 0.
 */
function makeTree(shape: Shape, nodes: number, vocab: number, seed: number, kind: DraftKind, probsAt: (row: number, tokens: Int32Array) => Float32Array): DraftTree {
  const r = mulberry(seed + 1);
  const parents = parentsOf(shape, nodes, seed);
  const tokens = new Int32Array(nodes);
  const q: (Float32Array | null)[] = Array.from({ length: nodes + 1 }, () => null);
  for (let i = 0; i < nodes; i++) {
    const row = parents[i] + 1;
    const p = probsAt(row, tokens);
    if (kind !== 'deterministic' && !q[row]) {
      const mix = Float32Array.from(p, (v) => 0.6 * v + 0.4 * (0.1 + r()) / vocab);
      q[row] = mix;
    }
    const siblings = new Set<number>();
    for (let j = 0; j < i; j++) if (parents[j] === parents[i]) siblings.add(tokens[j]);
    let t: number;
    do {
      if (kind === 'deterministic') t = r() < 0.7 ? drawFrom(p, r()) : Math.floor(r() * vocab);
      else t = drawFrom(q[row]!, r());
    } while (kind !== 'with' && siblings.has(t) && siblings.size < vocab);
    tokens[i] = t;
  }
  const draft = kind === 'deterministic' ? { kind: 'deterministic' as const } : { kind: 'sampled' as const, withReplacement: kind === 'with', q };
  return { tokens, parents, draft };
}

/** CPU top-k ids (rows, K), ties to the lowest id: what the forward's top-k kernel leaves. */
function topKIds(logits: Float32Array, rows: number, vocab: number): Uint32Array {
  const out = new Uint32Array(rows * K);
  for (let r = 0; r < rows; r++) out.set(cpuTopK(logits, K, r * vocab, vocab), r * K);
  return out;
}

const walks: GpuAcceptWalk[] = [];
const buffers: GPUBuffer[] = [];
afterAll(() => {
  for (const w of walks) w.destroy();
  for (const b of buffers) b.destroy();
});

/** A walk over `logits` (rows, vocab) as if a pass had left them on the GPU. */
async function walkOver(logits: Float32Array, rows: number, vocab: number): Promise<{ walk: GpuAcceptWalk; ids: Uint32Array }> {
  const { device } = await testGpu();
  const ids = topKIds(logits, rows, vocab);
  const lb = uploadStorage(device, 'test.logits', logits);
  const ib = uploadStorage(device, 'test.topKIds', ids);
  buffers.push(lb, ib);
  const walk = await GpuAcceptWalk.create({ device, logits: lb, topKIds: ib, vocab, k: K, maxRows: 128, historyCapacity: 256, counter: new GpuCounter('test') });
  walks.push(walk);
  return { walk, ids };
}

const sizes: [Shape, number][] = [['single', 1], ['chain', 12], ['bushy', 40], ['random', 127]];

// The cases of each list below are shared between the gpu projects (./runtime.ts): each project
// meets every vocabulary, tree shape and draft kind, and together they run every combination.
describe('greedy walk on the GPU', () => {
  for (const [v, vocab] of [50, 1031].entries()) {
    for (const [j, [shape, nodes]] of sizes.entries()) {
      for (const [a, allRows] of [false, true].entries()) {
        it.runIf(mine(v + j + a))(`${shape} tree of ${nodes} nodes, vocab ${vocab}${allRows ? ', all rows' : ''}`, async () => {
          const rows = nodes + 1;
          const logits = randomLogits(rows, vocab, vocab + nodes);
          const { walk, ids } = await walkOver(logits, rows, vocab);
          const argmax = Int32Array.from({ length: rows }, (_, r) => ids[r * K]);
          const onehot = (row: number) => Float32Array.from({ length: vocab }, (_, i) => (i === argmax[row] ? 1 : 0));
          let accepted = 0;
          for (let seed = 1; seed <= 4; seed++) {
            const tree = makeTree(shape, nodes, vocab, seed * 31 + nodes, 'deterministic', onehot);
            const layout = layoutTree(tree, vocab);
            const want = acceptGreedy(tree, layout, argmax);
            const got = await walk.greedy(tree, layout, allRows);
            expect(Array.from(got.nodes), `seed ${seed} nodes`).toEqual(Array.from(want.nodes));
            expect(got.bonus, `seed ${seed} bonus`).toBe(want.bonus);
            const pathRows = new Set([0, ...Array.from(want.nodes, (n) => n + 1)]);
            for (let r = 0; r < rows; r++) {
              const row = Array.from(got.topK.subarray(r * K, (r + 1) * K));
              const expected = allRows || pathRows.has(r) ? Array.from(ids.subarray(r * K, (r + 1) * K)) : new Array<number>(K).fill(-1);
              expect(row, `seed ${seed} top-k of row ${r}`).toEqual(expected);
            }
            const depth = Math.max(0, ...Array.from(layout.depth));
            expect(got.readBytes).toBe(4 * (4 + depth + (allRows ? rows : depth + 1) * K));
            accepted += want.nodes.length;
          }
          expect(accepted, 'the walks accept something (the test is not vacuous)').toBeGreaterThan(0);
        });
      }
    }
  }
});

const configs: SamplingOptions[] = [
  { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1 },
  { temperature: 0.7, topK: 5, topP: 1, repetitionPenalty: 1 },
  { temperature: 1.5, topK: 0, topP: 0.9, repetitionPenalty: 1.3 },
  { temperature: 1, topK: 1, topP: 1, repetitionPenalty: 1 },
  { temperature: 0.7, topK: 5, topP: 0.5, repetitionPenalty: 1.3 },
  { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1.3 },
];
const name = (s: SamplingOptions) => `T=${s.temperature} topK=${s.topK} topP=${s.topP} pen=${s.repetitionPenalty}`;

describe('stochastic walk on the GPU', () => {
  for (const [v, vocab] of [50, 1031].entries()) {
    for (const [j, [shape, nodes]] of sizes.entries()) {
      for (const [k, kind] of (['deterministic', 'with', 'without'] as DraftKind[]).entries()) {
        it.runIf(mine(v + j + k))(`${shape} tree of ${nodes} nodes, ${kind} draft, vocab ${vocab}`, async () => {
          const rows = nodes + 1;
          const logits = randomLogits(rows, vocab, 7 * vocab + nodes, 3);
          const { walk } = await walkOver(logits, rows, vocab);
          let accepted = 0;
          let rejected = 0;
          for (const [c, s] of configs.entries()) {
            if (kind !== 'deterministic' && s.temperature === 0) continue; // sampled drafts come with sampling
            const probsAt = (row: number, tokens: Int32Array, parents: Int32Array) =>
              targetProbs(logits.subarray(row * vocab, (row + 1) * vocab), s, rowHistory(tokens, parents, row));
            const parents = parentsOf(shape, nodes, c * 97 + nodes);
            const tree = makeTree(shape, nodes, vocab, c * 97 + nodes, kind, (row, tokens) => probsAt(row, tokens, parents));
            const layout = layoutTree(tree, vocab);
            for (let seed = 1; seed <= 3; seed++) {
              const cpuRng = new Rng(seed * 1000 + c);
              const gpuRng = new Rng(seed * 1000 + c);
              let draws = 0;
              const counting = { next: () => (draws++, cpuRng.next()) } as Rng;
              const want = acceptStochastic(tree, layout, (row) => probsAt(row, tree.tokens, tree.parents), counting);
              const got = await walk.sample(tree, layout, s, HISTORY, gpuRng, false);
              const what = `${name(s)} seed ${seed}`;
              expect(Array.from(got.nodes), `${what} nodes`).toEqual(Array.from(want.nodes));
              expect(got.bonus, `${what} bonus`).toBe(want.bonus);
              expect(gpuRng.nextU32(), `${what} rng state after the walk`).toBe(cpuRng.nextU32());
              accepted += want.nodes.length;
              rejected += draws - 1 - want.nodes.length; // tried children minus accepted ones
            }
          }
          expect(accepted, 'the walks accept something').toBeGreaterThan(0);
          if (nodes > 1) expect(rejected, 'and reject something').toBeGreaterThan(0);
        });
      }
    }
  }
});

/** Largest |a - b| over the entries. */
function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** The distribution the kernel samples from at the root (an empty tree visits only row 0). */
async function kernelProbs(walk: GpuAcceptWalk, vocab: number, s: SamplingOptions): Promise<Float32Array> {
  const tree: DraftTree = { tokens: new Int32Array(0), parents: new Int32Array(0), draft: { kind: 'deterministic' } };
  await walk.sample(tree, layoutTree(tree, vocab), s, HISTORY, new Rng(1), false);
  return walk.readDistribution();
}

describe('the distribution the GPU walk samples from', () => {
  const all: SamplingOptions[] = [];
  for (const temperature of [0.7, 1, 1.5]) for (const topK of [0, 1, 5]) for (const topP of [1, 0.9, 0.5]) for (const repetitionPenalty of [1, 1.3]) all.push({ temperature, topK, topP, repetitionPenalty });
  for (const [v, vocab] of [50, 1031].entries()) {
    for (const [k, kind] of (['random', 'tied'] as const).entries()) {
      it.runIf(mine(v + k))(`equals targetProbs for ${all.length} configs, vocab ${vocab}, ${kind} logits`, async () => {
        const logits = kind === 'random' ? randomLogits(1, vocab, vocab) : tiedLogits(1, vocab, vocab);
        const { walk } = await walkOver(logits, 1, vocab);
        for (const s of [...all, { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1.3 }]) {
          const got = await kernelProbs(walk, vocab, s);
          expect(maxDiff(got, targetProbs(logits, s, HISTORY)), name(s)).toBeLessThan(1e-6);
        }
      });
    }
  }

  it('ties: top-k keeps the whole tie group at the k-th value, top-p the lowest ids of its boundary group, argmax the lowest id', async () => {
    const vocab = 12;
    // probabilities in tie groups: three tokens at the top value, four at the next
    const logits = Float32Array.from([0, 2, 1, 2, 1, 0, 1, 2, 1, 0, -1, 0]);
    const { walk } = await walkOver(logits, 1, vocab);
    const none = new Int32Array(0);
    const check = async (s: SamplingOptions, support: number[]) => {
      const tree: DraftTree = { tokens: none, parents: none, draft: { kind: 'deterministic' } };
      await walk.sample(tree, layoutTree(tree, vocab), s, none, new Rng(1), false);
      const p = await walk.readDistribution();
      expect(Array.from(p.keys()).filter((i) => p[i] > 0), name(s)).toEqual(support);
      expect(maxDiff(p, targetProbs(logits, s, none)), name(s)).toBeLessThan(1e-6);
    };
    await check({ temperature: 1, topK: 2, topP: 1, repetitionPenalty: 1 }, [1, 3, 7]); // k=2 inside the top group of 3
    await check({ temperature: 1, topK: 4, topP: 1, repetitionPenalty: 1 }, [1, 2, 3, 4, 6, 7, 8]); // k=4 reaches the group at 1
    // top-p inside a tie group: each top token has mass e^2/Z ~ 0.213; 0.5 needs three of them
    await check({ temperature: 1, topK: 0, topP: 0.5, repetitionPenalty: 1 }, [1, 3, 7]);
    await check({ temperature: 1, topK: 0, topP: 0.3, repetitionPenalty: 1 }, [1, 3]);
    await check({ temperature: 1, topK: 0, topP: 0.7, repetitionPenalty: 1 }, [1, 2, 3, 4, 7]); // 0.59 + two of the group at 1 (0.073 each)
    await check({ temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1.5 }, [1]); // argmax tie: lowest id
  });

  /** Oracles that are wrong in one small way; each must fail the comparison the kernel passes. */
  const wrong: Record<string, (l: Float32Array, s: SamplingOptions, h: Int32Array) => Float32Array> = {
    'top-p keeps its whole boundary tie group': (l, s, h) => {
      const p = targetProbs(l, { ...s, topP: 1 }, h);
      const sorted = Float32Array.from(p).sort().reverse();
      let before = 0;
      let cut = 0;
      for (const v of sorted) { if (before >= s.topP) break; before += v; cut = v; }
      const kept = p.map((v) => (v >= cut ? v : 0));
      const z = kept.reduce((a, b) => a + b, 0);
      return kept.map((v) => v / z);
    },
    'top-p without renormalising': (l, s, h) => {
      const p = targetProbs(l, { ...s, topP: 1 }, h);
      const kept = targetProbs(l, s, h);
      return p.map((v, i) => (kept[i] > 0 ? v : 0));
    },
    'top-k dropping ties at the k-th value': (l, s, h) => {
      const order = cpuTopK(l, s.topK);
      const masked = l.map((v, i) => (order.includes(i) ? v : -Infinity));
      return targetProbs(masked, { ...s, topK: 0 }, h);
    },
    'penalty applied once per occurrence': (l, s, h) => {
      const pen = (v: number, n: number): number => (n === 0 ? v : pen(v < 0 ? v * s.repetitionPenalty : v / s.repetitionPenalty, n - 1));
      const penalised = l.map((v, i) => pen(v, h.filter((t) => t === i).length));
      return targetProbs(penalised, { ...s, repetitionPenalty: 1 });
    },
  };
  for (const [what, oracle] of Object.entries(wrong)) {
    it(`a wrong oracle fails: ${what}`, async () => {
      const vocab = 12;
      const logits = Float32Array.from([0, 2, 1, 2, 1, 0, 1, 2, 1, 0, -1, 0.5]);
      const { walk } = await walkOver(logits, 1, vocab);
      const s: SamplingOptions = { temperature: 1, topK: 4, topP: 0.5, repetitionPenalty: 1.3 };
      const h = Int32Array.from([1, 1, 4]); // token 1 twice: a top token, penalised once
      const tree: DraftTree = { tokens: new Int32Array(0), parents: new Int32Array(0), draft: { kind: 'deterministic' } };
      const variants: SamplingOptions[] = [s, { ...s, topK: 2 }, { ...s, topP: 0.7 }, { ...s, topP: 1 }];
      let worst = 0;
      for (const v of variants) {
        await walk.sample(tree, layoutTree(tree, vocab), v, h, new Rng(1), false);
        const p = await walk.readDistribution();
        expect(maxDiff(p, targetProbs(logits, v, h)), `right oracle, ${name(v)}`).toBeLessThan(1e-6);
        worst = Math.max(worst, maxDiff(p, oracle(logits, v, h)));
      }
      expect(worst).toBeGreaterThan(1e-3);
    });
  }
});

describe('a row the top-k guard marked (column 0 NO_ID: a non-finite logit)', () => {
  it('ends the greedy and the sampling walk there with no token', async () => {
    const [vocab, nodes] = [50, 4];
    const rows = nodes + 1;
    const logits = randomLogits(rows, vocab, 3);
    const { device } = await testGpu();
    const ids = topKIds(logits, rows, vocab);
    // a chain drafting each row's argmax: the greedy walk accepts every node up to the marked row
    const tree: DraftTree = { tokens: Int32Array.from({ length: nodes }, (_, i) => ids[i * K]), parents: Int32Array.from({ length: nodes }, (_, i) => i - 1), draft: { kind: 'deterministic' } };
    const layout = layoutTree(tree, vocab);
    ids[2 * K] = 0xffffffff; // row 2 (node 1) holds a non-finite logit
    const lb = uploadStorage(device, 'test.logits', logits);
    const ib = uploadStorage(device, 'test.topKIds', ids);
    buffers.push(lb, ib);
    const walk = await GpuAcceptWalk.create({ device, logits: lb, topKIds: ib, vocab, k: K, maxRows: 128, historyCapacity: 256, counter: new GpuCounter('test') });
    walks.push(walk);
    const greedy = await walk.greedy(tree, layout, false);
    expect(Array.from(greedy.nodes)).toEqual([0, 1]);
    expect(greedy.bonus === 0xffffffff || greedy.bonus === -1, `greedy bonus ${greedy.bonus}`).toBe(true);
    const s: SamplingOptions = { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1 };
    ids[2 * K] = ids[0];
    ids[0] = 0xffffffff; // the root's row: the sampling walk stops before drawing
    device.queue.writeBuffer(ib, 0, Uint32Array.from(ids));
    const sampled = await walk.sample(tree, layout, s, HISTORY, new Rng(1), false);
    expect(Array.from(sampled.nodes)).toEqual([]);
    expect(sampled.bonus === 0xffffffff || sampled.bonus === -1, `sampled bonus ${sampled.bonus}`).toBe(true);
    // A tree grown on the GPU from a draft whose own row was marked holds NO_ID as a token: it
    // must not match the marked root's NO_ID and be accepted.
    const gpuTree = new Uint32Array(4 * 128); // (4, MAX_ROWS): node tokens, parent rows, ...
    gpuTree[0] = 0xffffffff; // node 0: token NO_ID, parent row 0 (the root)
    device.queue.writeBuffer(walk.gpuBuffers().tree, 0, gpuTree);
    const encoder = device.createCommandEncoder({ label: 'test.gpuTreeWalk' });
    const pending = walk.encodeGreedyOnGpuTree(encoder, 2, 1);
    device.queue.submit([encoder.finish()]);
    const grown = pending.parse(new Int32Array((await readU32(device, walk.gpuBuffers().result, pending.words)).buffer));
    expect(Array.from(grown.nodes)).toEqual([]);
    expect(grown.bonus === 0xffffffff || grown.bonus === -1, `GPU tree bonus ${grown.bonus}`).toBe(true);
  });
});
