/**
 * The `auto` strategy: a controller that picks, per step, which drafter drafts and how large
 * its tree is, to maximise expected tokens per second (DESIGN section 4, "Controller").
 *
 * Each arm is (drafter, budget), plus plain decoding (budget 0). For every arm it keeps
 * exponential moving averages of what a step produced (tokens = accepted + 1) and what it cost
 * (from the start of propose() to observe(): drafting, the target pass over the tree the arm
 * actually drafted, and acceptance). Arms are chosen by an upper confidence bound on tokens/ms
 * (UCB1, Auer et al. 2002) among the open arms; a small exploration weight keeps the controller
 * from paying for speculation that does not pay, so it converges to plain decoding when no
 * drafter helps.
 *
 * Budgets open one at a time per drafter, smallest first: a drafter's next budget opens only
 * once its largest open budget has been tried and ran at no less than `unlock` times plain
 * decoding's rate. The cost of finding out that a drafter is useless is then one step at the
 * smallest budget (where a verify pass costs several plain passes, as on a compute-bound
 * adapter, trying every budget once would cost tens of plain steps), while a drafter that
 * pays climbs to the budget where a larger tree stops paying.
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
  /** A drafter's next budget opens when its largest open one runs at >= unlock x plain decoding's rate. Default 0.8. */
  unlock?: number;
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
  /** Whether pick() may choose it (see the budget ladder above). */
  open: boolean;
}

export class Controller implements Drafter {
  readonly name = 'auto';
  /** The arm that drafted the last proposal, e.g. "lookup/16" or "ar". */
  choice = 'ar';
  private readonly arms: Arm[] = [];
  private readonly alpha: number;
  private readonly explore: number;
  private readonly unlock: number;
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
    this.unlock = options.unlock ?? 0.8;
    this.now = options.now ?? (() => performance.now());
    this.arms.push({ drafter: null, budget: 0, name: 'ar', pulls: 0, tokens: 1, ms: 0, open: true });
    const budgets = [...(options.budgets ?? [4, 8, 16, 32])].sort((a, b) => a - b);
    for (const d of drafters) {
      budgets.forEach((b, i) => this.arms.push({ drafter: d, budget: b, name: `${d.name}/${b}`, pulls: 0, tokens: 1, ms: 0, open: i === 0 }));
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
      this.openNext(arm);
    }
    for (const d of this.drafters) d.observe(obs);
  }

  reset(): void {
    for (const d of this.drafters) d.reset();
    for (const a of this.arms) Object.assign(a, { pulls: 0, tokens: 1, ms: 0, open: a.drafter === null || a === this.arms.find((b) => b.drafter === a.drafter) });
    this.steps = 0;
  }

  /** Opens the drafter's next budget when `arm`, its largest open one, keeps up with plain decoding. */
  private openNext(arm: Arm): void {
    if (!arm.drafter) return;
    const ladder = this.arms.filter((a) => a.drafter === arm.drafter);
    const i = ladder.indexOf(arm);
    const next = ladder[i + 1];
    if (!next || next.open) return;
    const plain = this.arms[0];
    if (plain.pulls > 0 && this.rate(arm) < this.unlock * this.rate(plain)) return;
    next.open = true;
  }

  /** Expected tokens per ms of an arm. */
  private rate(a: Arm): number {
    return a.tokens / Math.max(a.ms, 1e-3);
  }

  private pick(): Arm {
    const open = this.arms.filter((a) => a.open);
    const untried = open.find((a) => a.pulls === 0);
    if (untried) return untried;
    const best = Math.max(...open.map((a) => this.rate(a)));
    let choice = this.arms[0];
    let score = -Infinity;
    for (const a of open) {
      const s = this.rate(a) + this.explore * best * Math.sqrt(Math.log(this.steps + 1) / a.pulls);
      if (s > score) { score = s; choice = a; }
    }
    return choice;
  }

  private ema(old: number, x: number, pulls: number): number {
    return pulls === 0 ? x : old + this.alpha * (x - old);
  }
}
