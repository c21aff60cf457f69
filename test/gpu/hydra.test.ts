/**
 * Hydra draft heads (src/draft/hydra*.ts) on the GPU engine:
 *  - the tree drafted on the GPU (gather, head, LM head, top-k per level) equals the CPU
 *    reference (src/model/heads-reference.ts) run on the same hidden state, after a prefill and
 *    after a verify step (the gather reading the walk's result);
 *  - greedy output equals plain greedy output (random heads on a fixture; the shipped heads on
 *    the shipped target, which must also be accepted), with 1 + 3 x levels draft dispatches;
 *  - under sampling, the first two tokens follow the target's exact distribution.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { Engine } from '../../src/engine/engine';
import { makeFixture, type FixtureShape } from '../../src/model/fixture';
import { MemorySource } from '../../src/model/source';
import { loadModelFiles, tensorF32, type ModelFiles } from '../../src/model/weights';
import { randomHeads, type HydraHeads } from '../../src/model/heads';
import { finalNormState, headLogits, headStep, trimmedTable } from '../../src/model/heads-reference';
import { topK } from '../../src/model/cpu-ops';
import { HydraDrafter } from '../../src/draft/hydra';
import { registerStrategy } from '../../src/engine/strategies';
import type { TreeShape } from '../../src/draft/hydra-shape';
import { Rng } from '../../src/verify/rng';
import { shippedHeads, shippedModel } from './models';
import { exactFirstTwo, firstTwoPValue, type FirstTwo } from './first-two';
import { describeIn, mine } from './runtime';
import { readF32 } from './util';
import { countsSince } from '../../src/gpu/counter';
import { layoutTree } from '../../src/tree/layout';
import { verifyTree } from '../../src/engine/verify-step';

const shape: FixtureShape = { modelType: 'llama', vocabSize: 384, hiddenSize: 64, intermediateSize: 136, numLayers: 2, numHeads: 4, numKvHeads: 2, dtype: 'f32' };
const prompts = ['Once upon a time there was a', 'def add(a, b):\n    return a + b\n\ndef add(a, b):'];

async function fixture(seed: number): Promise<{ files: ModelFiles; heads: HydraHeads }> {
  const files = await loadModelFiles(new MemorySource(makeFixture(shape, seed)));
  return { files, heads: randomHeads(files.config, { numHeads: 3, ffn: 48, trim: 200, seed: seed + 1 }) };
}

/** The CPU reference of a whole drafting: level by level over the shape's frontiers, top-k per frontier node. */
function referenceTree(files: ModelFiles, heads: HydraHeads, x: Float32Array, root: number, s: TreeShape): number[] {
  const H = heads.hidden;
  const embed = tensorF32(files.tensors.get('model.embed_tokens.weight')!);
  const eTrim = trimmedTable(heads, embed);
  const state = new Map<number, Float32Array>([[-2, finalNormState(x, tensorF32(files.tensors.get('model.norm.weight')!), files.config.rmsNormEps)]]);
  const token = (u: number) => (u < 0 ? root : tokens[u]);
  const tokens: number[] = new Array(s.parents.length).fill(-1);
  s.frontier.forEach((nodes, d) => {
    for (const u of nodes) {
      const parentState = state.get(u < 0 ? -2 : s.parents[u])!;
      const st = headStep(heads, d, parentState, embed.subarray(token(u) * H, (token(u) + 1) * H));
      state.set(u, st);
      const best = topK(headLogits(eTrim, st), s.k);
      s.parents.forEach((p, i) => {
        if (p === u) tokens[i] = heads.vocabIds[best[s.rank[i]]];
      });
    }
  });
  return tokens;
}

