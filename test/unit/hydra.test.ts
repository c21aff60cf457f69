/** Hydra's tree shape (src/draft/hydra-shape.ts), tree decoding and heads files (src/model/heads.ts). */
import { describe, expect, it } from 'vitest';
import { AcceptanceTable, buildShape, priorAcceptance, type TreeShape } from '../../src/draft/hydra-shape';
import { decodeTree } from '../../src/draft/hydra-gpu';
import { parseHeads, randomHeads } from '../../src/model/heads';
import { parseConfig } from '../../src/model/config';
import { fixtureConfigJson } from '../../src/model/fixture';
import { serializeSafetensors } from '../../src/model/safetensors';
import { validateTree } from '../../src/tree/validate';

function checkShape(s: TreeShape, limits: { budget: number; depth: number; k: number; frontier: number }): void {
  const m = s.parents.length;
  expect(m).toBeLessThanOrEqual(limits.budget);
  validateTree({ tokens: Int32Array.from({ length: m }, (_, i) => i), parents: s.parents, draft: { kind: 'deterministic' } }, m + 1, 128);
  const kids = new Map<number, number[]>();
  for (let i = 0; i < m; i++) {
    expect(s.depth[i]).toBe(s.parents[i] < 0 ? 1 : s.depth[s.parents[i]] + 1);
    expect(s.depth[i]).toBeLessThanOrEqual(limits.depth);
    kids.set(s.parents[i], [...(kids.get(s.parents[i]) ?? []), i]);
  }
  // ranks of each node's children are 0..c-1 in node order; frontier d = nodes at depth d-1 with children, BFS order
  for (const [, c] of kids) expect(c.map((i) => s.rank[i])).toEqual(c.map((_, r) => r));
  s.frontier.forEach((nodes, d) => {
    const want = [...kids.keys()].filter((u) => (u < 0 ? 0 : s.depth[u]) === d).sort((a, b) => a - b);
    expect(Array.from(nodes)).toEqual(want);
    expect(nodes.length).toBeLessThanOrEqual(limits.frontier);
  });
  expect(Math.max(...[...kids.values()].map((c) => c.length))).toBe(s.k);
}

