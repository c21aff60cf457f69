/**
 * The `auto` controller on simulated steps: a simulated clock where verify cost grows with tree
 * rows, and scripted acceptance. It must converge to plain decoding when drafts are always wrong and
 * to speculation when they are right.
 */
import { describe, expect, it } from 'vitest';
import { Controller } from '../../src/engine/controller';
import { RecyclingDrafter } from '../../src/draft/recycling';
import { UnitCosts, type StepCounts } from '../../src/engine/unit-costs';
import { isStrategyName } from '../../src/engine/strategies';
import type { Drafter, DraftContext, VerifyObservation } from '../../src/draft/drafter';
import type { DraftTree } from '../../src/tree/types';
import { Rng } from '../../src/verify/rng';
import { defaultSampling } from '../../src/verify/sampler';

/** A chain drafter whose drafts are accepted with a fixed probability per token. */
class ScriptedDrafter implements Drafter {
  observed = 0;
  constructor(
    readonly name: string,
    public acceptRate: number,
  ) {}
  propose(_ctx: DraftContext, budget: number): DraftTree {
    return { tokens: new Int32Array(budget).fill(1), parents: Int32Array.from({ length: budget }, (_, i) => i - 1), draft: { kind: 'deterministic' } };
  }
  observe(): void {
    this.observed++;
  }
  reset(): void {}
}

/** A simulated clock in ms. */
class Clock {
  t = 0;
  readonly now = () => this.t;
}

/** Runs `steps` simulated steps; returns how often each arm was chosen (and, under 'tokens', the tokens produced). */
async function simulate(c: Controller, clock: Clock, drafters: ScriptedDrafter[], steps: number, rowMs: number): Promise<Map<string, number>> {
  const rng = new Rng(3);
  const ctx: DraftContext = { tokens: Int32Array.of(1, 2, 3), sampling: false, options: defaultSampling, rng };
  const chosen = new Map<string, number>();
  for (let s = 0; s < steps; s++) {
    const tree = await c.propose(ctx, 32);
    const who = drafters.find((d) => c.choice.startsWith(`${d.name}/`));
    clock.t += 0.3 + rowMs * (tree.tokens.length + 1);
    let accepted = 0;
    while (who && accepted < tree.tokens.length && rng.next() < who.acceptRate) accepted++;
    const obs: VerifyObservation = { tree, acceptedNodes: Int32Array.from({ length: accepted }, (_, i) => i), committed: new Int32Array(accepted + 1), topK: new Int32Array(0), k: 0 };
    c.observe(obs);
    chosen.set(c.choice, (chosen.get(c.choice) ?? 0) + 1);
    chosen.set('tokens', (chosen.get('tokens') ?? 0) + accepted + 1);
  }
  return chosen;
}

