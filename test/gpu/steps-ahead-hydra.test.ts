/**
 * Greedy Hydra steps encoded ahead (EngineOptions.stepsAhead, src/draft/hydra-ahead.ts): with 2
 * or 3 steps in flight the tokens, the finish reason and the target's cache a generation leaves
 * are those of one step at a time (stepsAhead 1), and a following generate on the same engine
 * gives the same tokens, when generation ends on an end-of-sequence token, on max tokens, on the
 * context, on a stop string, on an abort or when the consumer stops early. Two targets: a
 * fixture with random heads (paths rejected early) and the shipped target with its trained heads
 * (paths accepted deep, the shape rebuilt from what the steps accept while steps are in flight).
 * Each step is one submit and one readback; steps past an end-of-sequence token are submitted
 * and dropped unread; sampled requests keep one step at a time; a ModelError leaves the engine usable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine';
import { acquireDevice } from '../../src/gpu/device';
import { makeFixture, type FixtureShape } from '../../src/model/fixture';
import { randomHeads } from '../../src/model/heads';
import { MemorySource } from '../../src/model/source';
import { loadModelFiles, type ModelFiles } from '../../src/model/weights';
import type { GenerateOptions } from '../../src/engine/options';
import type { LoadOptions } from '../../src/engine/engine';
import { overflowing } from './damaged-models';
import { consume, sameAsOneStep, withEndToken, type Left } from './generation-end';
import { shippedHeads, shippedModel } from './models';
import { itIn, mine } from './runtime';

const shape: FixtureShape = { modelType: 'llama', vocabSize: 384, hiddenSize: 64, intermediateSize: 136, numLayers: 2, numHeads: 4, numKvHeads: 2, dtype: 'f32' };
const MAX_CONTEXT = 48;
const DEPTHS = [1, 2, 3];
const TARGETS = ['random', 'shipped'] as const;
type TargetName = (typeof TARGETS)[number];
const HYDRA = { strategy: 'hydra' } as const;

let device: GPUDevice;
/** Per target: the prompts (A ends on its end-of-sequence token, B never does) and an engine per stepsAhead. */
const prompts = new Map<TargetName, { A: Int32Array; B: Int32Array }>();
const engines = new Map<string, Engine>();
const engine = (t: TargetName, n: number) => engines.get(`${t}/${n}`)!;

/** What a generation leaves that a later one could see: tokens, text, finish reason, cache length, and the next turn's tokens. */
async function run(e: Engine, prompt: Int32Array, opts: GenerateOptions, stopAfter?: number, how: 'return' | 'abort' = 'return'): Promise<Left> {
  const end = await consume(e, prompt, { ...HYDRA, ...opts }, stopAfter, how);
  return { ...end, next: await nextTurn(e, prompt, end.tokens) };
}

/** A following turn on the same engine: the conversation so far (its last 12 tokens) as its prompt. */
async function nextTurn(e: Engine, prompt: Int32Array, tokens: number[]): Promise<number[]> {
  return (await e.generateText(Int32Array.from([...prompt, ...tokens, 9].slice(-12)), { ...HYDRA, maxTokens: 8 })).tokens;
}

/** `got` (stepsAhead n) left what `want` (one step at a time, engine `one`) left: see sameAsOneStep. */
function same(got: Left, want: Left, n: number, one: Engine, prompt: Int32Array, opts: GenerateOptions): Promise<void> {
  return sameAsOneStep(got, want, `stepsAhead ${n}`, prompt.length, {
    whole: async () => (await one.generateText(prompt, { ...HYDRA, ...opts })).tokens,
    next: (tokens) => nextTurn(one, prompt, tokens),
  });
}

async function load(t: TargetName): Promise<{ files: ModelFiles; heads: LoadOptions['heads'] }> {
  if (t === 'shipped') return { files: await shippedModel('tinystories-target'), heads: shippedHeads('tinystories-target') };
  const files = await loadModelFiles(new MemorySource(makeFixture(shape, 5)));
  return { files, heads: randomHeads(files.config, { numHeads: 3, ffn: 48, trim: 200, seed: 6 }) };
}

