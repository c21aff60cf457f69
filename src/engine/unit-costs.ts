/**
 * The time of one dispatch and of one round trip on this adapter (DESIGN section 8: for models
 * of browser size a step costs dispatches x t_dispatch + readbacks x t_roundtrip), fitted online
 * from the wall time and the exact counts of every step: least squares of
 * ms ~ dispatch * dispatches + readback * readbacks, each step's weight decaying by `decay` per
 * later step, both unit times non-negative. Counts times unit times price a step by what it
 * encodes rather than by its own noisy timing; every step of every arm refines the same two
 * numbers.
 */

/** The GPU work of one step (drafting and verifying): dispatches encoded, buffers mapped. */
export interface StepCounts {
  dispatches: number;
  readbacks: number;
}

export interface Units {
  /** ms per dispatch. */
  dispatch: number;
  /** ms per round trip (submit, map, read). */
  readback: number;
}

export class UnitCosts {
  private sdd = 0;
  private sdr = 0;
  private srr = 0;
  private sdy = 0;
  private sry = 0;
  private steps = 0;

  /** `minSteps` steps before a fit is given; `decay` the weight kept per later step. */
  constructor(private readonly minSteps = 4, private readonly decay = 0.98) {}

  observe(c: StepCounts, ms: number): void {
    const k = this.decay;
    const d = c.dispatches;
    const r = c.readbacks;
    this.sdd = k * this.sdd + d * d;
    this.sdr = k * this.sdr + d * r;
    this.srr = k * this.srr + r * r;
    this.sdy = k * this.sdy + d * ms;
    this.sry = k * this.sry + r * ms;
    this.steps++;
  }

  /** The fitted unit times, or null before minSteps steps (or without a dispatch). */
  units(): Units | null {
    if (this.steps < this.minSteps || this.sdd <= 0) return null;
    const det = this.sdd * this.srr - this.sdr * this.sdr;
    // Counts in one proportion only (every step alike): the time cannot be split; put it on dispatches.
    if (!(det > 1e-9 * this.sdd * this.srr)) return { dispatch: this.sdy / this.sdd, readback: 0 };
    const dispatch = (this.sdy * this.srr - this.sry * this.sdr) / det;
    const readback = (this.sry * this.sdd - this.sdy * this.sdr) / det;
    if (dispatch < 0) return { dispatch: 0, readback: this.sry / this.srr };
    if (readback < 0) return { dispatch: this.sdy / this.sdd, readback: 0 };
    return { dispatch, readback };
  }

  /** Expected ms of a step with these counts, or null before a fit. */
  price(c: StepCounts): number | null {
    const u = this.units();
    return u ? u.dispatch * c.dispatches + u.readback * c.readbacks : null;
  }
}
