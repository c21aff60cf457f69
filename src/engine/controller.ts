/**
 * The `auto` strategy: a controller that picks, per step, which drafter drafts and how large
 * its tree is, to maximise expected tokens per second (DESIGN section 4, "Controller").
 *
 * Each arm is (drafter, budget), plus plain decoding (budget 0). For every arm it keeps
 * exponential moving averages of what a step produced (tokens = accepted + 1) and what it cost
 * (from the start of propose() to observe(): drafting, the target pass over the tree the arm
 * actually drafted, and acceptance), so the target's pass cost by tree size and each
 * drafter's acceptance and cost are measured online, on this device and this text.
 *
 * Choice: the open arm with the best tokens/ms, except that an arm that is not the best is
 * tried again once the steps since its last try reach its backoff; the backoff doubles every
 * time the retry confirms the arm loses (up to 8 times the first) and resets when it wins.
 * A losing arm thus costs O(log steps) tries early and one try per 8 x backoff steps later,
 * so the controller converges to plain decoding when no drafter pays, yet notices when the
 * text turns repetitive and a drafter starts paying. A retry weighs its fresh evidence at 0.5.
 *
 * A drafting arm whose steps yield fewer than `minTokens` tokens on average (its drafts are
 * almost never accepted) is never the best and opens no larger budget: where a tree pass costs
 * what a one-row pass costs (a GPU at small sizes), timing alone cannot tell it from plain
 * decoding, and it would only add drafting and verification overhead.
 *
 * Budgets open one at a time per drafter, smallest first: a drafter's next budget opens only
 * once its largest open budget has been tried and ran at no less than `unlock` times plain
 * decoding's rate. The cost of finding out that a drafter is useless is then one step at the
 * smallest budget (where a verify pass costs several plain passes, as on a compute-bound
 * adapter, trying every budget once would cost tens of plain steps), while a drafter that
 * pays climbs to the budget where a larger tree stops paying.
 *
 * Every drafter observes every verified step, whoever drafted it, so the learning drafters
 * (Token Recycling, ADED, n-gram) keep learning while another one is chosen.
 *
 * Pricing (DESIGN section 8). With `pricing: 'counts'` (the default on GPU adapters, where a
 * step of a browser-sized model costs its fixed costs) and steps whose observations carry their
 * GPU counts, an arm's step is priced as its EMA dispatches and readbacks times the adapter's
 * unit times, fitted online from every step (src/engine/unit-costs.ts): exact counts, and two
 * numbers that every step of every arm refines, instead of the arm's own few noisy timings. An
 * arm's first step is left out of the fit (it carries one-off costs: pipelines compiled,
 * buffers created), which would otherwise bar a drafter for a whole backoff. Without counts, or
 * with 'time' (software adapters, where a pass costs its arithmetic, not its dispatches), an
 * arm costs its measured EMA ms.
 *
 * Steps on the GPU (DESIGN section 8). Where a member runs whole steps on the GPU, greedy or
 * sampled (the draft model, src/draft/gpu-grow.ts), the controller's gpuStepper picks the arm
 * first: that member's arm runs its GPU step (one submit, one readback), any other arm, or a
 * sampled step that member cannot take, is handed back to the decode loop (step() gives null),
 * which drafts it with propose() - the arm already picked - and verifies. Either way the step is
 * priced and observed the same way, and the GPU step computes what the other members observe (the
 * whole top-k, every row, Hydra's drafting in the submit). The draft model's cache stays right
 * across arm switches: every step, on either path, first syncs it to the committed tokens
 * (DraftModel.sync).
 */
import type { Drafter, DraftContext, GpuStepper, GpuStepRequest, GpuStepResult, InSubmitDraft, VerifyObservation } from '../draft/drafter';
import type { GpuCounter } from '../gpu/counter';
import type { GpuModel } from '../model/gpu-model';
import type { GpuAcceptWalk } from '../verify/gpu-walk';
import { emptyTree, type DraftTree } from '../tree/types';
import { UnitCosts, type StepCounts } from './unit-costs';

