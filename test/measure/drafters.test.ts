/**
 * Measurement, not a test (its own vitest project, never part of `npm test`): tau and tokens/s of `ar`,
 * `early-exit` and `cross-vocab` on the shipped target (GPT-2 draft for cross-vocab), two story
 * and two code prompts of public/bench/prompts.jsonl, 64 tokens, tree budget 8, greedy, drafters reset before
 * each generation, strategies interleaved per prompt after one warm-up of each. Every run's
 * tokens must equal ar's. Prints one line per run and a summary per category.
 *
 *   [TREESPEC_MEASURE_TOKENS=64] [TREESPEC_MEASURE_BUDGET=8] npm run measure:drafters
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Engine } from '../../src/engine/engine';
import { shippedModel } from '../gpu/models';
import { registerStrategy } from '../../src/engine/strategies';
import { EarlyExitDrafter } from '../../src/draft/early-exit';

const maxTokens = Number(process.env.TREESPEC_MEASURE_TOKENS ?? 64);
const treeBudget = Number(process.env.TREESPEC_MEASURE_BUDGET ?? 8);
const strategies = ['ar', 'early-exit', 'cross-vocab'];

describe('measure ar, early-exit, cross-vocab on the shipped models', () => {
  it('runs', { timeout: 3_600_000 }, async () => {
    const all = readFileSync('public/bench/prompts.jsonl', 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; category: string; prompt: string });
    const prompts = [...all.filter((p) => p.category === 'stories').slice(0, 2), ...all.filter((p) => p.category === 'code').slice(0, 2)];
    const engine = await Engine.load(await shippedModel('tinystories-target'), { maxContext: 512, maxTreeNodes: 32, crossVocabDraft: await shippedModel('tinystories-draft-gpt2') });
    for (const s of strategies) await engine.generateText(prompts[0].prompt, { maxTokens: 8, strategy: s, treeBudget });
    const sums = new Map<string, { tokens: number; ms: number; forwards: number }>();
    for (const p of prompts) {
      let ref: number[] | null = null;
      for (const s of strategies) {
        engine.resetDrafters();
        const { tokens, stats } = await engine.generateText(p.prompt, { maxTokens, strategy: s, treeBudget });
        ref ??= tokens;
        expect(tokens).toEqual(ref);
        const choices = new Map<string, number>();
        for (const st of stats.steps) choices.set(st.strategy, (choices.get(st.strategy) ?? 0) + 1);
        console.log(`${p.id.padEnd(20)} ${s.padEnd(12)} tau ${stats.tau.toFixed(2)} tok/s ${stats.tokensPerSecond.toFixed(2)} draft ms/tok ${stats.draftMsPerToken.toFixed(1)} verify ms/tok ${stats.verifyMsPerToken.toFixed(1)} ${JSON.stringify(Object.fromEntries(choices))}`);
        const key = `${p.category}/${s}`;
        const acc = sums.get(key) ?? { tokens: 0, ms: 0, forwards: 0 };
        acc.tokens += stats.generatedTokens;
        acc.ms += stats.decodeMs;
        acc.forwards += stats.targetForwards;
        sums.set(key, acc);
      }
    }
    for (const [key, a] of sums) {
      const [category] = key.split('/');
      const ar = sums.get(`${category}/ar`)!;
      console.log(`${key.padEnd(24)} tau ${(a.tokens / a.forwards).toFixed(2)} tok/s ${((1000 * a.tokens) / a.ms).toFixed(2)} speedup ${((a.tokens / a.ms) / (ar.tokens / ar.ms)).toFixed(2)}x`);
    }
    engine.destroy();
  });
});

/**
 * Greedy tau of a fixed exit layer and chain length (TREESPEC_MEASURE_LAYERS=1): how well each
 * exit layer of the shipped target drafts, whatever it costs.
 *   TREESPEC_MEASURE_LAYERS=1 npm run measure:drafters
 */
describe.skipIf(process.env.TREESPEC_MEASURE_LAYERS !== '1')('tau of fixed early exits on the shipped target', () => {
  it('runs', { timeout: 3_600_000 }, async () => {
    const all = readFileSync('public/bench/prompts.jsonl', 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; category: string; prompt: string });
    const prompts = [all.find((p) => p.category === 'stories')!, all.find((p) => p.category === 'code')!];
    const engine = await Engine.load(await shippedModel('tinystories-target'), { maxContext: 512, maxTreeNodes: 8 });
    const length = 4;
    for (const layer of [2, 3, 4, 5]) registerStrategy(`exit-L${layer}`, (ctx) => new EarlyExitDrafter(ctx.target, { fixed: { layer, length } }));
    for (const p of prompts) {
      for (const layer of [2, 3, 4, 5]) {
        const { stats } = await engine.generateText(p.prompt, { maxTokens: 32, strategy: `exit-L${layer}`, treeBudget: length });
        console.log(`${p.id.padEnd(20)} exit after ${layer} of 6 layers, chains of ${length}: tau ${stats.tau.toFixed(2)} acceptance by depth ${stats.acceptanceByDepth.map((a) => a.toFixed(2)).join(' ')}`);
      }
    }
    engine.destroy();
  });
});

