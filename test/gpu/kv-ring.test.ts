/**
 * The KV rings of sliding-window layers (src/kv/cache.ts) end to end, on a random Gemma 3
 * fixture whose local layers see 8 keys, with trees of up to 16 rows: their caches are rings of
 * 8 + 16 slots in a context of 96, so a generation of 50-80 positions wraps them two or three
 * times, and tree rows, their K/V writes and the commit compaction cross the wrap.
 *  - the local layers hold rings, the global one the full cache; the estimate is the allocation;
 *  - plain greedy decoding equals the CPU reference (a full cache): tokens and every step's
 *    logits;
 *  - speculative strategies give plain decoding's tokens: CPU drafters, early exit (chains in
 *    the target's own cache, truncated away), and in Node the draft model (the same fixture, so
 *    it is accepted deep, through trees grown on the GPU whose accepted paths move rows in both
 *    caches, each with rings);
 *  - prefix reuse: a drafter's cache that shares only a short prefix with the next context, which
 *    its rings no longer hold, is recomputed (the drafted chain is the reference's greedy one).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine';
import { DraftModel } from '../../src/draft/draft-model';
import { makeFixture, type FixtureShape } from '../../src/model/fixture';
import { MemorySource } from '../../src/model/source';
import { loadModelFiles, type ModelFiles } from '../../src/model/weights';
import { ReferenceModel } from '../../src/model/reference';
import { estimateMemory } from '../../src/model/memory';
import { acquireDevice } from '../../src/gpu/device';
import { expectClose } from './util';
import { mine, runtime } from './runtime';
import { SelfDrafter } from '../../src/draft/self';
import { defaultSampling } from '../../src/verify/sampler';
import { Rng } from '../../src/verify/rng';

/** Layers local, local, global (Gemma 3's pattern at 3), an 8-key window. */
const shape: FixtureShape = {
  modelType: 'gemma3', vocabSize: 320, hiddenSize: 32, intermediateSize: 64, numLayers: 3, numHeads: 2, numKvHeads: 1, headDim: 16,
  slidingWindow: 8, slidingPattern: 3, dtype: 'f32',
};
const MAX_CONTEXT = 96;
/** Verify passes of up to 16 rows: rings of 8 + 16 slots (24 slots of 64 bytes fill their 256-byte alignment exactly). */
const options = { maxContext: MAX_CONTEXT, weightDtype: 'f32', maxTreeNodes: 15, stepsAhead: 1 } as const;
const ATOL = 1e-3;