/** The first prompt of `candidates` whose greedy output has an end-of-sequence token for the test (withEndToken), with the files that end there. */
function endOn(files: ModelFiles, candidates: number[][], B: Int32Array): { A: Int32Array; withEos: ModelFiles } {
  for (const c of candidates) {
    const A = Int32Array.from(c);
    try {
      return { A, withEos: withEndToken(files, A, B, 16, 6, MAX_CONTEXT).files };
    } catch {
      // the output repeats itself or B's: the next candidate
    }
  }
  throw new Error('no candidate prompt ends on an end-of-sequence token of its own');
}

describe('stepsAhead: greedy Hydra steps with steps in flight', () => {
  beforeAll(async () => {
    device = (await acquireDevice()).device;
    for (const t of TARGETS) {
      const { files, heads } = await load(t);
      const B = t === 'shipped' ? Int32Array.from([1, 365, 1794, 471, 263]) : Int32Array.from([7, 300, 12]);
      // an EOS that ends A's output after a few steps and never B's: the first candidate with one
      const { A, withEos } = endOn(files, t === 'shipped' ? [[1, 9038, 2501, 263, 931]] : [[5, 17, 99, 3, 250, 41], [11, 230, 57, 140], [33, 2, 301, 78, 19]], B);
      prompts.set(t, { A, B });
      for (const n of DEPTHS) engines.set(`${t}/${n}`, await Engine.load(withEos, { maxContext: MAX_CONTEXT, maxTreeNodes: 16, device, stepsAhead: n, heads }));
    }
  }, 600_000);
  afterAll(() => {
    for (const e of engines.values()) e.destroy();
  });

  const cases: [string, 'A' | 'B', GenerateOptions, string, number?, ('return' | 'abort')?][] = [
    ['an end-of-sequence token', 'A', { maxTokens: 16 }, 'eos'],
    ['max tokens (11)', 'B', { maxTokens: 11 }, 'length'],
    ['the context', 'B', { maxTokens: 100 }, 'context'],
    ['the context with a small tree budget', 'B', { maxTokens: 100, treeBudget: 3 }, 'context'],
    ['the consumer stopping after 2 chunks', 'B', { maxTokens: 20 }, 'consumer', 2],
    ['an abort after 3 chunks', 'B', { maxTokens: 20 }, 'aborted', 3, 'abort'],
  ];
  // The two gpu projects share the cases (./runtime.ts mine): the random heads run every case, the
  // shipped target (a 6-layer model, the suite's time) those where deep paths and reshapes matter.
  const shippedCases = new Set(['max tokens (11)', 'the context']);
  for (const [i, t] of TARGETS.entries()) {
    for (const [j, [name, which, opts, finish, stopAfter, how]] of cases.entries()) {
      if (t === 'shipped' && !shippedCases.has(name)) continue;
      it.runIf(mine(i + j))(`${t} heads: ends on ${name} as one step at a time does, cache included`, async () => {
        const prompt = prompts.get(t)![which];
        const want = await run(engine(t, 1), prompt, opts, stopAfter, how);
        expect(want.finish).toBe(finish);
        for (const n of DEPTHS.slice(1)) await same(await run(engine(t, n), prompt, opts, stopAfter, how), want, n, engine(t, 1), prompt, opts);
      });
    }
  }

  itIn('node')('shipped heads: ends on a stop string as one step at a time does, cache included', async () => {
    const { B } = prompts.get('shipped')!;
    const ref = await engine('shipped', 1).generateText(B, { ...HYDRA, maxTokens: 12 });
    // the text of output tokens 5..6: a stop string met inside a step's accepted path
    const stop = engine('shipped', 1).tokenizer.decode(ref.tokens.slice(5, 7));
    expect(stop.trim().length, `stop string from ${ref.tokens}`).toBeGreaterThan(0);
    const opts = { maxTokens: 12, stop: [stop] };
    const want = await run(engine('shipped', 1), B, opts);
    expect(want.finish).toBe('stop');
    for (const n of DEPTHS.slice(1)) await same(await run(engine('shipped', n), B, opts), want, n, engine('shipped', 1), B, opts);
  });

  itIn('browser')('each step is one submit and one readback, the trained heads accepted; steps past an end-of-sequence token are dropped', async () => {
    for (const t of TARGETS) {
      const { B } = prompts.get(t)!;
      const { stats, tokens } = await engine(t, 3).generateText(B, { ...HYDRA, maxTokens: 20 });
      expect(tokens).toEqual((await engine(t, 1).generateText(B, { ...HYDRA, maxTokens: 20 })).tokens);
      expect(stats.stepsAhead).toBe(3);
      const steps = stats.steps.length;
      expect({ t, submits: stats.gpu.submits, readbacks: stats.gpu.readbacks, draftReadbacks: stats.gpu.draftReadbacks }).toEqual({ t, submits: steps, readbacks: steps, draftReadbacks: 0 });
      // the first step comes after the prefill's drafting; every step verifies a tree
      expect(stats.steps.slice(0, -1).every((s) => s.treeSize > 0)).toBe(true);
      if (t === 'shipped') expect(stats.tau).toBeGreaterThan(1.5);
    }
    const { A } = prompts.get('random')!;
    const eos = (await engine('random', 3).generateText(A, { ...HYDRA, maxTokens: 16 })).stats;
    expect(eos.finishReason).toBe('eos');
    // the step that ends on EOS is read; those behind it (as many as the bounds let in flight) were submitted and never read
    expect(eos.gpu.readbacks).toBe(eos.steps.length);
    expect(eos.gpu.submits).toBeGreaterThan(eos.steps.length);
  });

  itIn('node')('sampled and penalised requests keep one step at a time, and their output does not depend on stepsAhead', async () => {
    const { B } = prompts.get('random')!;
    for (const opts of [{ temperature: 0.8, seed: 3 }, { repetitionPenalty: 1.3 }]) {
      // the heads' shape follows the steps of earlier generations: both start from the prior
      for (const n of [1, 3]) (await engine('random', n).drafter('hydra')).reset();
      const one = await engine('random', 1).generateText(B, { ...HYDRA, maxTokens: 8, ...opts });
      const three = await engine('random', 3).generateText(B, { ...HYDRA, maxTokens: 8, ...opts });
      expect(three.stats.stepsAhead).toBe(1);
      expect(three.tokens).toEqual(one.tokens);
    }
  });

  it('non-finite logits reject with the ModelError of one step at a time, cache as it leaves it, engine usable', async () => {
    const bad = await loadModelFiles(new MemorySource(overflowing()));
    const heads = randomHeads(bad.config, { numHeads: 3, ffn: 48, trim: 200, seed: 6 });
    const e = await Engine.load(bad, { maxContext: MAX_CONTEXT, weightDtype: 'f32', device, stepsAhead: 3, heads });
    const { B } = prompts.get('random')!;
    try {
      for (let i = 0; i < 2; i++) {
        const err = await e.generateText(B, { ...HYDRA, maxTokens: 6 }).then(() => new Error('resolved'), (x: Error) => x);
        expect(err.name, err.message).toBe('ModelError');
        expect(e.model.kv.length).toBe(B.length - 1);
      }
    } finally {
      e.destroy();
    }
    // a healthy engine on the same device runs Hydra steps in flight afterwards
    const want = (await engine('random', 1).generateText(B, { ...HYDRA, maxTokens: 6 })).tokens;
    expect((await engine('random', 3).generateText(B, { ...HYDRA, maxTokens: 6 })).tokens).toEqual(want);
  });
});
