import { describe, expect, it } from 'vitest';
import { defaultSampling, greedyToken, sampleFrom, targetProbs, validateSampling, type SamplingOptions } from '../../src/verify/sampler.ts';
import { Rng } from '../../src/verify/rng.ts';
import { OptionsError } from '../../src/errors.ts';

const opts = (o: Partial<SamplingOptions>): SamplingOptions => ({ ...defaultSampling, temperature: 1, ...o });

/** Hand computation: softmax of the given values. */
function softmax(xs: number[]): number[] {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

function close(a: Float32Array, b: number[]): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < b.length; i++) expect(a[i]).toBeCloseTo(b[i], 6);
}

describe('targetProbs', () => {
  const logits = Float32Array.of(1, 3, 2, 3, -1);

  it('temperature 0 is the one-hot argmax with ties to the lowest id', () => {
    expect([...targetProbs(logits, defaultSampling)]).toEqual([0, 1, 0, 0, 0]);
    expect(greedyToken(logits)).toBe(1);
  });

  it('temperature divides the logits', () => {
    close(targetProbs(logits, opts({ temperature: 2 })), softmax([0.5, 1.5, 1, 1.5, -0.5]));
  });

  it('top-k keeps the k largest and ties at the k-th value', () => {
    close(targetProbs(logits, opts({ topK: 2 })), [0, 0.5, 0, 0.5, 0]);
    // k = 1 with a tie at the top keeps both tied tokens (transformers: remove scores < k-th value)
    close(targetProbs(logits, opts({ topK: 1 })), [0, 0.5, 0, 0.5, 0]);
    const p = softmax([3, 2, 3]);
    close(targetProbs(logits, opts({ topK: 3 })), [0, p[0], p[1], p[2], 0]);
  });

  it('top-p keeps the smallest most likely set reaching the mass', () => {
    // probabilities 0.5, 0.3, 0.15, 0.05
    const l = Float32Array.from([0.5, 0.3, 0.15, 0.05].map(Math.log));
    close(targetProbs(l, opts({ topP: 0.5 })), [1, 0, 0, 0]);
    close(targetProbs(l, opts({ topP: 0.6 })), [0.5 / 0.8, 0.3 / 0.8, 0, 0]);
    close(targetProbs(l, opts({ topP: 0.9 })), [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0]);
    close(targetProbs(l, opts({ topP: 0.01 })), [1, 0, 0, 0]);
  });

  it('top-k applies before top-p, after temperature', () => {
    const l = Float32Array.from([0.5, 0.3, 0.15, 0.05].map(Math.log));
    // top-3 renormalises to 0.5/0.95, 0.3/0.95, 0.15/0.95; top-p 0.8 then needs the first two (0.526 + 0.316 >= 0.8)
    close(targetProbs(l, opts({ topK: 3, topP: 0.8 })), [0.5 / 0.8, 0.3 / 0.8, 0, 0]);
  });

  it('repetition penalty divides positive and multiplies negative logits of seen tokens, once each', () => {
    const h = Int32Array.of(1, 4, 4, 1);
    close(targetProbs(logits, opts({ repetitionPenalty: 2 }), h), softmax([1, 1.5, 2, 3, -2]));
    // and changes the greedy choice
    expect([...targetProbs(logits, { ...defaultSampling, repetitionPenalty: 2 }, h)]).toEqual([0, 0, 0, 1, 0]);
  });

  it('refuses out-of-range options with OptionsError', () => {
    for (const o of [{ temperature: -1 }, { topK: 1.5 }, { topP: 0 }, { topP: 1.1 }, { repetitionPenalty: 0 }, { temperature: NaN }]) {
      expect(() => validateSampling(opts(o))).toThrow(OptionsError);
    }
  });
});

describe('sampleFrom', () => {
  it('uses exactly one rng.next() per draw and never returns a zero entry', () => {
    const p = Float32Array.of(0, 0.25, 0, 0.75, 0);
    const a = new Rng(42);
    const b = new Rng(42);
    for (let i = 0; i < 1000; i++) {
      const t = sampleFrom(p, a);
      expect(t === 1 || t === 3).toBe(true);
      const u = b.next();
      expect(t).toBe(u < 0.25 ? 1 : 3);
    }
  });

  it('draws with the given frequencies (chi-square, 3 degrees of freedom)', () => {
    const p = Float32Array.of(0.1, 0.2, 0.3, 0.4);
    const rng = new Rng(7);
    const n = 20000;
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) counts[sampleFrom(p, rng)]++;
    const chi2 = counts.reduce((s, c, i) => s + (c - n * p[i]) ** 2 / (n * p[i]), 0);
    expect(chi2).toBeLessThan(16.27); // p = 0.001 critical value
  });

  it('refuses an all-zero distribution', () => {
    expect(() => sampleFrom(new Float32Array(3), new Rng(1))).toThrow(OptionsError);
  });
});