describe('auto controller', () => {
  it('falls back to plain decoding when drafts are always rejected', async () => {
    const wrong = new ScriptedDrafter('wrong', 0);
    const clock = new Clock();
    const c = new Controller([wrong], { budgets: [4, 16], now: clock.now });
    const chosen = await simulate(c, clock, [wrong], 200, 0.05);
    expect(chosen.get('ar') ?? 0).toBeGreaterThan(150);
    expect(wrong.observed).toBe(200); // every drafter observes every step
  });

  it('speculates when drafts are accepted, and prefers the better drafter', async () => {
    const good = new ScriptedDrafter('good', 0.9);
    const poor = new ScriptedDrafter('poor', 0.2);
    const clock = new Clock();
    const c = new Controller([poor, good], { budgets: [4, 16], now: clock.now });
    const chosen = await simulate(c, clock, [poor, good], 200, 0.01);
    const goodPulls = (chosen.get('good/4') ?? 0) + (chosen.get('good/16') ?? 0);
    expect(goodPulls).toBeGreaterThan(120);
    expect(chosen.get('ar') ?? 0).toBeLessThan(30);
  });

  it('costs at most a few percent over plain decoding when a verify row costs as much as a pass (compute-bound adapter)', async () => {
    // rowMs = 1 with 0.3 ms overhead: a 33-row pass costs 25x a plain step, as on SwiftShader.
    const wrong = new ScriptedDrafter('wrong', 0);
    const clock = new Clock();
    const c = new Controller([wrong], { now: clock.now });
    const chosen = await simulate(c, clock, [wrong], 64, 1);
    const plainRate = 1 / 1.3; // tokens per ms of plain decoding
    const autoRate = (chosen.get('tokens') ?? 0) / clock.t;
    expect(autoRate).toBeGreaterThan(0.95 * plainRate);
    // the useless drafter never gets past its smallest budget
    expect([...chosen.keys()].filter((k) => k.startsWith('wrong/'))).toEqual(['wrong/2']);
  });

  it('never prefers an always-wrong drafter where a tree pass costs what a plain pass costs (GPU)', async () => {
    // rowMs = 0: verifying 33 rows costs the same as 1; timing alone cannot tell the arms apart.
    const wrong = new ScriptedDrafter('wrong', 0);
    const clock = new Clock();
    const c = new Controller([wrong], { now: clock.now });
    const chosen = await simulate(c, clock, [wrong], 300, 0);
    expect([...chosen.keys()].filter((k) => k.startsWith('wrong/'))).toEqual(['wrong/2']);
    expect(chosen.get('wrong/2')).toBeLessThanOrEqual(4); // the first try and backoff retries only
  });

  it('climbs the budget ladder while larger trees pay', async () => {
    const good = new ScriptedDrafter('good', 0.97);
    const clock = new Clock();
    const c = new Controller([good], { budgets: [4, 8, 16, 32], now: clock.now });
    const chosen = await simulate(c, clock, [good], 300, 0.001);
    expect((chosen.get('good/16') ?? 0) + (chosen.get('good/32') ?? 0)).toBeGreaterThan(150);
  });

  it('retries a losing drafter with backoff and switches to it once it starts paying', async () => {
    const late = new ScriptedDrafter('late', 0);
    const clock = new Clock();
    const c = new Controller([late], { now: clock.now });
    const before = await simulate(c, clock, [late], 200, 0.3);
    expect(before.get('ar') ?? 0).toBeGreaterThan(190);
    late.acceptRate = 0.95; // the text turned repetitive
    // the retry is due within the largest backoff (512 steps); from then on it drafts
    const after = await simulate(c, clock, [late], 1000, 0.3);
    const lateSteps = [...after].filter(([k]) => k.startsWith('late/')).reduce((n, [, v]) => n + v, 0);
    expect(lateSteps).toBeGreaterThan(600);
  });

  it('prices arms in dispatches and round trips: a drafter whose first step paid one-off costs wins once its counts make it fastest', async () => {
    // A GPU of fixed costs: 0.028 ms a dispatch, 0.5 ms a round trip. `grown` (a tree grown on the
    // GPU: many dispatches, one readback) converts its tokens into speed; `levels` (a readback per
    // level) does not; plain decoding is 74 dispatches and one readback. grown's first step pays a
    // second of pipeline compilation.
    const counts: Record<string, StepCounts> = { ar: { dispatches: 74, readbacks: 1 }, grown: { dispatches: 313, readbacks: 1 }, levels: { dispatches: 243, readbacks: 6 } };
    const run = async (pricing: 'counts' | 'time') => {
      const grown = new ScriptedDrafter('grown', 0.9);
      const levels = new ScriptedDrafter('levels', 0.7);
      const clock = new Clock();
      const c = new Controller([levels, grown], { budgets: [16], now: clock.now, pricing });
      const rng = new Rng(5);
      const ctx: DraftContext = { tokens: Int32Array.of(1, 2, 3), sampling: false, options: defaultSampling, rng };
      let late = 0;
      for (let s = 0; s < 200; s++) {
        const tree = await c.propose(ctx, 32);
        const who = [grown, levels].find((d) => c.choice.startsWith(`${d.name}/`));
        const gpu = counts[who?.name ?? 'ar'];
        clock.t += 0.028 * gpu.dispatches + 0.5 * gpu.readbacks;
        if (who === grown && !firstPaid.has(c)) { firstPaid.add(c); clock.t += 1000; }
        let accepted = 0;
        while (who && accepted < tree.tokens.length && rng.next() < who.acceptRate) accepted++;
        c.observe({ tree, acceptedNodes: Int32Array.from({ length: accepted }, (_, i) => i), committed: new Int32Array(accepted + 1), topK: new Int32Array(0), k: 0, gpu });
        if (s >= 100 && who === grown) late++;
      }
      return late;
    };
    const firstPaid = new Set<Controller>();
    expect(await run('counts')).toBeGreaterThan(80);
    // timed alone, the one-off second bars it for a backoff and more
    expect(await run('time')).toBeLessThan(20);
  });

  it('fits the unit times of a dispatch and a round trip from step times', () => {
    const u = new UnitCosts();
    expect(u.units()).toBeNull();
    for (const [d, r] of [[74, 1], [313, 1], [243, 6], [74, 1], [90, 2]]) u.observe({ dispatches: d, readbacks: r }, 0.028 * d + 0.5 * r);
    const fit = u.units()!;
    expect(fit.dispatch).toBeCloseTo(0.028, 6);
    expect(fit.readback).toBeCloseTo(0.5, 6);
    expect(u.price({ dispatches: 100, readbacks: 2 })).toBeCloseTo(3.8, 5);
    // counts in one proportion cannot split the time: all of it goes on dispatches
    const same = new UnitCosts();
    for (let i = 0; i < 5; i++) same.observe({ dispatches: 74, readbacks: 1 }, 2.572);
    expect(same.units()!.readback).toBe(0);
    expect(same.price({ dispatches: 74, readbacks: 1 })).toBeCloseTo(2.572, 6);
  });

  it('asks for the target\'s whole top-k when any arm reads it (every arm observes every step)', () => {
    const plain = new ScriptedDrafter('plain', 0.5);
    const reads = Object.assign(new ScriptedDrafter('reads', 0.5), { needsTopK: true });
    expect(new Controller([plain]).needsTopK).toBe(false);
    expect(new Controller([plain, reads]).needsTopK).toBe(true);
    expect(new RecyclingDrafter({ vocabSize: 16, k: 4 }).needsTopK).toBe(true);
  });

  it('accepts auto:NAME[,NAME] over registered drafters only', () => {
    expect(isStrategyName('auto')).toBe(true);
    expect(isStrategyName('auto:random')).toBe(true);
    expect(isStrategyName('auto:lookup,ngram')).toBe(true);
    expect(isStrategyName('auto:auto')).toBe(false);
    expect(isStrategyName('auto:nonsense')).toBe(false);
    expect(isStrategyName('auto:')).toBe(false);
    expect(isStrategyName('lookup')).toBe(true);
    expect(isStrategyName('nonsense')).toBe(false);
  });
});