describe('hydra tree shape', () => {
  it('grows the tree of the best path products within the limits', () => {
    const limits = { budget: 16, depth: 4, k: 8, frontier: 127 };
    const confident = buildShape([0.9, 0.8, 0.7, 0.6].map((p) => Float64Array.from({ length: 8 }, (_, r) => (r === 0 ? p : 0.02))), limits);
    checkShape(confident, limits);
    // the chain of top-1 candidates comes first: depth 4 reached, and the first node of each level is rank 0
    expect(Math.max(...confident.depth)).toBe(4);
    expect(confident.expectedTau).toBeCloseTo(1 + 0.9 + 0.9 * 0.8 + 0.9 * 0.8 * 0.7 + 0.9 * 0.8 * 0.7 * 0.6 + (confident.parents.length - 4) * 0.02, 1);
    // unsure first head: wide at depth 1
    const wide = buildShape([Float64Array.from([0.3, 0.2, 0.15, 0.1, 0.08, 0.05, 0.04, 0.03]), ...[1, 2, 3].map(() => Float64Array.from({ length: 8 }, (_, r) => 0.1 / (r + 1)))], limits);
    checkShape(wide, limits);
    expect(wide.frontier[0].length).toBe(1);
    expect(wide.depth.filter((d) => d === 1).length).toBeGreaterThanOrEqual(6);
    const small = { budget: 5, depth: 2, k: 3, frontier: 1 };
    checkShape(buildShape(priorAcceptance(null, 2, 3), small), small);
  });

  it('acceptance estimates move from the prior towards what verification measured', () => {
    const prior = priorAcceptance([{ top1: 0.5, top5: 0.8 }, { top1: 0.4, top5: 0.7 }], 2, 8);
    expect(prior[0][0]).toBe(0.5);
    expect(prior[1][1]).toBeCloseTo(0.3 * 0.4);
    const t = new AcceptanceTable(prior, 10);
    for (let i = 0; i < 90; i++) t.record([1, 0], false); // rank 1 at depth 1, rank 0 at depth 2, then a leaf
    for (let i = 0; i < 10; i++) t.record([], true); // nothing accepted below the root
    const a = t.estimate();
    expect(a[0][1]).toBeCloseTo((90 + 0.12 * 10) / 110);
    expect(a[0][0]).toBeCloseTo((0 + 0.5 * 10) / 110);
    expect(a[1][0]).toBeCloseTo((90 + 0.4 * 10) / 100);
    expect(t.steps).toBe(100);
  });

  it('decodes the read-back ids of each level into the tree of the shape', () => {
    const limits = { budget: 6, depth: 2, k: 2, frontier: 8 };
    const s = buildShape([Float64Array.from([0.6, 0.3]), Float64Array.from([0.5, 0.2])], limits);
    checkShape(s, limits);
    const vocabIds = Int32Array.from([100, 101, 102, 103, 104, 105, 106, 107]);
    // level 1: the root's best two (trimmed 3, 5); level 2: per frontier node its best two
    const words = Int32Array.from([3, 5, ...Array.from(s.frontier[1]).flatMap((_, f) => [f, 7 - f])]);
    const tree = decodeTree(s, words, 2, vocabIds);
    for (let i = 0; i < s.parents.length; i++) {
      const p = s.parents[i];
      const want = p < 0 ? [103, 105][s.rank[i]] : vocabIds[s.rank[i] === 0 ? s.frontier[1].indexOf(p) : 7 - s.frontier[1].indexOf(p)];
      expect(tree.tokens[i]).toBe(want);
    }
  });
});

describe('hydra heads files', () => {
  const config = parseConfig(fixtureConfigJson({ vocabSize: 300, hiddenSize: 8, intermediateSize: 16, numLayers: 1, numHeads: 2, numKvHeads: 2, dtype: 'f32' }), 'config.json');
  const heads = randomHeads(config, { numHeads: 2, ffn: 6, trim: 20, seed: 3 });
  const json = { format: 'treespec-hydra-heads', version: 1, weights: 'hydra-heads.safetensors', num_heads: 2, hidden_size: 8, ffn_size: 6, vocab_ids: Array.from(heads.vocabIds) };
  const tensor = (name: string, shape: number[], at: number) =>
    ({ name, dtype: 'F32' as const, shape, data: new Uint8Array(heads.weights.slice(at, at + shape[0] * shape[1]).buffer) });
  const per = 6 * 16 + 8 * 6;
  const weights = serializeSafetensors([0, 1].flatMap((d) => [tensor(`heads.${d}.w1`, [6, 16], d * per), tensor(`heads.${d}.w2`, [8, 6], d * per + 96)]));

  it('round-trips the weights and refuses bad files with the field named', () => {
    const parsed = parseHeads(json, weights, config);
    expect(Array.from(parsed.weights)).toEqual(Array.from(heads.weights));
    expect(parsed.agreement).toBeNull();
    expect(() => parseHeads({ ...json, format: 'medusa' }, weights, config)).toThrow(/"format" is "medusa"/);
    expect(() => parseHeads({ ...json, hidden_size: 16 }, weights, config)).toThrow(/"hidden_size" is 16; expected the target's hidden_size 8/);
    expect(() => parseHeads({ ...json, vocab_ids: [...json.vocab_ids.slice(1), 300] }, weights, config)).toThrow(/"vocab_ids"/);
    expect(() => parseHeads({ ...json, num_heads: 3 }, weights, config)).toThrow(/"heads.2.w1" is missing/);
    expect(() => parseHeads({ ...json, ffn_size: 5 }, weights, config)).toThrow(/"heads.0.w1" has shape \[6,16\], expected \[5,16\]/);
  });
});