export interface ControllerOptions {
  /** Tree budgets tried per drafter, climbed smallest first. Default [2, 4, 8, 16, 32]. */
  budgets?: number[];
  /** Weight of the EMA update (0..1]. Default 0.15. */
  alpha?: number;
  /** Steps before a losing arm is tried again the first time; doubles with each confirmed loss. Default 64. */
  backoff?: number;
  /** A drafter's next budget opens when its largest open one runs at >= unlock x plain decoding's rate. Default 0.8. */
  unlock?: number;
  /**
   * Tokens per step (EMA) below which a drafting arm cannot be the best or open a larger budget:
   * a drafter whose trees are (nearly) never accepted cannot beat plain decoding, whatever the
   * timing noise says. Default 1.1.
   */
  minTokens?: number;
  /** Clock in ms. Default performance.now (tests inject a simulated one). */
  now?: () => number;
  /** How an arm's step is priced (see the header). Default 'time'; the engine asks for 'counts' on GPU adapters. */
  pricing?: 'counts' | 'time';
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
  /** EMAs of the dispatches and readbacks of its steps, when counted (null before). */
  counts: StepCounts | null;
  /** Whether pick() may choose it (see the budget ladder above). */
  open: boolean;
  /** Step of the last try, and steps to wait before retrying while it loses. */
  lastTry: number;
  backoff: number;
}

export class Controller implements Drafter {
  readonly name = 'auto';
  /** The arm that drafted the last proposal, e.g. "lookup/16" or "ar". */
  choice = 'ar';
  private readonly arms: Arm[] = [];
  private readonly alpha: number;
  private readonly backoff: number;
  private readonly unlock: number;
  private readonly minTokens: number;
  private readonly now: () => number;
  private readonly pricing: 'counts' | 'time';
  private readonly units = new UnitCosts();
  private current: Arm | null = null;
  /** The arm a GPU step picked but handed back to the CPU path: the next propose() drafts with it. */
  private handedBack: Arm | null = null;
  /** Whether the current arm was the best when chosen (a retry otherwise). */
  private currentWasBest = true;
  private startedAt = 0;
  private steps = 0;

  constructor(
    private readonly drafters: Drafter[],
    options: ControllerOptions = {},
  ) {
    this.alpha = options.alpha ?? 0.15;
    this.backoff = options.backoff ?? 64;
    this.unlock = options.unlock ?? 0.8;
    this.minTokens = options.minTokens ?? 1.1;
    this.now = options.now ?? (() => performance.now());
    this.pricing = options.pricing ?? 'time';
    const budgets = [...(options.budgets ?? [2, 4, 8, 16, 32])].sort((a, b) => a - b);
    this.arms.push(this.arm(null, 0, true));
    for (const d of drafters) budgets.forEach((b, i) => this.arms.push(this.arm(d, b, i === 0)));
  }

  async begin(prompt: Int32Array): Promise<void> {
    for (const d of this.drafters) await d.begin?.(prompt);
  }

  async propose(ctx: DraftContext, budget: number): Promise<DraftTree> {
    const arm = this.handedBack ?? this.choose();
    this.handedBack = null;
    return arm.drafter ? arm.drafter.propose(ctx, Math.min(arm.budget, budget)) : emptyTree();
  }

  /** Steps on the GPU for the members that run them (see the header); null where none does. */
  async gpuStepper(target: GpuModel, walk: GpuAcceptWalk): Promise<GpuStepper | null> {
    const steppers = new Map<Drafter, GpuStepper>();
    for (const d of this.drafters) {
      const s = await d.gpuStepper?.(target, walk);
      if (s) steppers.set(d, s);
    }
    return steppers.size === 0 ? null : { step: (committed, budget, _needs, request) => this.gpuStep(steppers, committed, budget, request) };
  }

  private async gpuStep(steppers: Map<Drafter, GpuStepper>, committed: Int32Array, budget: number, request?: GpuStepRequest): Promise<GpuStepResult | null> {
    const arm = this.choose();
    const stepper = arm.drafter ? steppers.get(arm.drafter) : undefined;
    const res = stepper ? await stepper.step(committed, Math.min(arm.budget, budget), { topK: this.needsTopK, allRows: this.observesAllRows, inSubmit: this.inSubmit }, request) : null;
    // the arm drafts on the CPU this step (or cannot sample on the GPU): propose() takes it
    if (!res) this.handedBack = arm;
    return res;
  }

  /** Picks the arm of this step and starts timing it. */
  private choose(): Arm {
    const arm = this.pick();
    this.current = arm;
    this.choice = arm.name;
    this.startedAt = this.now();
    return arm;
  }

  /** Every drafter observes every step, so one that learns from all rows needs them read back. */
  get observesAllRows(): boolean {
    return this.drafters.some((d) => d.observesAllRows === true);
  }

  /** Every arm observes every step, so the target computes the top-k where any arm reads it. */
  get needsTopK(): boolean {
    return this.drafters.some((d) => d.needsTopK === true);
  }