describe('hydra on a random fixture', () => {
  let engine: Engine;
  let files: ModelFiles;
  let heads: HydraHeads;
  beforeAll(async () => {
    ({ files, heads } = await fixture(5));
    engine = await Engine.load(files, { maxContext: 128, weightDtype: 'f32', maxTreeNodes: 16, heads });
  });
  afterAll(() => engine?.destroy());

  it('drafts on the GPU the tree of the CPU reference, after a prefill and after a verify step', async () => {
    const hydra = (await engine.drafter('hydra')) as HydraDrafter;
    const prompt = engine.encodePrompt(prompts[0], { chat: false, addSpecialTokens: true });
    const ctx = { sampling: false, options: { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1 }, rng: new Rng(1) };
    engine.model.prefill(prompt);
    await hydra.begin(prompt);
    const s = hydra.shape;
    expect(s.frontier.length).toBe(3); // every head drafts a level
    const x = await readF32(engine.device, engine.model.headInputs().x, H(), (engine.model.lastPassRows - 1) * H());
    const tree = hydra.propose({ ...ctx, tokens: prompt }, 16);
    expect(Array.from(tree.tokens)).toEqual(referenceTree(files, heads, x, prompt[prompt.length - 1], s));
    // One verify step: the next tree comes from the gather over the walk's result on the GPU.
    const layout = layoutTree(tree, files.config.vocabSize, 17);
    const [before, target0] = [hydra.counters()[0].snapshot(), engine.model.counter.snapshot()];
    const out = await verifyTree(engine.model, prompt, tree, layout, ctx.options, ctx.rng, false, hydra.inSubmit);
    engine.model.commit([0, ...Array.from(out.nodes, (i) => i + 1)]);
    // one command buffer and one readback for the pass, the walk and the next tree's 1 + 3 x 3 dispatches
    expect(countsSince(before, hydra.counters()[0].snapshot())).toEqual({ dispatches: 1 + 3 * 3, submits: 0, readbacks: 0, bytesRead: 0 });
    expect(countsSince(target0, engine.model.counter.snapshot())).toMatchObject({ submits: 1, readbacks: 1 });
    const lastRow = out.nodes.length ? out.nodes[out.nodes.length - 1] + 1 : 0;
    const x2 = await readF32(engine.device, engine.model.headInputs().x, H(), lastRow * H());
    const committed = Int32Array.from([...prompt, ...Array.from(out.nodes, (i) => tree.tokens[i]), out.bonus]);
    const next = hydra.propose({ ...ctx, tokens: committed }, 16);
    expect(Array.from(next.tokens)).toEqual(referenceTree(files, heads, x2, out.bonus, hydra.shape));
    expect(next.tokens).not.toEqual(tree.tokens);
  });

  it('greedy output equals plain greedy output', async () => {
    for (const [p, prompt] of prompts.entries()) {
      const plain = await engine.generateText(prompt, { maxTokens: 16, strategy: 'ar' });
      // The budgets are shared between the gpu projects (./runtime.ts), each meeting both prompts.
      for (const [i, treeBudget] of [2, 16].entries()) {
        if (!mine(p + i)) continue;
        const spec = await engine.generateText(prompt, { maxTokens: 16, strategy: 'hydra', treeBudget });
        expect({ treeBudget, tokens: spec.tokens }).toEqual({ treeBudget, tokens: plain.tokens });
        // every step but the last (whose room may be 0) verified a tree of the budget at most
        expect(spec.stats.steps.slice(0, -1).every((st) => st.treeSize > 0 && st.treeSize <= treeBudget)).toBe(true);
      }
    }
  });
});

function H(): number {
  return shape.hiddenSize;
}

describe('hydra on the shipped target with its trained heads', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(await shippedModel('tinystories-target'), { maxContext: 256, maxTreeNodes: 16, heads: shippedHeads('tinystories-target') });
  });
  afterAll(() => engine?.destroy());

  it('greedy output equals plain greedy output, and the heads are accepted', async () => {
    for (const prompt of ['Once upon a time, there was a little girl named']) {
      const plain = await engine.generateText(prompt, { maxTokens: 16, strategy: 'ar' });
      const spec = await engine.generateText(prompt, { maxTokens: 16, strategy: 'hydra', treeBudget: 8 });
      expect(spec.tokens).toEqual(plain.tokens);
      expect(spec.stats.tau).toBeGreaterThan(1.5);
      // per step: one submit and one readback in all; the heads' 1 + 3 x levels dispatches
      const { gpu, targetForwards } = spec.stats;
      expect([gpu.submits, gpu.readbacks, gpu.draftSubmits, gpu.draftReadbacks]).toEqual([targetForwards, targetForwards, 0, 0]);
      expect(gpu.draftDispatches).toBeGreaterThan(0);
      expect(gpu.draftDispatches).toBeLessThanOrEqual(targetForwards * (1 + 3 * engine.heads!.numHeads));
    }
  });
});

// In one gpu project (./runtime.ts).
describeIn('node')('hydra: sampling distribution (engine level)', () => {
  const sampling = { temperature: 1.3, topK: 3, topP: 1, repetitionPenalty: 1 };
  const trials = 150;
  let engine: Engine;
  let prompt: Int32Array;
  let exact: FirstTwo;

  beforeAll(async () => {
    const { files, heads } = await fixture(11);
    engine = await Engine.load(files, { maxContext: 64, weightDtype: 'f32', maxTreeNodes: 7 });
    prompt = engine.encodePrompt('Once upon a', { chat: false, addSpecialTokens: true });
    exact = exactFirstTwo(files, prompt, sampling, engine.kvDtype);
    // Heads whose trimmed vocabulary is the target's top-3 at the first step: every drafted
    // first token lies in the support, so acceptance (not only rejection) is exercised.
    const support = Int32Array.from(new Set(exact.cells.map((c) => Number(c.split(',')[0]))));
    const supportHeads = { ...heads, vocabIds: support };
    registerStrategy('test-hydra-support', async (ctx) => {
      const t = ctx.target.headInputs();
      const embedValues = tensorF32(files.tensors.get('model.embed_tokens.weight')!);
      const d = new HydraDrafter({ device: ctx.device, ...t, embedValues, lastPassRows: () => ctx.target.lastPassRows }, supportHeads, { maxRows: ctx.maxRows, k: support.length, matrixDtype: t.matrixDtype });
      await d.check();
      return d;
    });
  });
  afterAll(() => engine?.destroy());

  it('the first two tokens follow the target distribution with head-drafted trees', async () => {
    let drafted = 0;
    let accepted = 0;
    const pValue = await firstTwoPValue(engine, prompt, exact, trials, { maxTokens: 2, strategy: 'test-hydra-support', treeBudget: 4, ...sampling }, (s) => {
      drafted += s.steps[0].treeSize;
      accepted += s.steps[0].accepted;
    });
    expect(drafted).toBe(trials); // the first step of every trial verified a 1-node tree (budget: maxTokens - 1)
    expect(accepted).toBeGreaterThan(trials / 10);
    expect(pValue).toBeGreaterThan(1e-4);
  });
});
