/**
 * Greedy draft-model steps encoded ahead (EngineOptions.stepsAhead, src/draft/gpu-grow-ahead.ts):
 * with 2 or 3 steps in flight the tokens, the finish reason and the target's cache a generation
 * leaves are those of one step at a time (stepsAhead 1), and a following generate on the same
 * engine gives the same tokens, when generation ends on an end-of-sequence token, on max
 * tokens, on the context, on a stop string, on an abort or when the consumer stops early. Two
 * drafts: the target's own weights (every path accepted to the deepest level, which a step
 * encoded ahead runs in a pass of its own) and a random one (paths rejected early).
 * Each step is one submit and one readback; steps past an end-of-sequence token are submitted
 * and dropped unread; sampled requests keep one step at a time.
 *
 * Models: 2-layer fixtures (vocabulary 512), f32; one device for every engine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine';
import { DraftModel } from '../../src/draft/draft-model';
import { acquireDevice } from '../../src/gpu/device';
import { FIXTURE_SHAPES, makeFixture } from '../../src/model/fixture';
import { MemorySource } from '../../src/model/source';
import { loadModelFiles, type ModelFiles } from '../../src/model/weights';
import type { GenerateOptions } from '../../src/engine/options';
import { overflowing } from './damaged-models';
import { consume, sameAsOneStep, withEndToken, type Left } from './generation-end';
import { itIn, mine } from './runtime';

const A = Int32Array.from([5, 17, 99, 3, 250, 41]);
const B = Int32Array.from([7, 300, 12]);
const MAX_CONTEXT = 40;
const DEPTHS = [1, 2, 3];
const DRAFTS = ['own', 'random'] as const;
type DraftName = (typeof DRAFTS)[number];

let device: GPUDevice;
let files: ModelFiles;
const drafts = new Map<DraftName, DraftModel>();
/** Engines by draft and stepsAhead. */
const engines = new Map<string, Engine>();
const engine = (d: DraftName, n: number) => engines.get(`${d}/${n}`)!;

/** What a generation leaves that a later one could see: tokens, text, finish reason, cache length, and the next turn's tokens. */
async function run(e: Engine, prompt: Int32Array, opts: GenerateOptions, stopAfter?: number, how: 'return' | 'abort' = 'return'): Promise<Left> {
  const end = await consume(e, prompt, { strategy: 'draft', ...opts }, stopAfter, how);
  return { ...end, next: await nextTurn(e, prompt, end.tokens) };
}

/** A following turn on the same engine: the conversation so far (its last 12 tokens) as its prompt. */
async function nextTurn(e: Engine, prompt: Int32Array, tokens: number[]): Promise<number[]> {
  return (await e.generateText(Int32Array.from([...prompt, ...tokens, 9].slice(-12)), { strategy: 'draft', maxTokens: 8 })).tokens;
}

/** `got` (stepsAhead n) left what `want` (one step at a time, engine `one`) left: see sameAsOneStep. */
function same(got: Left, want: Left, n: number, one: Engine, prompt: Int32Array, opts: GenerateOptions): Promise<void> {
  return sameAsOneStep(got, want, `stepsAhead ${n}`, prompt.length, {
    whole: async () => (await one.generateText(prompt, { strategy: 'draft', ...opts })).tokens,
    next: (tokens) => nextTurn(one, prompt, tokens),
  });
}