describe('KV rings of sliding-window layers (Gemma 3 fixture, window 8)', () => {
  let files: ModelFiles;
  /** Node only (suite time: a second model's pipelines). */
  let draftModel: DraftModel | null = null;
  let engine: Engine;
  let prompt: Int32Array;
  beforeAll(async () => {
    const { device } = await acquireDevice();
    files = await loadModelFiles(new MemorySource(makeFixture(shape, 5)));
    // the same fixture drafting for itself: it drafts what the target emits
    // (maxTreeRows 48: room for the GPU-grown trees of ModelDrafter's default 4 x 10 levels, src/draft/gpu-grow.ts)
    if (runtime === 'node') draftModel = await DraftModel.load(device, files, { maxContext: MAX_CONTEXT, weightDtype: 'f32', maxTreeRows: 48 });
    engine = await Engine.load(files, { ...options, ...(draftModel ? { draft: draftModel } : {}) });
    prompt = engine.encodePrompt('Once upon a time', { chat: false, addSpecialTokens: true });
  });
  afterAll(() => {
    engine?.destroy();
    draftModel?.destroy();
  });

  it('gives local layers rings of window + tree rows and the global layer the full cache; the estimate is the allocation', () => {
    const kv = engine.model.kv;
    expect([kv.ringOf(0), kv.ringOf(1), kv.ringOf(2)]).toEqual([24, 24, 0]);
    if (draftModel) expect(draftModel.gpu.kv.ringOf(0)).toBe(8 + 48);
    expect(kv.capacity).toBe(MAX_CONTEXT + 16);
    const allocated = kv.groups.reduce((n, g) => n + g.k.size + g.v.size, 0);
    // two rings of 24 slots and one layer of 112, 64 bytes a slot, for K and V
    expect(allocated).toBe(2 * 64 * (2 * 24 + 112));
    expect(estimateMemory(files.config, { dtype: 'f32', maxContext: MAX_CONTEXT, maxRows: 16 }).kvCache).toBe(allocated);
    expect(kv.groups.length, 'one compaction dispatch').toBe(1);
  });

  it('decodes greedily past several windows as the CPU reference does: tokens and logits of every step', async () => {
    const model = engine.model;
    const vocab = shape.vocabSize;
    const ref = ReferenceModel.fromFiles(files, MAX_CONTEXT);
    let refLogits = ref.forward(prompt).subarray((prompt.length - 1) * vocab);
    model.prefill(prompt);
    let last = prompt[prompt.length - 1];
    const tokens: number[] = [];
    while (model.kv.length < 80) {
      model.forward(Int32Array.of(last), Int32Array.of(model.kv.length), Uint32Array.of(1, 0, 0, 0));
      expectClose(await model.readLogits(1), refLogits, ATOL, 0, `logits at position ${model.kv.length}`);
      last = (await model.readArgmaxTopK(1)).argmax[0];
      model.commit([0]);
      tokens.push(last);
      refLogits = ref.forward(Int32Array.of(last));
    }
    const refTokens = ReferenceModel.fromFiles(files, MAX_CONTEXT).generateGreedy(prompt, tokens.length);
    expect(tokens).toEqual(Array.from(refTokens));
  });

  /** A generation's tokens and each step's accepted count: the drafter's behaviour, not only the output. */
  async function run(ids: Int32Array, strategy: string, maxTokens = 50): Promise<{ tokens: number[]; accepted: number[] }> {
    const r = await engine.generateText(ids, { maxTokens, strategy, treeBudget: 15 });
    return { tokens: Array.from(r.tokens), accepted: r.stats.steps.map((s) => s.accepted) };
  }

  it('greedy speculative output equals plain output with trees and commits across the wrap', async () => {
    const plain = await run(prompt, 'ar');
    expect(plain.tokens.length).toBe(50);
    // a CPU drafter and early exit in each gpu project (./runtime.ts), the draft model in Node
    const strategies = [...['lookup', 'recycling'].filter((_, i) => mine(i)), ...(draftModel ? ['draft'] : ['early-exit'])];
    for (const strategy of strategies) {
      const spec = await run(prompt, strategy);
      expect({ strategy, tokens: spec.tokens }).toEqual({ strategy, tokens: plain.tokens });
      expect(spec.accepted.reduce((a, b) => a + b, 0), `${strategy}: nodes accepted`).toBeGreaterThan(strategy === 'draft' ? 30 : 0);
    }
  });

  it('recomputes a short common prefix that a drafter cache\'s rings have overwritten', async () => {
    // the self drafter over the target's own model: its cache syncs to each context (prefix reuse)
    const model = engine.model;
    const drafter = new SelfDrafter(model);
    const ctx = (tokens: Int32Array) => ({ tokens, sampling: false, options: defaultSampling, rng: new Rng(0) });
    const long = Int32Array.from({ length: 60 }, (_, i) => 3 + ((i * 37) % 300));
    await drafter.propose(ctx(long), 4);
    // shares 3 tokens with the 59 cached, far behind what the rings still hold
    const second = Int32Array.from([...long.subarray(0, 3), 7, 9, 11, 13]);
    const tree = await drafter.propose(ctx(second), 6);
    expect(model.kv.length).toBe(second.length - 1);
    expect(Array.from(tree.tokens)).toEqual(Array.from(ReferenceModel.fromFiles(files, 16).generateGreedy(second, 6)));
  });
});
