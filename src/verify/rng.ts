/**
 * Seeded random generator owned by a generation request (DESIGN section 5): a seed
 * reproduces a sampled output. xorshift64* on a 64-bit state held as two 32-bit halves (no BigInt).
 */
export class Rng {
  private hi: number;
  private lo: number;

  constructor(seed: number) {
    // splitmix-style scrambling of the seed into the 64-bit state
    this.hi = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) >>> 0) ^ 0x4d595df4;
    this.lo = (Math.imul((seed >>> 16) ^ seed ^ 0x7f4a7c15, 0xc2b2ae35) >>> 0) | 1;
    for (let i = 0; i < 4; i++) this.nextU32();
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    // xorshift64* style step on two 32-bit halves (portable, no BigInt)
    let hi = this.hi;
    let lo = this.lo;
    // x ^= x >> 12
    lo ^= (lo >>> 12) | (hi << 20);
    hi ^= hi >>> 12;
    // x ^= x << 25
    hi ^= (hi << 25) | (lo >>> 7);
    lo ^= lo << 25;
    // x ^= x >> 27
    lo ^= (lo >>> 27) | (hi << 5);
    hi ^= hi >>> 27;
    this.hi = hi >>> 0;
    this.lo = lo >>> 0;
    // multiply low word by an odd constant and mix in the high word
    return (Math.imul(this.lo, 0x2545f491) ^ Math.imul(this.hi, 0x4f6cdd1d)) >>> 0;
  }

  /** Uniform float in [0, 1) with 32 bits of randomness. */
  next(): number {
    return this.nextU32() / 4294967296;
  }
}