describe('stepsAhead: greedy draft-model steps with steps in flight', () => {
  beforeAll(async () => {
    device = (await acquireDevice()).device;
    const source = makeFixture(FIXTURE_SHAPES.tiny, 3);
    files = await loadModelFiles(new MemorySource(source));
    // an EOS that ends A's output after a few steps and never B's
    const withEos = withEndToken(files, A, B, 16, 6, MAX_CONTEXT).files;
    drafts.set('own', await DraftModel.load(device, files, { maxContext: MAX_CONTEXT, weightDtype: 'f32' }));
    drafts.set('random', await DraftModel.load(device, await loadModelFiles(new MemorySource(makeFixture(FIXTURE_SHAPES.tiny, 11))), { maxContext: MAX_CONTEXT, weightDtype: 'f32' }));
    for (const d of DRAFTS) {
      for (const n of DEPTHS) engines.set(`${d}/${n}`, await Engine.load(withEos, { maxContext: MAX_CONTEXT, weightDtype: 'f32', device, stepsAhead: n, draft: drafts.get(d) }));
    }
  });
  afterAll(() => {
    for (const e of engines.values()) e.destroy();
    for (const d of drafts.values()) d.destroy();
  });

  const cases: [string, Int32Array, GenerateOptions, string, number?, ('return' | 'abort')?][] = [
    ['an end-of-sequence token', A, { maxTokens: 16 }, 'eos'],
    ['max tokens (11)', B, { maxTokens: 11 }, 'length'],
    ['the context', B, { maxTokens: 100 }, 'context'],
    ['the context with a small tree budget', B, { maxTokens: 100, treeBudget: 3 }, 'context'],
    ['the consumer stopping after 2 chunks', B, { maxTokens: 20 }, 'consumer', 2],
    ['an abort after 3 chunks', B, { maxTokens: 20 }, 'aborted', 3, 'abort'],
  ];
  // the two gpu projects share the (draft, case) pairs (./runtime.ts mine): each runs every case with one of the drafts
  for (const [i, d] of DRAFTS.entries()) {
    for (const [j, [name, prompt, opts, finish, stopAfter, how]] of cases.entries()) {
      it.runIf(mine(i + j))(`${d} draft: ends on ${name} as one step at a time does, cache included`, async () => {
        const want = await run(engine(d, 1), prompt, opts, stopAfter, how);
        expect(want.finish).toBe(finish);
        for (const n of DEPTHS.slice(1)) await same(await run(engine(d, n), prompt, opts, stopAfter, how), want, n, engine(d, 1), prompt, opts);
      });
    }
  }

  it('own draft: ends on a stop string as one step at a time does, cache included', async () => {
    const ref = await engine('own', 1).generateText(B, { strategy: 'draft', maxTokens: 12 });
    // the text of output tokens 5..6: a stop string met inside a step's accepted path
    const stop = engine('own', 1).tokenizer.decode(ref.tokens.slice(5, 7));
    expect(stop.trim().length, `stop string from ${ref.tokens}`).toBeGreaterThan(0);
    const want = await run(engine('own', 1), B, { maxTokens: 12, stop: [stop] });
    expect(want.finish).toBe('stop');
    for (const n of DEPTHS.slice(1)) await same(await run(engine('own', n), B, { maxTokens: 12, stop: [stop] }), want, n, engine('own', 1), B, { maxTokens: 12, stop: [stop] });
  });

  it('each step is one submit and one readback with no draft readback; steps past an end-of-sequence token are dropped', async () => {
    for (const d of DRAFTS) {
      const { stats } = await engine(d, 3).generateText(B, { strategy: 'draft', maxTokens: 20 });
      expect(stats.stepsAhead).toBe(3);
      const steps = stats.steps.length;
      expect({ d, submits: stats.gpu.submits, readbacks: stats.gpu.readbacks, draftReadbacks: stats.gpu.draftReadbacks }).toEqual({ d, submits: steps, readbacks: steps, draftReadbacks: 0 });
    }
    const eos = (await engine('own', 3).generateText(A, { strategy: 'draft', maxTokens: 16 })).stats;
    expect(eos.finishReason).toBe('eos');
    // the step that ends on EOS is read; those behind it (as many as the bounds let in flight) were submitted and never read
    expect(eos.gpu.readbacks).toBe(eos.steps.length);
    expect(eos.gpu.submits).toBeGreaterThan(eos.steps.length);
  });

  it('two engines sharing one draft model, generating at once with steps in flight, give their own outputs', async () => {
    const other = await Engine.load(await loadModelFiles(new MemorySource(makeFixture(FIXTURE_SHAPES.tiny, 5))), { maxContext: MAX_CONTEXT, weightDtype: 'f32', device, stepsAhead: 3, draft: drafts.get('own') });
    try {
      const want = [(await engine('own', 1).generateText(A, { strategy: 'draft', maxTokens: 20 })).tokens, (await other.generateText(B, { strategy: 'ar', maxTokens: 20 })).tokens];
      const got = await Promise.all([engine('own', 3).generateText(A, { strategy: 'draft', maxTokens: 20 }), other.generateText(B, { strategy: 'draft', maxTokens: 20 })]);
      expect(got.map((g) => g.tokens)).toEqual(want);
      expect(got.map((g) => g.stats.stepsAhead)).toEqual([3, 3]);
    } finally {
      other.destroy();
    }
  });

  // Sampled steps are lossless for any tree, but which tokens a seed gives depends on the trees:
  // a step encoded ahead drafts under bounds that assume the steps in flight commit the most they
  // can, so near the end its budget can be smaller. Until the trees first differ, both use the
  // request's draws in the same order (the stream position the steps before left, on the GPU):
  // the same tokens. The own draft accepts nearly every path, so several steps agree.
  itIn('node')('sampled with the own draft: a seed gives one step at a time\'s tokens for as long as the trees are the same', async () => {
    for (const seed of [4, 6]) {
      const opts = { strategy: 'draft', temperature: 1, topP: 0.95, seed, maxTokens: 30 } as const;
      const one = await engine('own', 1).generateText(B, opts);
      // not the greedy output: the draws matter
      expect(one.tokens).not.toEqual((await engine('own', 1).generateText(B, { strategy: 'draft', maxTokens: 30 })).tokens);
      for (const n of DEPTHS.slice(1)) {
        const got = await engine('own', n).generateText(B, opts);
        const shape = (r: typeof one) => r.stats.steps.map((s) => `${s.accepted}/${s.treeSize}`);
        let agree = 0;
        while (agree < got.stats.steps.length && shape(got)[agree] === shape(one)[agree]) agree++;
        expect({ seed, n, agree: agree >= 3 }).toEqual({ seed, n, agree: true });
        const tokens = one.stats.steps.slice(0, agree).reduce((t, s) => t + s.accepted + 1, 0);
        expect({ seed, n, tokens: got.tokens.slice(0, tokens) }).toEqual({ seed, n, tokens: one.tokens.slice(0, tokens) });
      }
    }
  });

  it('sampled with the random draft: each step one submit and one readback, no draft readback, and a seed reproduces the tokens', async () => {
    const opts = { strategy: 'draft', temperature: 0.9, seed: 3, maxTokens: 16 } as const;
    const a = await engine('random', 3).generateText(B, opts);
    const b = await engine('random', 3).generateText(B, opts);
    expect(a.tokens).toEqual(b.tokens);
    const { stats } = a;
    expect(stats.stepsAhead).toBe(3);
    const steps = stats.steps.length;
    expect({ submits: stats.gpu.submits, readbacks: stats.gpu.readbacks, draftReadbacks: stats.gpu.draftReadbacks }).toEqual({ submits: steps, readbacks: steps, draftReadbacks: 0 });
  });

  it('penalised requests keep one step at a time, and their output does not depend on stepsAhead', async () => {
    for (const opts of [{ temperature: 0.8, seed: 3, repetitionPenalty: 1.3 }, { repetitionPenalty: 1.3 }]) {
      const one = await engine('own', 1).generateText(B, { strategy: 'draft', maxTokens: 8, ...opts });
      const three = await engine('own', 3).generateText(B, { strategy: 'draft', maxTokens: 8, ...opts });
      expect(three.stats.stepsAhead).toBe(1);
      expect(three.tokens).toEqual(one.tokens);
    }
  });

  it('non-finite logits reject with the ModelError of one step at a time, cache as it leaves it, engine usable', async () => {
    const bad = await loadModelFiles(new MemorySource(overflowing()));
    const draft = await DraftModel.load(device, bad, { maxContext: MAX_CONTEXT, weightDtype: 'f32' });
    const e = await Engine.load(bad, { maxContext: MAX_CONTEXT, weightDtype: 'f32', device, stepsAhead: 3, draft });
    try {
      for (let i = 0; i < 2; i++) {
        const err = await e.generateText(B, { strategy: 'draft', maxTokens: 6 }).then(() => new Error('resolved'), (x: Error) => x);
        expect(err.name, err.message).toBe('ModelError');
        expect(e.model.kv.length).toBe(B.length - 1);
      }
      // the draft model serves a healthy target afterwards: its lock was released
      const healthy = await Engine.load(files, { maxContext: MAX_CONTEXT, weightDtype: 'f32', device, stepsAhead: 3, draft });
      try {
        const want = (await healthy.generateText(B, { strategy: 'ar', maxTokens: 6 })).tokens;
        expect((await healthy.generateText(B, { strategy: 'draft', maxTokens: 6 })).tokens).toEqual(want);
      } finally {
        healthy.destroy();
      }
    } finally {
      e.destroy();
      draft.destroy();
    }
  });
});
