/**
 * The `auto` strategy: a controller that picks, per step, which drafter drafts and how large
 * its tree is, to maximise expected tokens per second (DESIGN section 4, "Controller").
 *
 * Each arm is (drafter, budget), plus plain decoding (budget 0). For every arm it keeps
 * exponential moving averages of what a step produced (tokens = accepted + 1) and what it cost
 * (from the start of propose() to observe(): drafting, the target pass over the tree the arm
 * actually drafted, and acceptance). Arms are chosen by an upper confidence bound on tokens/ms (UCB1, Auer et al. 2002); arms
 * never tried are tried first; a small exploration weight keeps the controller from paying
 * for speculation that does not pay, so it converges to plain decoding when no drafter helps.
 * Every drafter observes every verified step, whoever drafted it, so the learning drafters
 * (Token Recycling, ADED, n-gram) keep learning while another one is chosen.
 */
import type { Drafter, DraftContext, VerifyObservation } from '../draft/drafter';
import { emptyTree, type DraftTree } from '../tree/types';

export interface ControllerOptions {
  /** Tree budgets tried per drafter. Default [4, 8, 16, 32]. */
  budgets?: number[];
  /** Weight of the EMA update (0..1]. Default 0.15. */
  alpha?: number;
  /** UCB exploration weight, relative to the best arm's mean rate. Default 0.3. */
  explore?: number;
  /** Clock in ms. Default performance.now (tests inject a simulated one). */
  now?: () => number;
}

interface Arm {
  drafter: Drafter | null;
  budget: number;
  name: string;
  pulls: number;
  /** EMA of tokens produced per step. */
  tokens: number;
  /** EMA of ms per step (draft + verify). */
  ms: number;
}

export class Controller implements Drafter {
  readonly name = 'auto';
  /** The arm that drafted the last proposal, e.g. "lookup/16" or "ar". */
  choice = 'ar';
  private readonly arms: Arm[] = [];
  private readonly alpha: number;
  private readonly explore: number;
  private readonly now: () => number;
  private current: Arm | null = null;
  private startedAt = 0;
  private steps = 0;

  constructor(
    private readonly drafters: Drafter[],
    options: ControllerOptions = {},
  ) {
    this.alpha = options.alpha ?? 0.15;
    this.explore = options.explore ?? 0.3;
    this.now = options.now ?? (() => performance.now());
    this.arms.push({ drafter: null, budget: 0, name: 'ar', pulls: 0, tokens: 1, ms: 0 });
    for (const d of drafters) {
      for (const b of options.budgets ?? [4, 8, 16, 32]) this.arms.push({ drafter: d, budget: b, name: `${d.name}/${b}`, pulls: 0, tokens: 1, ms: 0 });
    }
  }

  async begin(prompt: Int32Array): Promise<void> {
    for (const d of this.drafters) await d.begin?.(prompt);
  }

  async propose(ctx: DraftContext, budget: number): Promise<DraftTree> {
    const arm = this.pick();
    this.current = arm;
    this.choice = arm.name;
    this.startedAt = this.now();
    return arm.drafter ? arm.drafter.propose(ctx, Math.min(arm.budget, budget)) : emptyTree();
  }

  observe(obs: VerifyObservation): void {
    const arm = this.current;
    if (arm) {
      arm.ms = this.ema(arm.ms, this.now() - this.startedAt, arm.pulls);
      arm.tokens = this.ema(arm.tokens, obs.committed.length, arm.pulls);
      arm.pulls++;
      this.steps++;
    }
    for (const d of this.drafters) d.observe(obs);
  }

  reset(): void {
    for (const d of this.drafters) d.reset();
    for (const a of this.arms) Object.assign(a, { pulls: 0, tokens: 1, ms: 0 });
    this.steps = 0;
  }

  /** Expected tokens per ms of an arm. */
  private rate(a: Arm): number {
    return a.tokens / Math.max(a.ms, 1e-3);
  }

  private pick(): Arm {
    const untried = this.arms.find((a) => a.pulls === 0);
    if (untried) return untried;
    const best = Math.max(...this.arms.map((a) => this.rate(a)));
    let choice = this.arms[0];
    let score = -Infinity;
    for (const a of this.arms) {
      const s = this.rate(a) + this.explore * best * Math.sqrt(Math.log(this.steps + 1) / a.pulls);
      if (s > score) { score = s; choice = a; }
    }
    return choice;
  }

  private ema(old: number, x: number, pulls: number): number {
    return pulls === 0 ? x : old + this.alpha * (x - old);
  }
}
