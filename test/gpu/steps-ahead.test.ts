/**
 * Plain decoding encoded ahead (EngineOptions.stepsAhead, src/engine/ahead.ts): with 2
 * or 3 passes in flight the tokens, the finish reason and the cache a generation leaves are
 * those of one step at a time (stepsAhead 1), when generation ends on an end-of-sequence token
 * inside the ring, on a stop string, on max tokens that are not a multiple of the ring, on the
 * context, on an abort, or when the consumer stops early; a following generate on the same engine gives the
 * same tokens. Passes past max tokens or the context are never encoded; passes past an
 * end-of-sequence token are (dropped), which the submits show. Sampled requests (no repetition
 * penalty) give one step at a time's tokens for the same seed: each pass's sampling walk takes
 * the next uniform of the request's Rng, as a step read before the next does.
 *
 * Model: the 2-layer fixture (vocabulary 512), f32; one device for every engine.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine';
import { acquireDevice } from '../../src/gpu/device';
import { FIXTURE_SHAPES, makeFixture } from '../../src/model/fixture';
import { MemorySource } from '../../src/model/source';
import { loadModelFiles, type ModelFiles } from '../../src/model/weights';
import type { GenerateOptions } from '../../src/engine/options';
import { overflowing } from './damaged-models';
import { consume, withEndToken } from './generation-end';
import { resolveStepsAhead } from '../../src/engine/options';

const A = Int32Array.from([5, 17, 99, 3, 250, 41]);
const B = Int32Array.from([7, 300, 12]);
const MAX_CONTEXT = 24;
const DEPTHS = [1, 2, 3];

let device: GPUDevice;
let files: ModelFiles;
/** The EOS id given to the engines: a token of A's greedy output at index EOS_AT, absent from B's whole output. */
let eosId = -1;
let eosAt = -1;
/** Engines with eosId as their end-of-sequence token, by stepsAhead. */
const engines = new Map<number, Engine>();

/** What a generation leaves that a later one could see: tokens, text, finish reason, cache length, and the next generate's tokens. */
async function run(engine: Engine, prompt: Int32Array, opts: GenerateOptions, stopAfter?: number, how: 'return' | 'abort' = 'return') {
  const end = await consume(engine, prompt, { strategy: 'ar', ...opts }, stopAfter, how);
  // a following turn on the same engine: the conversation so far (its last 12 tokens) as its prompt
  const next = await engine.generateText(Int32Array.from([...prompt, ...end.tokens, 9].slice(-12)), { strategy: 'ar', maxTokens: 5 });
  return { ...end, next: next.tokens };
}

