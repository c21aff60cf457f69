/**
 * The GPU cost of a token, pinned (DESIGN section 8): stats.gpu counts what the decode loop
 * really encodes - dispatches, submits, readbacks, bytes read back - and attributes the
 * drafters' share. The counts are exact on any adapter, so a change that adds a dispatch per
 * layer, a submit or a round trip per step fails here.
 *
 * Model: a 2-layer fixture (vocabulary 512, top-k 8), f32 weights, the engine's default plan,
 * plain decoding one step at a time on any adapter (stepsAhead 1; test/gpu/steps-ahead.test.ts
 * pins the counts of steps encoded ahead).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine';
import { FIXTURE_SHAPES, makeFixture } from '../../src/model/fixture';
import { MemorySource } from '../../src/model/source';
import { loadModelFiles, type ModelFiles } from '../../src/model/weights';
import { GpuModel } from '../../src/model/gpu-model';
import { ReferenceModel } from '../../src/model/reference';
import { isSoftwareAdapter } from '../../src/gpu/adapter';
import { expectClose } from './util';
import { chain } from './tree-util';
import type { GenerationStats } from '../../src/engine/stats';
import { registerStrategy } from '../../src/engine/strategies';
import { EarlyExitDrafter } from '../../src/draft/early-exit';
import type { Drafter, VerifyObservation } from '../../src/draft/drafter';
import { emptyTree } from '../../src/tree/types';

const LAYERS = FIXTURE_SHAPES.tiny.numLayers;
/**
 * Dispatches of one layer in a software adapter's default plan: input RMSNorm, q/k/v (one
 * matmul), RoPE + K/V write, attention, o, post RMSNorm, gate/up, down (silu * up fused in).
 */
const PER_LAYER_SOFTWARE = 8;
/** The plan a GPU adapter gets: the RMSNorms fused into q/k/v and gate/up too. */
const PER_LAYER_GPU = 6;
/** The default plan of the adapter the tests run on. */
let PER_LAYER = PER_LAYER_SOFTWARE;
/** A pass that only fills the cache (prefill chunk, a drafter's catch-up): the embedding and the layers. */
let FILL_PASS = 0;
/**
 * A pass with logits: the above, the LM head (final RMSNorm fused in), and the top-k (one stage
 * at this vocabulary on any adapter) or, for a greedy step whose drafter needs no more, the
 * argmax alone (Drafter.needsTopK): one dispatch either way here; the GPU-plan case below
 * builds a GPU's two-stage top-k, where the argmax saves one.
 */
let LOGITS_PASS = 0;
/** A verify step: the pass and the acceptance walk, one command buffer. */
let VERIFY_STEP = 0;
/** The walk's readback under greedy decoding for a tree of `depth`: 4 header words, room for depth nodes, top-k (8) of depth + 1 path rows. */
const walkBytes = (depth: number) => (4 + depth + 8 * (depth + 1)) * 4;

const prompt = Int32Array.from([5, 17, 99, 3, 250, 41]);

function targetShare(s: GenerationStats) {
  const g = s.gpu;
  return { dispatches: g.dispatches - g.draftDispatches, submits: g.submits - g.draftSubmits, readbacks: g.readbacks - g.draftReadbacks, bytesRead: g.bytesRead - g.draftBytesRead };
}

let files: ModelFiles;

