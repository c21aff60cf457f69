import { OptionsError } from '../errors';

/** Context key of a bigram (one-token) context: the first key token is this marker. */
export const BIGRAM = -1;

/**
 * Bounded, decaying n-gram statistics for ADED (Liu et al. 2024, *Adaptive Draft-Verification*,
 * the "tri-gram matrix" that approximates the target's next-token distribution and adapts as
 * decoding goes on). A context is two tokens (a, b) for tri-grams or (BIGRAM, b) for the
 * back-off bigram; each keeps its `width` most weighted successors.
 *
 * Decay without touching every entry: an event adds the current increment `inc`, and `inc`
 * grows by 1/decay per decay() call, so an event `s` steps old weighs decay^s relative to a new
 * one. Effective counts are stored / inc. When inc passes 2^64 every stored value is divided by
 * inc (ratios are unchanged).
 *
 * Bounds: `slots` contexts in a 4-way set-associative table (a missing context evicts the least
 * weighted way of its set); `width` successors per context (a new successor of a full context
 * replaces the least weighted one). Memory: slots * (16 + 12 * width) bytes; 16384 slots x 8 =
 * 1.8 MB.
 */
export class TrigramTable {
  readonly slots: number;
  readonly width: number;
  /** (slots) context key tokens; keyB = -2 marks an empty slot. */
  private readonly keyA: Int32Array;
  private readonly keyB: Int32Array;
  /** (slots) stored weight of all successor events of the context. */
  private readonly total: Float64Array;
  /** (slots) stored weight of drafts made from the context (MCTS visit count N). */
  private readonly visits: Float64Array;
  /** (slots, width) successor token, -1 = empty. */
  private readonly succ: Int32Array;
  /** (slots, width) stored weight of the successor (frequency). */
  private readonly count: Float64Array;
  /** (slots, width) stored weight of drafts of this successor (MCTS visit count n). */
  private readonly tried: Float64Array;
  /** Current increment (see class comment). */
  private inc = 1;

  constructor(slots = 16384, width = 8) {
    if (!Number.isInteger(slots) || slots < 4 || slots % 4 !== 0) throw new OptionsError(`ADED slots must be a multiple of 4 >= 4, got ${slots}`);
    if (!Number.isInteger(width) || width < 1) throw new OptionsError(`ADED width must be an integer >= 1, got ${width}`);
    this.slots = slots;
    this.width = width;
    this.keyA = new Int32Array(slots);
    this.keyB = new Int32Array(slots);
    this.total = new Float64Array(slots);
    this.visits = new Float64Array(slots);
    this.succ = new Int32Array(slots * width);
    this.count = new Float64Array(slots * width);
    this.tried = new Float64Array(slots * width);
    this.clear();
  }

  clear(): void {
    this.keyB.fill(-2);
    this.total.fill(0);
    this.visits.fill(0);
    this.succ.fill(-1);
    this.count.fill(0);
    this.tried.fill(0);
    this.inc = 1;
  }

  /** Ages every statistic by `decay` (one step). */
  decay(decay: number): void {
    this.inc /= decay;
    if (this.inc > 2 ** 64) {
      const s = 1 / this.inc;
      for (let i = 0; i < this.slots; i++) {
        this.total[i] *= s;
        this.visits[i] *= s;
      }
      for (let i = 0; i < this.count.length; i++) {
        this.count[i] *= s;
        this.tried[i] *= s;
      }
      this.inc = 1;
    }
  }

  private set(a: number, b: number): number {
    const h = (Math.imul(a + 2, 0x9e3779b1) ^ Math.imul(b + 3, 0x85ebca77)) >>> 0;
    return (h % (this.slots >> 2)) << 2;
  }

  /** Slot of context (a, b), or -1. */
  find(a: number, b: number): number {
    const s = this.set(a, b);
    for (let w = s; w < s + 4; w++) if (this.keyB[w] === b && this.keyA[w] === a) return w;
    return -1;
  }

  /** Slot of context (a, b), claimed (evicting the least weighted way of its set) if missing. */
  private claim(a: number, b: number): number {
    const s = this.set(a, b);
    let empty = -1;
    let least = s;
    for (let w = s; w < s + 4; w++) {
      if (this.keyB[w] === b && this.keyA[w] === a) return w;
      if (this.keyB[w] === -2) {
        if (empty === -1) empty = w;
      } else if (this.total[w] < this.total[least] || this.keyB[least] === -2) least = w;
    }
    const victim = empty !== -1 ? empty : least;
    this.keyA[victim] = a;
    this.keyB[victim] = b;
    this.total[victim] = 0;
    this.visits[victim] = 0;
    this.succ.fill(-1, victim * this.width, (victim + 1) * this.width);
    this.count.fill(0, victim * this.width, (victim + 1) * this.width);
    this.tried.fill(0, victim * this.width, (victim + 1) * this.width);
    return victim;
  }

  /** Entry index (slot * width + j) of successor t in slot, or -1. */
  private entry(slot: number, t: number): number {
    const base = slot * this.width;
    for (let j = base; j < base + this.width; j++) if (this.succ[j] === t) return j;
    return -1;
  }

  /** One sighting of t after (a, b), weighted w (1 = a committed token). */
  addCount(a: number, b: number, t: number, w = 1): void {
    if (a < BIGRAM || b < 0 || t < 0) return; // not token ids: -2 marks empty slots
    const slot = this.claim(a, b);
    let e = this.entry(slot, t);
    if (e === -1) {
      // Replace an empty or the least weighted successor (a new one starts from zero).
      const base = slot * this.width;
      e = base;
      for (let j = base; j < base + this.width; j++) {
        if (this.succ[j] === -1) {
          e = j;
          break;
        }
        if (this.count[j] < this.count[e]) e = j;
      }
      this.total[slot] -= this.count[e];
      this.succ[e] = t;
      this.count[e] = 0;
      this.tried[e] = 0;
    }
    this.count[e] += w * this.inc;
    this.total[slot] += w * this.inc;
  }

  /** One draft of t from context (a, b) (visit counts of the UCB bonus); unknown ones ignored. */
  addTried(a: number, b: number, t: number): void {
    const slot = this.find(a, b);
    if (slot === -1) return;
    this.visits[slot] += this.inc;
    const e = this.entry(slot, t);
    if (e !== -1) this.tried[e] += this.inc;
  }

  /**
   * Successors of a found slot with effective statistics, written into the given (width)
   * arrays; returns how many. p = count / total (empirical probability), n = tried, and the
   * context's N is returned through `visitsOut[0]`.
   */
  successors(slot: number, tok: Int32Array, p: Float64Array, n: Float64Array, visitsOut: Float64Array): number {
    const base = slot * this.width;
    const total = this.total[slot];
    let m = 0;
    for (let j = base; j < base + this.width; j++) {
      if (this.succ[j] === -1 || !(total > 0)) continue;
      tok[m] = this.succ[j];
      p[m] = this.count[j] / total;
      n[m] = this.tried[j] / this.inc;
      m++;
    }
    visitsOut[0] = this.visits[slot] / this.inc;
    return m;
  }

  /** Effective (decayed) count of t after (a, b); 0 if unknown. For tests and diagnostics. */
  effectiveCount(a: number, b: number, t: number): number {
    const slot = this.find(a, b);
    if (slot === -1) return 0;
    const e = this.entry(slot, t);
    return e === -1 ? 0 : this.count[e] / this.inc;
  }
}
