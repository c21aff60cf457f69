/** DEL's exit-layer / draft-length choice (src/draft/early-exit-policy.ts). */
import { describe, expect, it } from 'vitest';
import { ExitPolicy, candidateLayers, expectedTokens, headCostInLayers } from '../../src/draft/early-exit-policy';

describe('ExitPolicy', () => {
  it('expected tokens of a chain: geometric sum with the bonus', () => {
    expect(expectedTokens(0, 5)).toBe(1);
    expect(expectedTokens(1, 5)).toBe(6);
    expect(expectedTokens(0.5, 2)).toBeCloseTo(1 + 0.5 + 0.25, 12);
  });

  it('prefers the layer that agrees when costs are equal per layer', () => {
    const p = new ExitPolicy(6, [1, 2, 3, 4, 5], 0);
    p.recordVerifyMs(10, 1);
    for (const l of [1, 2, 3, 4, 5]) p.recordDraftMs(l, 1);
    for (let i = 0; i < 40; i++) {
      p.recordRow(2, true);
      for (const l of [1, 3, 4, 5]) p.recordRow(l, i % 3 === 0);
    }
    const c = p.choose(16);
    expect(c.layer).toBe(2);
    expect(c.length).toBeGreaterThan(3);
    expect(c.length).toBeLessThanOrEqual(p.maxDraft);
  });

  it('trades acceptance against draft cost: a cheap shallow layer beats a slightly better deep one', () => {
    const p = new ExitPolicy(6, [1, 5], 0);
    p.recordVerifyMs(10, 1);
    p.recordDraftMs(1, 1);
    p.recordDraftMs(5, 9);
    for (let i = 0; i < 60; i++) {
      p.recordRow(1, i % 5 !== 0); // 0.8
      p.recordRow(5, i % 10 !== 0); // 0.9
    }
    expect(p.choose(8).layer).toBe(1);
  });

  it('falls back to plain decoding when no layer agrees', () => {
    const p = new ExitPolicy(4, [1, 2, 3], 10);
    p.recordVerifyMs(10, 1);
    for (let i = 0; i < 50; i++) for (const l of [1, 2, 3]) p.recordRow(l, false);
    expect(p.choose(8).length).toBe(0);
    expect(p.choose(0).length).toBe(0);
  });

  it('recency weighting follows a change of context', () => {
    const p = new ExitPolicy(4, [1, 2, 3], 0);
    for (let i = 0; i < 100; i++) p.recordRow(1, true);
    for (let i = 0; i < 60; i++) p.recordRow(1, false);
    expect(p.acceptance(1)).toBeLessThan(0.1);
  });

  it('fits the verify cost by rows: flat on a GPU-like device, growing on a CPU-like one', () => {
    const flat = new ExitPolicy(6, [1], 0);
    for (let i = 0; i < 30; i++) flat.recordVerifyMs(10, 1 + (i % 5));
    expect(flat.verifyCost(9)).toBeCloseTo(10, 6);
    const cpu = new ExitPolicy(6, [1], 0);
    for (let i = 0; i < 30; i++) cpu.recordVerifyMs(4 + 2 * (1 + (i % 5)), 1 + (i % 5));
    expect(cpu.verifyCost(1)).toBeCloseTo(6, 6);
    expect(cpu.verifyCost(9)).toBeCloseTo(22, 6);
    // A verify that costs per row what a draft costs makes drafting pay less: shorter chains.
    for (const l of [1]) { cpu.recordDraftMs(l, 2); flat.recordDraftMs(l, 2); }
    for (let i = 0; i < 40; i++) { cpu.recordRow(1, i % 4 !== 0); flat.recordRow(1, i % 4 !== 0); }
    expect(cpu.choose(16).length).toBeLessThan(flat.choose(16).length);
  });

  it('spaces probes so that they take about a tenth of the time', () => {
    const p = new ExitPolicy(6, [1], 0);
    p.recordVerifyMs(100, 1);
    expect(p.probePeriod()).toBe(1);
    for (let i = 0; i < 50; i++) p.recordProbeMs(50);
    expect(p.probePeriod()).toBe(5);
  });

  it('extrapolates unmeasured draft costs by layer count plus the head', () => {
    const p = new ExitPolicy(6, [1, 3], 2);
    p.recordDraftMs(1, 3);
    expect(p.draftCost(3)).toBeCloseTo((3 * (3 + 2)) / (1 + 2), 12);
  });

  it('rejects bad candidates and unknown layers', () => {
    expect(() => new ExitPolicy(4, [0, 2], 1)).toThrow(/candidates/);
    expect(() => new ExitPolicy(4, [2, 2], 1)).toThrow(/candidates/);
    expect(() => new ExitPolicy(4, [4], 1)).toThrow(/candidates/);
    expect(() => new ExitPolicy(4, [1], 1).recordRow(2, true)).toThrow(/not a candidate/);
  });

  it('candidate layers and the head cost of the shipped target', () => {
    expect(candidateLayers(6)).toEqual([1, 2, 3, 4, 5]);
    const many = candidateLayers(32, 8);
    expect(many.length).toBe(8);
    expect(many[0]).toBe(1);
    expect(many[7]).toBe(31);
    // 256-wide, 688 MLP, 32k vocabulary: the LM head costs about ten layers.
    const h = headCostInLayers({ hiddenSize: 256, vocabSize: 32000, intermediateSize: 688, numHeads: 8, numKvHeads: 8, headDim: 32 });
    expect(h).toBeGreaterThan(9);
    expect(h).toBeLessThan(11);
  });
});
