import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/verify/rng.ts';

const draws = (r: Rng, n: number) => Array.from({ length: n }, () => r.nextU32());

describe('Rng lookahead (the GPU walk takes its uniforms ahead)', () => {
  it('peekU32 shows the next values without consuming them', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    expect(Array.from(a.peekU32(5))).toEqual(draws(new Rng(42), 5));
    expect(Array.from(a.peekU32(3))).toEqual(draws(new Rng(42), 3)); // a shorter peek sees the same head
    expect(draws(a, 8)).toEqual(draws(b, 8)); // buffered values first, then fresh ones, in order
  });

  it('skip(n) consumes exactly n values, peeked or not', () => {
    for (const [peek, used] of [[6, 2], [6, 6], [2, 5], [0, 3]]) {
      const a = new Rng(7);
      const b = new Rng(7);
      a.peekU32(peek);
      a.skip(used);
      for (let i = 0; i < used; i++) b.next();
      expect(draws(a, 10), `peek ${peek}, skip ${used}`).toEqual(draws(b, 10));
    }
  });

  it('next() after a peek returns the peeked value as a float', () => {
    const a = new Rng(3);
    const [u] = a.peekU32(1);
    expect(a.next()).toBe(u / 4294967296);
  });
});