describe('stepsAhead: plain greedy decoding with passes in flight', () => {
  beforeAll(async () => {
    device = (await acquireDevice()).device;
    files = await loadModelFiles(new MemorySource(makeFixture(FIXTURE_SHAPES.tiny, 3)));
    // an EOS that ends A's greedy output inside the ring (index >= 3) and never B's (the CPU reference's outputs: the GPU's equal them, test/gpu/golden.test.ts)
    const end = withEndToken(files, A, B, 12, 3, MAX_CONTEXT);
    ({ eosId, at: eosAt } = end);
    const withEos = end.files;
    for (const n of DEPTHS) engines.set(n, await Engine.load(withEos, { maxContext: MAX_CONTEXT, weightDtype: 'f32', device, stepsAhead: n }));
  });

  const cases: [string, Int32Array, GenerateOptions, string, number?, ('return' | 'abort')?][] = [
    ['an end-of-sequence token inside the ring', A, { maxTokens: 12 }, 'eos'],
    ['max tokens not a multiple of the ring (5)', B, { maxTokens: 5 }, 'length'],
    ['the context', B, { maxTokens: 100 }, 'context'],
    ['the consumer stopping after 2 chunks', B, { maxTokens: 10 }, 'consumer', 2],
    ['an abort after 3 chunks', B, { maxTokens: 10 }, 'aborted', 3, 'abort'],
  ];
  for (const [name, prompt, opts, finish, stopAfter, how] of cases) {
    it(`ends on ${name} as one step at a time does, cache included`, async () => {
      const want = await run(engines.get(1)!, prompt, opts, stopAfter, how);
      expect(want.finish).toBe(finish);
      for (const n of DEPTHS.slice(1)) expect(await run(engines.get(n)!, prompt, opts, stopAfter, how), `stepsAhead ${n}`).toEqual(want);
    });
  }

  it('ends on a stop string as one step at a time does, cache included', async () => {
    const ref = await engines.get(1)!.generateText(B, { strategy: 'ar', maxTokens: 8 });
    // the text of output tokens 2..3: a stop string met in the middle of the ring
    const stop = engines.get(1)!.tokenizer.decode(ref.tokens.slice(2, 4));
    expect(stop.trim().length, `stop string from ${ref.tokens}`).toBeGreaterThan(0);
    const want = await run(engines.get(1)!, B, { maxTokens: 8, stop: [stop] });
    expect(want.finish).toBe('stop');
    for (const n of DEPTHS.slice(1)) expect(await run(engines.get(n)!, B, { maxTokens: 8, stop: [stop] }), `stepsAhead ${n}`).toEqual(want);
  });

  it('submits no pass past max tokens or the context, drops the passes past an end-of-sequence token, and dispatches per token as before less the walk', async () => {
    // one step at a time: a pass and the acceptance walk per token
    const one = (await engines.get(1)!.generateText(B, { strategy: 'ar', maxTokens: 7 })).stats;
    const perToken = one.gpu.dispatches / one.targetForwards;
    const e3 = engines.get(3)!;
    for (const [prompt, maxTokens] of [[B, 7], [B, 100]] as const) {
      const { stats } = await e3.generateText(prompt, { strategy: 'ar', maxTokens });
      const n = stats.targetForwards;
      expect(stats.stepsAhead).toBe(3);
      // the argmax is the token: no walk; one submit and one 4-byte readback per token
      expect(stats.gpu).toEqual({ ...one.gpu, dispatches: n * (perToken - 1), submits: n, readbacks: n, bytesRead: n * 4 });
    }
    const { stats } = await e3.generateText(A, { strategy: 'ar', maxTokens: 12 });
    expect(stats.finishReason).toBe('eos');
    // the EOS step's token is the (eosAt + 1)-th read; two passes behind it were submitted, never read
    expect({ steps: stats.targetForwards, submits: stats.gpu.submits, readbacks: stats.gpu.readbacks }).toEqual({ steps: eosAt + 1, submits: eosAt + 3, readbacks: eosAt + 1 });
  });

  // Sampled: each pass's sampling walk draws its token with the next uniform of the request's Rng, as one step at a time does.
  const sampled = { temperature: 1.1, topK: 60, topP: 0.95, seed: 5 };
  const sampledCases: [string, Int32Array, GenerateOptions, string, number?, ('return' | 'abort')?][] = [
    ['an end-of-sequence token (seed 12 draws it)', B, { ...sampled, seed: 12, maxTokens: 100 }, 'eos'],
    ['max tokens (5)', B, { ...sampled, maxTokens: 5 }, 'length'],
    ['the context', B, { ...sampled, maxTokens: 100 }, 'context'],
    ['the consumer stopping after 2 chunks', B, { ...sampled, maxTokens: 10 }, 'consumer', 2],
    ['an abort after 3 chunks', A, { ...sampled, seed: 8, maxTokens: 10 }, 'aborted', 3, 'abort'],
  ];
  for (const [name, prompt, opts, finish, stopAfter, how] of sampledCases) {
    it(`sampled (seeded): ends on ${name} with one step at a time's tokens, cache included`, async () => {
      const want = await run(engines.get(1)!, prompt, opts, stopAfter, how);
      expect(want.finish).toBe(finish);
      // not the greedy output: the draws matter
      expect(want.tokens).not.toEqual((await engines.get(1)!.generateText(prompt, { strategy: 'ar', maxTokens: want.tokens.length })).tokens);
      for (const n of DEPTHS.slice(1)) expect(await run(engines.get(n)!, prompt, opts, stopAfter, how), `stepsAhead ${n}`).toEqual(want);
    });
  }

  it('sampled: one submit and one 4-byte readback per token, the walk still dispatched', async () => {
    const one = (await engines.get(1)!.generateText(B, { strategy: 'ar', ...sampled, maxTokens: 7 })).stats;
    const { stats } = await engines.get(3)!.generateText(B, { strategy: 'ar', ...sampled, maxTokens: 7 });
    const n = stats.targetForwards;
    expect(stats.stepsAhead).toBe(3);
    expect(stats.gpu).toEqual({ ...one.gpu, submits: n, readbacks: n, bytesRead: n * 4 });
  });

  it('penalised and profiled generations keep one step at a time', async () => {
    const e3 = engines.get(3)!;
    expect((await e3.generateText(B, { strategy: 'ar', maxTokens: 3, temperature: 0.8, repetitionPenalty: 1.2 })).stats.stepsAhead).toBe(1);
    expect((await e3.generateText(B, { strategy: 'ar', maxTokens: 3, repetitionPenalty: 1.2 })).stats.stepsAhead).toBe(1);
    expect((await e3.generateText(B, { strategy: 'ar', maxTokens: 3, profile: true })).stats.stepsAhead).toBe(1);
  });

  it('non-finite logits reject with the ModelError of one step at a time, cache as it leaves it, engine usable', async () => {
    const engine = await Engine.load(await loadModelFiles(new MemorySource(overflowing())), { maxContext: MAX_CONTEXT, weightDtype: 'f32', device, stepsAhead: 3 });
    try {
      for (let i = 0; i < 2; i++) {
        const e = await engine.generateText(B, { strategy: 'ar', maxTokens: 4 }).then(() => new Error('resolved'), (err: Error) => err);
        expect(e.name, e.message).toBe('ModelError');
        // the first root, position 2, is not committed (verifyTree throws before the commit)
        expect(e.message).toContain('logits at position 2 are not finite');
        expect(engine.model.kv.length).toBe(B.length - 1);
      }
    } finally {
      engine.destroy();
    }
  });

  it('is an engine option: 1 on a software adapter, 2 on a GPU by default; other values are OptionsErrors', async () => {
    expect([resolveStepsAhead(undefined, true), resolveStepsAhead(undefined, false), engines.get(3)!.stepsAhead]).toEqual([1, 2, 3]);
    for (const bad of [0, 9, 1.5, '2', null]) {
      const err = await Engine.load(files, { device, stepsAhead: bad as number }).catch((x: Error) => x);
      expect((err as Error).name, String(bad)).toBe('OptionsError');
      expect((err as Error).message).toContain('"stepsAhead"');
    }
  });
});