describe('stats.gpu: the decode loop\'s dispatches, submits and readbacks', () => {
  let engine: Engine;
  beforeAll(async () => {
    files = await loadModelFiles(new MemorySource(makeFixture(FIXTURE_SHAPES.tiny, 3)));
    engine = await Engine.load(files, { maxContext: 96, maxTreeNodes: 15, weightDtype: 'f32', stepsAhead: 1 });
    PER_LAYER = isSoftwareAdapter(engine.device) ? PER_LAYER_SOFTWARE : PER_LAYER_GPU;
    FILL_PASS = 1 + PER_LAYER * LAYERS;
    LOGITS_PASS = FILL_PASS + 2;
    VERIFY_STEP = LOGITS_PASS + 1;
  });
  afterAll(() => engine?.destroy());

  it('plain decoding: one pass, one submit and one small readback per token', async () => {
    const { stats } = await engine.generateText(prompt, { maxTokens: 6, strategy: 'ar' });
    const n = stats.targetForwards;
    expect(n).toBe(6);
    expect(stats.gpu).toEqual({
      dispatches: n * VERIFY_STEP,
      submits: n,
      readbacks: n,
      bytesRead: n * walkBytes(0),
      draftDispatches: 0,
      draftSubmits: 0,
      draftReadbacks: 0,
      draftBytesRead: 0,
    });
  });

  it('self-drafting: the draft copy\'s passes and reads are the draft share, the target\'s stay per step', async () => {
    const { stats } = await engine.generateText(prompt, { maxTokens: 8, strategy: 'self', treeBudget: 3 });
    const steps = stats.targetForwards;
    const drafted = stats.steps.reduce((s, r) => s + r.treeSize, 0);
    const accepted = stats.steps.map((r) => r.accepted);
    // The copy accepts everything: a chain's path keeps its slots, nothing to compact.
    expect(accepted.every((a, i) => a === stats.steps[i].treeSize)).toBe(true);
    expect(targetShare(stats)).toEqual({ dispatches: steps * VERIFY_STEP, submits: steps, readbacks: steps, bytesRead: accepted.reduce((s, a) => s + walkBytes(a), 0) });
    // Per step the copy catches up on the committed tokens (one fill pass), then drafts its
    // chain: a pass with logits and a top-k read (two submits, one readback) per token.
    const g = stats.gpu;
    expect({ d: g.draftDispatches, s: g.draftSubmits, r: g.draftReadbacks, b: g.draftBytesRead }).toEqual({
      d: steps * FILL_PASS + drafted * LOGITS_PASS,
      s: steps + 2 * drafted,
      r: drafted,
      b: drafted * 8 * 4,
    });
  });

  it('early exit: the target\'s layers run for drafting count as the drafter\'s', async () => {
    registerStrategy('early-exit-L1', (ctx) => new EarlyExitDrafter(ctx.target, { fixed: { layer: 1, length: 2 } }));
    const { stats } = await engine.generateText(prompt, { maxTokens: 8, strategy: 'early-exit-L1' });
    const steps = stats.targetForwards;
    // chains: a tree's depth is its size
    expect(targetShare(stats)).toEqual({ dispatches: steps * VERIFY_STEP, submits: steps, readbacks: steps, bytesRead: stats.steps.reduce((s, r) => s + walkBytes(r.treeSize), 0) });
    // every drafted token: a pass through layer 0 and the head, its top-k read back; a step
    // drafted without the drafter (no room left) may probe the exit: head and top-k over a
    // saved hidden state, one submit, one readback
    const drafted = stats.steps.reduce((s, r) => s + r.treeSize, 0);
    expect(drafted).toBeGreaterThan(0);
    const g = stats.gpu;
    const probes = g.draftSubmits - 2 * drafted;
    expect(probes).toBeGreaterThanOrEqual(0);
    expect(probes).toBeLessThanOrEqual(1);
    expect({ d: g.draftDispatches, r: g.draftReadbacks }).toEqual({ d: drafted * (1 + PER_LAYER + 2) + probes * 2, r: drafted + probes });
  });

  it('a greedy step computes the whole top-k only for a drafter that reads it (needsTopK); sampling always does', async () => {
    const seen: Record<string, Int32Array[]> = {};
    const probe = (name: string, needsTopK: boolean): Drafter => ({
      name,
      needsTopK,
      propose: () => emptyTree(),
      observe: (obs: VerifyObservation) => void (seen[name] ??= []).push(obs.topK.slice(0, obs.k)),
      reset: () => {},
    });
    registerStrategy('probe-argmax', () => probe('probe-argmax', false));
    registerStrategy('probe-topk', () => probe('probe-topk', true));
    const greedy = await engine.generateText(prompt, { maxTokens: 3, strategy: 'probe-argmax' });
    await engine.generateText(prompt, { maxTokens: 3, strategy: 'probe-topk' });
    expect(seen['probe-argmax'].map((row) => Array.from(row))).toEqual(greedy.tokens.map((t) => [t, ...new Array(7).fill(-1)]));
    expect(seen['probe-topk'].map((row) => row[0])).toEqual(greedy.tokens);
    for (const row of seen['probe-topk']) expect(new Set(row).size === 8 && row.every((id) => id >= 0), `top-8 ${row}`).toBe(true);
    await engine.generateText(prompt, { maxTokens: 2, strategy: 'probe-argmax', temperature: 0.7, seed: 3 });
    for (const row of seen['probe-argmax'].slice(3)) expect(new Set(row).size === 8 && row.every((id) => id >= 0), `sampled top-8 ${row}`).toBe(true);
  });

  it('a commit that moves K/V rows costs one compaction dispatch for all layers, recorded by the next pass', async () => {
    const plain = (await engine.generateText(prompt, { maxTokens: 5, strategy: 'ar' })).tokens;
    // Two children of the root, the target's token second: the path [0, 2] moves row 2 to slot 1.
    const siblings: Drafter = {
      name: 'probe-siblings',
      propose: (ctx, budget) => {
        const next = plain[ctx.tokens.length - prompt.length];
        return budget < 2 ? emptyTree() : { tokens: Int32Array.of((next + 1) % 512, next), parents: Int32Array.of(-1, -1), draft: { kind: 'deterministic' } };
      },
      observe: () => {},
      reset: () => {},
    };
    registerStrategy('probe-siblings', () => siblings);
    const { stats, tokens } = await engine.generateText(prompt, { maxTokens: 5, strategy: 'probe-siblings', treeBudget: 2 });
    expect(tokens).toEqual(plain);
    const steps = stats.targetForwards;
    // every step but the last accepted its second node; the last step's moves stay pending
    const moved = stats.steps.slice(0, -1).filter((r) => r.treeSize === 2 && r.accepted === 1).length;
    expect(moved).toBeGreaterThan(0);
    expect(targetShare(stats).dispatches).toBe(steps * VERIFY_STEP + moved);
  });

  // The plan a GPU adapter gets, built here whatever the adapter (the software plan is the
  // engine's above; its logits are forward.test.ts's): a pass's dispatches, and its logits
  // against the CPU reference. The top-k in two stages, as a GPU's 2048-logit slices run it
  // over a vocabulary above 2048 (the shipped target's 32000): slices of 256 of this 512.
  it(`the GPU adapter's plan: ${PER_LAYER_GPU} dispatches per layer + 3 per pass (2 with the argmax alone), logits as the reference's`, async () => {
    const model = await GpuModel.load(engine.device, files, { maxContext: 32, maxTreeRows: 8, weightDtype: 'f32', fuseNorm: true, fuseSilu: true, topKSlice: 256 });
    try {
      const tokens = Int32Array.of(7, 300, 12, 5, 498);
      const pass = (topK: boolean) => {
        const before = model.counter.snapshot().dispatches;
        model.forward(tokens, Int32Array.of(0, 1, 2, 3, 4), chain(5).mask, { topK });
        return model.counter.snapshot().dispatches - before;
      };
      expect(pass(true)).toBe(1 + PER_LAYER_GPU * LAYERS + 3);
      expectClose(await model.readLogits(5), ReferenceModel.fromFiles(files, 32).forward(tokens), 2e-4, 0, 'GPU plan logits');
      const full = await model.readArgmaxTopK(5);
      expect(pass(false)).toBe(1 + PER_LAYER_GPU * LAYERS + 2);
      const alone = await model.readArgmaxTopK(5);
      expect(Array.from(alone.argmax)).toEqual(Array.from(full.argmax));
      expect(Array.from(alone.topK)).toEqual(Array.from(full.argmax).flatMap((t) => [t, ...new Array(7).fill(-1)]));
    } finally {
      model.destroy();
    }
  });
});
