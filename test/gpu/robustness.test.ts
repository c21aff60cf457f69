/**
 * Cancellation, queuing, state leaks and device loss on the GPU engine (issue 9):
 *  - an AbortSignal stops generation within one step (finishReason 'aborted', the statistics
 *    are still returned) and the engine's next generation is unaffected;
 *  - concurrent generate() calls on one engine are queued: interleaved calls give the outputs
 *    of sequential ones;
 *  - 100 consecutive generations on one engine, mixed strategies, greedy and seeded sampling,
 *    random aborts, give what a fresh engine gives for each request (no state leaks);
 *  - GPUDevice.destroy() mid-generation rejects the generation in flight with DeviceLostError
 *    (never hangs), and Engine.load on a new device works afterwards.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { Engine } from '../../src/engine/engine';
import { FIXTURE_SHAPES, makeFixture } from '../../src/model/fixture';
import { MemorySource } from '../../src/model/source';
import { loadModelFiles, type ModelFiles } from '../../src/model/weights';
import { DeviceLostError, TreespecError } from '../../src/errors';
import type { GenerateOptions } from '../../src/engine/options';
import { rng } from './util';

const engineOpts = { maxContext: 64, maxTreeNodes: 16, weightDtype: 'f32' as const };
const prompts = ['the cat sat on the mat, the cat', 'hello world'];
const maxTokens = 6;

/** The requests of the long run: each one a strategy with greedy or seeded sampling. */
const kinds: Record<string, GenerateOptions> = {
  'ar-greedy': { strategy: 'ar' },
  'ar-sampled': { strategy: 'ar', temperature: 0.8, seed: 11 },
  'lookup-greedy': { strategy: 'lookup', treeBudget: 4 },
  'lookup-sampled': { strategy: 'lookup', treeBudget: 4, temperature: 0.8, seed: 12 },
  'self-greedy': { strategy: 'self', treeBudget: 3 },
  'self-sampled': { strategy: 'self', treeBudget: 3, temperature: 0.8, seed: 13 },
  'random-greedy': { strategy: 'random', treeBudget: 5 },
  // The random drafter restarts its own generator per generation, so its trees (and with them
  // the verifier's draws) must not depend on what ran before.
  'random-sampled': { strategy: 'random', treeBudget: 5, temperature: 0.8, seed: 14 },
};
/** Greedy output is lossless: every greedy kind must give the fresh engine's plain greedy tokens. */
const oracleKind = (kind: string): string => (kind.endsWith('-greedy') ? 'ar-greedy' : kind);

async function tokensOf(engine: Engine, prompt: string, o: GenerateOptions): Promise<number[]> {
  return (await engine.generateText(prompt, { maxTokens, ...o })).tokens;
}

