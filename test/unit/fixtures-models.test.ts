// The trained fixture models shipped in public/models (tools/fixtures/README.md says how they
// were made): they load through the project's own loader, fit the size budget, and the CPU
// reference forward reproduces the golden greedy outputs that PyTorch computed on the same f16
// weights (public/models/golden.json, written by tools/fixtures/golden.mjs).
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FolderSource } from '../../src/model/source.ts';
import { loadModelFiles, type ModelFiles } from '../../src/model/weights.ts';
import { ReferenceModel } from '../../src/model/reference.ts';
import { Tokenizer } from '../../src/tokenizer/tokenizer.ts';

const ROOT = join(import.meta.dirname, '../../public/models');
const MODELS = ['tinystories-target', 'tinystories-draft', 'tinystories-draft-gpt2'] as const;
/** All shipped weights together (f16), in bytes: the project's budget for fixture models. */
const WEIGHT_BUDGET = 40e6;

interface GoldenEntry {
  prompt: string;
  promptIds: number[];
  greedyIds: number[];
  text: string;
}
interface Golden {
  newTokens: number;
  models: Record<string, GoldenEntry[]>;
}

const golden: Golden = JSON.parse(await readFile(join(ROOT, 'golden.json'), 'utf8'));
const loaded = new Map<string, ModelFiles>();
async function load(name: string): Promise<ModelFiles> {
  if (!loaded.has(name)) loaded.set(name, await loadModelFiles(new FolderSource(join(ROOT, name))));
  return loaded.get(name)!;
}

describe('shipped fixture models', () => {
  it('fit the weight budget', async () => {
    let total = 0;
    for (const m of MODELS) total += (await stat(join(ROOT, m, 'model.safetensors'))).size;
    expect(total).toBeLessThanOrEqual(WEIGHT_BUDGET);
  });

  it.each(MODELS)('%s loads as a tied-embedding Llama with f16 weights', async (name) => {
    const files = await load(name);
    expect(files.config.modelType).toBe('llama');
    expect(files.config.tieWordEmbeddings).toBe(true);
    expect(files.tensors.has('lm_head.weight')).toBe(false);
    for (const t of files.tensors.values()) expect(t.dtype).toBe('F16');
  });

  it('target and draft share one vocabulary; the GPT-2 draft has its own', async () => {
    const tok = async (name: string) => {
      const f = await load(name);
      return Tokenizer.fromFiles(f.tokenizerJson, f.tokenizerConfig, f.config);
    };
    const target = await tok('tinystories-target');
    const draft = await tok('tinystories-draft');
    const gpt2 = await tok('tinystories-draft-gpt2');
    const text = 'Once upon a time, Lily said "def f(x):"';
    expect(Array.from(draft.encode(text))).toEqual(Array.from(target.encode(text)));
    expect(gpt2.vocabulary().size).toBe(50257);
    expect(gpt2.decode(gpt2.encode(text, { addSpecialTokens: false }))).toBe(text);
  });

  // The golden prompts of the two small drafts run in well under a second; the target's first
  // prompt covers the 12.9M-parameter model (a few seconds on the CPU reference).
  const cases = MODELS.flatMap((m) => golden.models[m].map((g, i) => ({ m, i, g }))).filter(({ m, i }) => m !== 'tinystories-target' || i < 2);
  it.each(cases)('$m greedy output for prompt $i equals the golden PyTorch output', async ({ m, g }) => {
    const files = await load(m);
    const tok = Tokenizer.fromFiles(files.tokenizerJson, files.tokenizerConfig, files.config);
    const ids = Array.from(tok.encode(g.prompt));
    const bos = files.config.bosTokenId!;
    const promptIds = ids[0] === bos ? ids : [bos, ...ids];
    expect(promptIds).toEqual(g.promptIds);
    const model = ReferenceModel.fromFiles(files, 128);
    const out = model.generateGreedy(Int32Array.from(promptIds), golden.newTokens);
    expect(Array.from(out)).toEqual(g.greedyIds);
    const full = tok.decode([...promptIds, ...out], { skipSpecialTokens: true });
    const head = tok.decode(promptIds, { skipSpecialTokens: true });
    expect(full.slice(head.length)).toBe(g.text);
  });
});
