import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { buildSuffixArray, findRange } from '../../src/draft/suffix-array';

/** Brute force: suffix start positions sorted by comparing the suffixes directly. */
function naiveSuffixArray(t: number[]): number[] {
  const cmp = (a: number, b: number) => {
    for (let i = 0; ; i++) {
      if (a + i >= t.length) return b + i >= t.length ? 0 : -1;
      if (b + i >= t.length) return 1;
      if (t[a + i] !== t[b + i]) return t[a + i] - t[b + i];
    }
  };
  return t.map((_, i) => i).sort(cmp);
}

/** Brute force: every position where pattern occurs. */
function naiveOccurrences(t: number[], p: number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i + p.length <= t.length; i++) if (p.every((v, j) => t[i + j] === v)) out.push(i);
  return out;
}

const text = fc.array(fc.integer({ min: -1, max: 3 }), { maxLength: 60 });

describe('suffix array', () => {
  it('equals the brute-force sort on random strings (with separators)', () => {
    fc.assert(
      fc.property(text, (t) => {
        expect(Array.from(buildSuffixArray(Int32Array.from(t)))).toEqual(naiveSuffixArray(t));
      }),
      { numRuns: 500 },
    );
  });

  it('equals the brute-force sort on repeated blocks (induced sorting recurses several levels)', () => {
    const blocks = fc.tuple(fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 12 }), fc.integer({ min: 2, max: 40 }), fc.array(fc.integer({ min: -1, max: 2 }), { maxLength: 6 }));
    fc.assert(
      fc.property(blocks, ([block, times, tail]) => {
        const t = [...Array.from({ length: times }, () => block).flat(), ...tail];
        expect(Array.from(buildSuffixArray(Int32Array.from(t)))).toEqual(naiveSuffixArray(t));
      }),
      { numRuns: 200 },
    );
  });

  it('handles a long run of one token and large token ids', () => {
    const t = new Array(1000).fill(7);
    expect(Array.from(buildSuffixArray(Int32Array.from(t)))).toEqual(naiveSuffixArray(t));
    const big = [151_000, 3, 151_000, 3, 99_999, 0];
    expect(Array.from(buildSuffixArray(Int32Array.from(big)))).toEqual(naiveSuffixArray(big));
  });

  it('findRange returns exactly the occurrences of random patterns', () => {
    const pat = fc.array(fc.integer({ min: -1, max: 3 }), { minLength: 1, maxLength: 5 });
    fc.assert(
      fc.property(text, pat, (t, p) => {
        const tt = Int32Array.from(t);
        const sa = buildSuffixArray(tt);
        const [lo, hi] = findRange(tt, sa, p);
        expect(Array.from(sa.subarray(lo, hi)).sort((a, b) => a - b)).toEqual(naiveOccurrences(t, p));
        // a sub-range of a larger array as the pattern
        const wrapped = [9, ...p, 9];
        const [lo2, hi2] = findRange(tt, sa, wrapped, 1, 1 + p.length);
        expect([lo2, hi2]).toEqual([lo, hi]);
      }),
      { numRuns: 500 },
    );
  });

  it('builds over 1M tokens of Zipf-like text in a few seconds', () => {
    // Zipf-ish token stream with repeated phrases, like natural text.
    const n = 1_000_000;
    const t = new Int32Array(n);
    let s = 12345;
    const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
    for (let i = 0; i < n; i++) {
      if (i > 64 && rnd() < 0.3) t[i] = t[i - 1 - Math.floor(rnd() * 64)];
      else t[i] = Math.floor(32000 * rnd() ** 3);
    }
    const t0 = performance.now();
    const sa = buildSuffixArray(t);
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(4000); // about 0.3 s on one core when idle
    // spot-check order on a sample of adjacent pairs
    for (let j = 1; j < n; j += 9973) {
      const a = sa[j - 1];
      const b = sa[j];
      let i = 0;
      while (b + i < n && a + i < n && t[a + i] === t[b + i]) i++;
      expect(a + i >= n || (b + i < n && t[a + i] < t[b + i])).toBe(true);
    }
  });
});
