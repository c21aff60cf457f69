import { describe, expect, it } from 'vitest';
import { chiSquarePValue, chiSquareSurvival, chiSquareTest, logGamma, poolSmallCells, regularizedGammaQ } from './stats';

// Reference values: closed forms (Q(1, x) = e^-x, Q(1/2, x) = erfc(sqrt x), df = 2 survival
// e^{-x/2}) and standard chi-square tables (critical values at 0.05 and 0.001).
describe('test statistics helpers', () => {
  it('logGamma matches factorials and Gamma(1/2) = sqrt(pi)', () => {
    expect(logGamma(1)).toBeCloseTo(0, 13);
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 12);
    expect(logGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 12);
    expect(logGamma(101)).toBeCloseTo(363.73937555556347, 9); // ln(100!)
    expect(logGamma(0.1)).toBeCloseTo(2.252712651734206, 12);
  });

  it('regularizedGammaQ matches closed forms on both branches (series and continued fraction)', () => {
    for (const x of [0.01, 0.5, 1.9, 2.5, 10, 40, 300]) {
      expect(regularizedGammaQ(1, x) / Math.exp(-x)).toBeCloseTo(1, 10);
    }
    expect(regularizedGammaQ(0.5, 1)).toBeCloseTo(0.15729920705028513, 12); // erfc(1)
    expect(regularizedGammaQ(0.5, 0.25)).toBeCloseTo(0.4795001221869535, 12); // erfc(0.5)
    expect(regularizedGammaQ(0.5, 9) / 2.209049699858544e-5).toBeCloseTo(1, 9); // erfc(3), a tail value
    expect(regularizedGammaQ(3, 0)).toBe(1);
  });

  it('chi-square survival matches table critical values', () => {
    expect(chiSquareSurvival(3.841458820694124, 1)).toBeCloseTo(0.05, 10);
    expect(chiSquareSurvival(18.307038053275146, 10)).toBeCloseTo(0.05, 10);
    expect(chiSquareSurvival(29.588298445074418, 10)).toBeCloseTo(0.001, 10);
    expect(chiSquareSurvival(124.34211340400407, 100)).toBeCloseTo(0.05, 9);
    expect(chiSquareSurvival(7, 2)).toBeCloseTo(Math.exp(-3.5), 12);
  });

  it('chiSquarePValue: exact fit is 1, a far fit is ~0, impossible cells are 0', () => {
    expect(chiSquarePValue([25, 25, 50], [0.25, 0.25, 0.5])).toBeCloseTo(1, 12);
    const t = chiSquareTest([30, 20, 50], [25, 25, 50]);
    expect(t.stat).toBeCloseTo(2, 12);
    expect(t.df).toBe(2);
    expect(t.pValue).toBeCloseTo(Math.exp(-1), 12);
    expect(chiSquarePValue([500, 300, 200], [1, 1, 1])).toBeLessThan(1e-20);
    expect(chiSquarePValue([10, 0, 1], [0.5, 0.5, 0])).toBe(0);
    expect(chiSquareTest([10, 10, 0], [0.5, 0.5, 0]).df).toBe(1);
  });

  it('poolSmallCells pools expected counts below the minimum, keeping zero-expected cells apart', () => {
    const r = poolSmallCells([50, 2, 1, 0, 47], [0.5, 0.02, 0.01, 0, 0.47]);
    expect(r.observed).toEqual([50, 0, 47, 3]);
    expect(r.expected).toEqual([0.5, 0, 0.47, 0.03]);
  });
});
