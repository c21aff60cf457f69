/**
 * Faults of a running engine (issue 20), on one device (its pipelines compile once):
 *  - Engine.destroy() while generations run: the generation in the middle of a step finishes
 *    that step on intact buffers (no GPU validation error), then rejects with
 *    EngineDestroyedError; queued and later generations reject with it too; a generation paused
 *    between steps rejects at its next step; Engine.load afterwards works and gives the same tokens.
 *  - Non-finite logits: a model whose layer-0 norm overflows f32 makes every logit NaN, one
 *    with a few overflowing LM-head rows makes only those logits non-finite; either generation
 *    rejects with ModelError (greedy and sampled, plain and speculative) instead of an
 *    OptionsError about token -1 or the argmax of the finite rest, and the device stays usable.
 *  - Prompts of the wrong type (null, a number, non-integer or negative ids) are OptionsErrors;
 *    so are draft, fusion and cross-vocab on an engine loaded without a draft model.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { Engine } from '../../src/engine/engine';
import { acquireDevice } from '../../src/gpu/device';
import { FIXTURE_SHAPES, makeFixture } from '../../src/model/fixture';
import { MemorySource } from '../../src/model/source';
import { loadModelFiles, type ModelFiles } from '../../src/model/weights';
import type { GenerateChunk } from '../../src/engine/decode-loop';
import { overflowing, partlyOverflowing } from './damaged-models';

const engineOpts = { maxContext: 64, maxTreeNodes: 8, weightDtype: 'f32' as const };
const prompt = 'the cat sat on the mat';

async function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(
    (v) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(v)}`);
    },
    (e: Error) => e,
  );
}

/** Counts GPU errors nobody captured (a destroyed buffer used by a submit is one). */
function gpuErrors(device: GPUDevice): string[] {
  const errors: string[] = [];
  device.addEventListener('uncapturederror', (ev) => errors.push((ev as GPUUncapturedErrorEvent).error.message));
  return errors;
}

let device: GPUDevice;
beforeAll(async () => {
  device = (await acquireDevice()).device; // one device: its pipelines compile once
});

describe('Engine.destroy() during generation', () => {
  let files: ModelFiles;
  beforeAll(async () => {
    files = await loadModelFiles(new MemorySource(makeFixture(FIXTURE_SHAPES.tiny, 5)));
  });

  it('mid-step: the step ends on intact buffers, the generation and the queued ones reject; paused: rejects on resume; a new engine works', async () => {
    const errors = gpuErrors(device);
    const engine = await Engine.load(files, { ...engineOpts, device });
    const a = engine.generate(prompt, { maxTokens: 8, strategy: 'ar' });
    const seen = [...((await a.next()).value as GenerateChunk).tokens];
    const queued = engine.generateText(prompt, { maxTokens: 5, strategy: 'ar' }); // waits for `a`
    seen.push(...((await a.next()).value as GenerateChunk).tokens);
    const step = a.next(); // the third step is in flight ...
    engine.destroy(); // ... when the engine is destroyed
    const e = await rejection(step);
    expect(e.name).toBe('EngineDestroyedError');
    expect(e.message).toMatch(/destroyed.*Engine\.load/);
    expect((await rejection(queued)).name).toBe('EngineDestroyedError');
    expect((await rejection(engine.generateText(prompt, { maxTokens: 2 }))).name).toBe('EngineDestroyedError');

    const again = await Engine.load(files, { ...engineOpts, device });
    const reference = (await again.generateText(prompt, { maxTokens: 8, strategy: 'ar' })).tokens;
    // The tokens before the destroy were the model's.
    expect(seen).toEqual(reference.slice(0, seen.length));
    const b = again.generate(prompt, { maxTokens: 8, strategy: 'ar' });
    await b.next();
    again.destroy(); // between steps: freed at once
    expect((await rejection(b.next())).name).toBe('EngineDestroyedError');
    // No submit used a destroyed buffer.
    await device.queue.onSubmittedWorkDone();
    expect(errors).toEqual([]);
  });
});

describe('non-finite logits on the GPU', () => {
  it('end the generation with ModelError, never a token', async () => {
    for (const [name, model] of [['all NaN', overflowing], ['a few overflowing', partlyOverflowing]] as const) {
      const engine = await Engine.load(await loadModelFiles(new MemorySource(model())), { ...engineOpts, device });
      try {
        for (const o of [{ strategy: 'ar' }, { strategy: 'ar', temperature: 0.8 }, { strategy: 'lookup', treeBudget: 3 }]) {
          const e = await engine.generateText('the cat sat', { maxTokens: 3, ...o }).then(
            (r) => new Error(`expected ModelError, got ${JSON.stringify(r.tokens)}`),
            (err: Error) => err,
          );
          expect(e.name, `${name} ${JSON.stringify(o)}: ${e.message}`).toBe('ModelError');
          expect(e.message).toMatch(/logits at position \d+ are not finite/);
        }
      } finally {
        engine.destroy();
      }
    }
    // A sound model on the same device afterwards: no state is left behind.
    const ok = await Engine.load(await loadModelFiles(new MemorySource(makeFixture(FIXTURE_SHAPES.tiny, 7))), { ...engineOpts, device });
    expect((await ok.generateText('the cat sat', { maxTokens: 2, strategy: 'ar' })).tokens).toHaveLength(2);
    // Prompts of the wrong type are named (never a TypeError), and the engine stays usable.
    for (const bad of [null, 42, [1.5], Int32Array.of(-1)]) {
      const e = await ok.generateText(bad as never).then(() => new Error('expected a rejection'), (err: Error) => err);
      expect(e.name, String(bad)).toBe('OptionsError');
      expect(e.message).toMatch(/^the prompt/);
    }
    expect((await ok.generateText('the cat sat', { maxTokens: 2, strategy: 'ar' })).tokens).toHaveLength(2);
    // Strategies that need a draft model the engine was not given are refused, not run with a
    // silent copy of the target, and not listed.
    for (const strategy of ['draft', 'fusion', 'cross-vocab', 'auto:draft,lookup']) {
      const e = await ok.generateText('the cat sat', { maxTokens: 2, strategy }).then(() => new Error('expected a rejection'), (err: Error) => err);
      expect(e.name, strategy).toBe('OptionsError');
      expect(e.message).toMatch(/^strategy "(draft|fusion|cross-vocab)" needs a draft model.*load option "(draft|crossVocabDraft)".*draftWithTarget: true.*strategy "self"/);
    }
    expect(ok.strategyNames()).not.toContain('draft');
    expect(ok.strategyNames()).not.toContain('fusion');
    expect(ok.strategyNames()).not.toContain('cross-vocab');
    expect(ok.strategyNames()).toContain('self');
    expect((await ok.generateText('the cat sat', { maxTokens: 2, strategy: 'ar' })).tokens).toHaveLength(2);
    ok.destroy();
  });
});
