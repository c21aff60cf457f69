/**
 * Statistics for the distribution tests (verifier level here, engine level later): Pearson's
 * chi-square goodness-of-fit test with its p-value from the regularized upper incomplete gamma
 * function. Sources: Numerical Recipes in C, 2nd ed., sections 6.1-6.2 (gammln, gser, gcf,
 * gammq); Lanczos coefficients g = 7, n = 9 as in Godfrey's table (also used by SciPy/Boost docs).
 */

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln(Gamma(x)) for x > 0, relative error about 1e-15 (Lanczos, g = 7). */
export function logGamma(x: number): number {
  if (!(x > 0)) throw new RangeError(`logGamma(${x}): expected x > 0`);
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x); // reflection
  const z = x - 1;
  let a = LANCZOS[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/**
 * Q(a, x) = Gamma(a, x) / Gamma(a), the regularized upper incomplete gamma function, a > 0,
 * x >= 0. Series for P when x < a + 1 (converges fast there), Lentz's continued fraction for Q
 * otherwise (NR 6.2); Q is never formed as 1 - P in the tail, so tiny p-values keep precision.
 */
export function regularizedGammaQ(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) throw new RangeError(`regularizedGammaQ(${a}, ${x}): expected a > 0, x >= 0`);
  if (x === 0) return 1;
  const logPrefix = a * Math.log(x) - x - logGamma(a); // ln(x^a e^-x / Gamma(a))
  if (x < a + 1) {
    // P(a, x) = x^a e^-x / Gamma(a + 1) * sum_n x^n / ((a+1)...(a+n))
    let term = 1 / a;
    let total = term;
    for (let n = 1; n < 10000; n++) {
      term *= x / (a + n);
      total += term;
      if (Math.abs(term) < Math.abs(total) * 1e-15) break;
    }
    return Math.max(0, 1 - total * Math.exp(logPrefix));
  }
  // Q(a, x) = x^a e^-x / Gamma(a) * 1/(x+1-a- 1*(1-a)/(x+3-a- 2*(2-a)/(x+5-a- ...)))
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return Math.exp(logPrefix) * h;
}

/** Upper tail P(X >= stat) of a chi-square distribution with df degrees of freedom. */
export function chiSquareSurvival(stat: number, df: number): number {
  return regularizedGammaQ(df / 2, stat / 2);
}

/**
 * Pearson chi-square goodness of fit: p-value of `observed` counts under `expected`, which may
 * be counts or probabilities (scaled to the observed total). A cell with expected 0 and an
 * observed count is impossible under the null: p-value 0. Cells with expected 0 and no count
 * are dropped; df = cells used - 1. Expected counts should be >= 5 per cell (use poolSmallCells).
 */
export function chiSquarePValue(observed: number[], expected: number[]): number {
  return chiSquareTest(observed, expected).pValue;
}

/** chiSquarePValue with its statistic and degrees of freedom, for failure messages. */
export function chiSquareTest(observed: number[], expected: number[]): { stat: number; df: number; pValue: number } {
  if (observed.length !== expected.length) {
    throw new RangeError(`observed has ${observed.length} cells, expected has ${expected.length}`);
  }
  const n = observed.reduce((s, v) => s + v, 0);
  const e = expected.reduce((s, v) => s + v, 0);
  if (!(n > 0) || !(e > 0)) throw new RangeError(`totals observed ${n}, expected ${e}: both must be positive`);
  let stat = 0;
  let cells = 0;
  for (let i = 0; i < observed.length; i++) {
    const ex = (expected[i] / e) * n;
    if (ex === 0) {
      if (observed[i] > 0) return { stat: Infinity, df: observed.length - 1, pValue: 0 };
      continue;
    }
    stat += ((observed[i] - ex) * (observed[i] - ex)) / ex;
    cells++;
  }
  if (cells < 2) return { stat, df: 0, pValue: 1 };
  return { stat, df: cells - 1, pValue: chiSquareSurvival(stat, cells - 1) };
}

/**
 * Pools every cell whose expected count (expected scaled to the observed total) is below
 * `minExpected` into one extra cell, so the chi-square approximation holds. Cells with
 * expected exactly 0 stay separate (an observation there must still fail the test).
 */
export function poolSmallCells(observed: number[], expected: number[], minExpected = 5): { observed: number[]; expected: number[] } {
  const n = observed.reduce((s, v) => s + v, 0);
  const e = expected.reduce((s, v) => s + v, 0);
  const o2: number[] = [];
  const e2: number[] = [];
  let poolO = 0;
  let poolE = 0;
  for (let i = 0; i < observed.length; i++) {
    const ex = (expected[i] / e) * n;
    if (ex > 0 && ex < minExpected) {
      poolO += observed[i];
      poolE += expected[i];
    } else {
      o2.push(observed[i]);
      e2.push(expected[i]);
    }
  }
  if (poolE > 0) {
    o2.push(poolO);
    e2.push(poolE);
  }
  return { observed: o2, expected: e2 };
}