describe('cancellation, queuing and state leaks', () => {
  let files: ModelFiles;
  let engine: Engine;
  /** `${prompt index}/${oracle kind}` -> tokens from an engine that ran nothing before. */
  const fresh = new Map<string, number[]>();

  beforeAll(async () => {
    files = await loadModelFiles(new MemorySource(makeFixture(FIXTURE_SHAPES.tiny, 3)));
    engine = await Engine.load(files, engineOpts);
    const oracleKinds = [...new Set(Object.keys(kinds).map(oracleKind))];
    for (let p = 0; p < prompts.length; p++) {
      for (const kind of oracleKinds) {
        const e = await Engine.load(files, engineOpts);
        fresh.set(`${p}/${kind}`, await tokensOf(e, prompts[p], kinds[kind]));
        e.destroy();
      }
    }
  });
  afterAll(() => engine?.destroy());

  it('an abort stops generation within one step and the engine stays ready', async () => {
    for (const kind of ['ar-greedy', 'self-greedy', 'lookup-sampled']) {
      const ac = new AbortController();
      const chunks: number[][] = [];
      const it = engine.generate(prompts[0], { maxTokens: 40, ...kinds[kind], signal: ac.signal });
      let r = await it.next();
      while (!r.done) {
        chunks.push(r.value.tokens);
        if (chunks.length === 2) ac.abort();
        r = await it.next();
      }
      // Aborted after the second step: no step ran after it (a text tail may follow, without tokens).
      expect(chunks.slice(2).flat(), kind).toEqual([]);
      expect(r.value.finishReason).toBe('aborted');
      expect(r.value.targetForwards).toBe(2);
      expect(r.value.generatedTokens).toBe(chunks.flat().length);
      expect(await tokensOf(engine, prompts[0], kinds[kind])).toEqual(fresh.get(`0/${oracleKind(kind)}`));
    }
  });

  it('an abort while a step is in flight ends the generation after that step', async () => {
    const ac = new AbortController();
    const it = engine.generate(prompts[1], { maxTokens: 40, ...kinds['self-greedy'], signal: ac.signal });
    const first = it.next();
    ac.abort(); // fires while the first step (prefill, draft, verify) is running
    const chunks: number[][] = [];
    let r = await first;
    while (!r.done) {
      chunks.push(r.value.tokens);
      r = await it.next();
    }
    expect(r.value.finishReason).toBe('aborted');
    expect(r.value.targetForwards).toBeLessThanOrEqual(1);
    expect(fresh.get('1/ar-greedy')!.slice(0, chunks.flat().length)).toEqual(chunks.flat());
    expect(await tokensOf(engine, prompts[1], kinds['self-greedy'])).toEqual(fresh.get('1/ar-greedy'));
  });

  it('a signal aborted before the call returns no tokens', async () => {
    const r = await engine.generateText(prompts[0], { maxTokens, signal: AbortSignal.abort() });
    expect(r.tokens).toEqual([]);
    expect(r.stats.finishReason).toBe('aborted');
  });

  it('concurrent generate calls are queued: interleaved calls give the sequential outputs', async () => {
    const requests = Object.keys(kinds).flatMap((kind) => prompts.map((_, p) => ({ kind, p })));
    // All started at once; each consumer awaits its chunks interleaved with the others'.
    const results = await Promise.all(requests.map(({ kind, p }) => tokensOf(engine, prompts[p], kinds[kind])));
    requests.forEach(({ kind, p }, i) => expect({ kind, p, tokens: results[i] }).toEqual({ kind, p, tokens: fresh.get(`${p}/${oracleKind(kind)}`) }));
  });

  it('100 consecutive generations with random aborts give what fresh engines give', async () => {
    const random = rng(2024);
    const names = Object.keys(kinds);
    let aborted = 0;
    for (let g = 0; g < 100; g++) {
      const kind = names[Math.floor(random() * names.length)];
      const p = Math.floor(random() * prompts.length);
      const expected = fresh.get(`${p}/${oracleKind(kind)}`)!;
      // One in three requests is aborted after 0, 1 or 2 steps.
      const abortAfter = random() < 1 / 3 ? Math.floor(random() * 3) : -1;
      const ac = new AbortController();
      if (abortAfter === 0) ac.abort();
      const tokens: number[] = [];
      let steps = 0;
      const it = engine.generate(prompts[p], { maxTokens, ...kinds[kind], signal: ac.signal });
      let r = await it.next();
      while (!r.done) {
        tokens.push(...r.value.tokens);
        if (r.value.tokens.length && ++steps === abortAfter) ac.abort();
        r = await it.next();
      }
      const what = { g, kind, p, abortAfter };
      if (r.value.finishReason === 'aborted') {
        aborted++;
        expect({ ...what, tokens }).toEqual({ ...what, tokens: expected.slice(0, tokens.length) });
        expect(r.value.targetForwards, JSON.stringify(what)).toBeLessThanOrEqual(Math.max(abortAfter, 0));
      } else {
        expect({ ...what, tokens }).toEqual({ ...what, tokens: expected });
      }
    }
    expect(aborted).toBeGreaterThan(10);
  });
});

describe('device loss', () => {
  let files: ModelFiles;
  beforeAll(async () => {
    files = await loadModelFiles(new MemorySource(makeFixture(FIXTURE_SHAPES.tiny, 3)));
  });

  it('destroy() mid-generation rejects the generation with DeviceLostError; a new engine works', async () => {
    const engine = await Engine.load(files, engineOpts);
    const before = await tokensOf(engine, prompts[0], {});
    const it = engine.generate(prompts[0], { maxTokens: 40, strategy: 'self', treeBudget: 3 });
    const first = await it.next();
    expect(first.done).toBe(false);
    engine.device.destroy();
    const t0 = performance.now();
    const err = await (async () => {
      try {
        for (let r = await it.next(); !r.done; r = await it.next());
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(DeviceLostError);
    expect(err).toBeInstanceOf(TreespecError);
    expect((err as Error).message).toMatch(/lost.*Engine\.load/);
    expect(performance.now() - t0).toBeLessThan(5000);
    // Every later call on the lost engine says so at once, queued or not.
    await expect(engine.generateText(prompts[0], { maxTokens })).rejects.toBeInstanceOf(DeviceLostError);

    const again = await Engine.load(files, engineOpts);
    expect(await tokensOf(again, prompts[0], {})).toEqual(before);
    again.destroy();
  });

  it('destroy() while generations are queued rejects each of them, none hangs', async () => {
    const engine = await Engine.load(files, engineOpts);
    const runs = [0, 1, 2].map(() => engine.generateText(prompts[1], { maxTokens: 30 }).then(() => null, (e: unknown) => e));
    await new Promise((r) => setTimeout(r, 50));
    engine.device.destroy();
    const errors = await Promise.all(runs);
    // A generation that finished before the loss returns normally; every other one reports the loss.
    for (const e of errors) if (e !== null) expect(e).toBeInstanceOf(DeviceLostError);
    expect(errors.at(-1)).toBeInstanceOf(DeviceLostError);
  });
});