  /**
   * A member's drafting inside the verify submit (Hydra) runs on every step, whichever arm
   * drafted it, so that member's next tree is ready whenever it is chosen.
   */
  get inSubmit(): InSubmitDraft | undefined {
    return this.drafters.find((d) => d.inSubmit)?.inSubmit;
  }

  observe(obs: VerifyObservation): void {
    const arm = this.current;
    if (arm) {
      // A retry after a long gap weighs its fresh evidence more than the EMA weight.
      const alpha = this.currentWasBest ? this.alpha : Math.max(this.alpha, 0.5);
      const ms = this.now() - this.startedAt;
      if (obs.gpu) {
        if (arm.pulls > 0) this.units.observe(obs.gpu, ms); // a first step carries one-off costs
        const c = arm.counts;
        arm.counts = c ? { dispatches: this.ema(c.dispatches, obs.gpu.dispatches, 1, alpha), readbacks: this.ema(c.readbacks, obs.gpu.readbacks, 1, alpha) } : { ...obs.gpu };
      }
      arm.ms = this.ema(arm.ms, ms, arm.pulls, alpha);
      arm.tokens = this.ema(arm.tokens, obs.committed.length, arm.pulls, alpha);
      arm.pulls++;
      arm.lastTry = this.steps;
      this.steps++;
      // A retry that still loses waits twice as long next time; an arm that wins starts afresh.
      if (this.best() === arm) arm.backoff = this.backoff;
      else if (!this.currentWasBest && arm.pulls > 1) arm.backoff = Math.min(2 * arm.backoff, 8 * this.backoff);
      this.openNext(arm);
    }
    for (const d of this.drafters) d.observe(obs);
  }

  /** Every arm's counters, each once (fusion and draft share the draft model's). */
  counters(): GpuCounter[] {
    return [...new Set(this.drafters.flatMap((d) => d.counters?.() ?? []))];
  }

  reset(): void {
    this.handedBack = null;
    for (const d of this.drafters) d.reset();
    const fresh = this.arms.map((a, i) => this.arm(a.drafter, a.budget, i === 0 || this.arms[i - 1].drafter !== a.drafter));
    this.arms.splice(0, this.arms.length, ...fresh);
    this.steps = 0;
  }

  private arm(drafter: Drafter | null, budget: number, open: boolean): Arm {
    const name = drafter ? `${drafter.name}/${budget}` : 'ar';
    return { drafter, budget, name, pulls: 0, tokens: 1, ms: 0, counts: null, open, lastTry: 0, backoff: this.backoff };
  }

  /** Opens the drafter's next budget when `arm`, its largest open one, keeps up with plain decoding. */
  private openNext(arm: Arm): void {
    if (!arm.drafter) return;
    const ladder = this.arms.filter((a) => a.drafter === arm.drafter);
    const next = ladder[ladder.indexOf(arm) + 1];
    if (!next || next.open || arm.tokens < this.minTokens) return;
    const plain = this.arms[0];
    if (plain.pulls > 0 && this.rate(arm) < this.unlock * this.rate(plain)) return;
    next.open = true;
  }

  /** Expected tokens per ms of an arm. */
  private rate(a: Arm): number {
    return a.tokens / Math.max(this.cost(a), 1e-3);
  }

  /** Expected ms of an arm's step: priced in counts where it can be (see the header), else measured. */
  private cost(a: Arm): number {
    const priced = this.pricing === 'counts' && a.counts ? this.units.price(a.counts) : null;
    return priced ?? a.ms;
  }

  /** The tried open arm with the best rate among plain decoding and the drafting arms that get drafts accepted. */
  private best(): Arm {
    let best = this.arms[0];
    for (const a of this.arms) {
      const eligible = a.open && a.pulls > 0 && (a.drafter === null || a.tokens >= this.minTokens);
      if (eligible && (best.pulls === 0 || this.rate(a) > this.rate(best))) best = a;
    }
    return best;
  }

  private pick(): Arm {
    const open = this.arms.filter((a) => a.open);
    const untried = open.find((a) => a.pulls === 0);
    if (untried) {
      this.currentWasBest = false;
      return untried;
    }
    const best = this.best();
    // the losing arm whose retry is most overdue, if any is due
    let due: Arm | null = null;
    for (const a of open) {
      if (a === best || this.steps - a.lastTry < a.backoff) continue;
      if (!due || a.lastTry + a.backoff < due.lastTry + due.backoff) due = a;
    }
    this.currentWasBest = due === null;
    return due ?? best;
  }

  private ema(old: number, x: number, pulls: number, alpha: number): number {
    return pulls === 0 ? x : old + alpha * (x - old);
  }
}
