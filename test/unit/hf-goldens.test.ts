/**
 * The CPU reference forward against Hugging Face transformers (test/fixtures/hf, made by
 * tools/hf-oracle/make_goldens.py): for every family and both config.json layouts, the
 * last-position logits of each prompt within F32_ATOL of transformers' float32 run and the
 * greedy continuation token for token; the prompts tokenize to transformers' ids and the chat
 * template renders byte for byte as apply_chat_template (and, where the golden has them, encodes
 * to its ids).
 */
import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { argmax, longRopeFactors } from '../../src/model/cpu-ops.ts';
import { parseConfig } from '../../src/model/config.ts';
import { ReferenceModel } from '../../src/model/reference.ts';
import { Tokenizer } from '../../src/tokenizer/tokenizer.ts';
import { F32_ATOL, HF_FAMILIES, hfGolden, llamaTokenizerJsModel, maxAbsDiff, withTokenizerAdditions, type Goldens } from '../hf-goldens.ts';

const readJson = async (path: string): Promise<unknown> => JSON.parse(await readFile(path, 'utf8'));

/** Tokenizers by package and additions, loaded once (Qwen2 and Qwen3 share one, Phi-3 and Phi-3 long another). */
const tokenizers = new Map<string, Promise<Tokenizer>>();
function tokenizerOf(goldens: Goldens): Promise<Tokenizer> {
  const key = JSON.stringify([goldens.tokenizer, goldens.tokenizerAdditions ?? null]);
  if (!tokenizers.has(key)) {
    const dir = `node_modules/${goldens.tokenizer}/models`;
    tokenizers.set(key, (async () => {
      const additions = goldens.tokenizerAdditions;
      const base = additions?.base ? llamaTokenizerJsModel(await readFile(`node_modules/${additions.base}/llama-tokenizer.js`, 'utf8')) : undefined;
      const files = withTokenizerAdditions(await readJson(`${dir}/tokenizer.json`), await readJson(`${dir}/tokenizer_config.json`), additions, base);
      return Tokenizer.fromFiles(...files);
    })());
  }
  return tokenizers.get(key)!;
}

for (const family of HF_FAMILIES) {
  describe(`${family} against transformers`, () => {
    it('both config.json layouts parse to the same config', async () => {
      const dir = `test/fixtures/hf/${family}`;
      expect(parseConfig(await readJson(`${dir}/config-v4.json`))).toEqual(parseConfig(await readJson(`${dir}/config.json`)));
    });

    // Both layouts parse to one config (above), so one forward per family suffices; Llama 3.2's
    // (the family with RoPE scaling) also runs from the 4.x layout.
    for (const layout of family === 'llama32' ? (['v5', 'v4'] as const) : (['v5'] as const)) {
      it(`CPU reference (${layout} config): last-position logits and greedy tokens`, async () => {
        const { goldens, files, logitsF32, logitsBf16 } = await hfGolden(family, layout);
        const vocab = files.config.vocabSize;
        const ref = ReferenceModel.fromFiles(files, 64);
        let worst = 0;
        let worstBf16 = 0;
        for (const [i, p] of goldens.prompts.entries()) {
          ref.truncate(0);
          const logits = ref.forward(Int32Array.from(p.ids));
          const last = logits.subarray((p.ids.length - 1) * vocab);
          worst = Math.max(worst, maxAbsDiff(last, logitsF32.subarray(i * vocab, (i + 1) * vocab)));
          // transformers' own bf16 run is as far from ours as from its f32 run (bf16 rounding), no farther
          const bf16 = maxAbsDiff(last, logitsBf16.subarray(i * vocab, (i + 1) * vocab));
          expect(bf16, `prompt ${i}: distance to the bf16 golden`).toBeLessThanOrEqual(2 * p.bf16MaxDiff + 1e-3);
          worstBf16 = Math.max(worstBf16, bf16);
          expect(argmax(last)).toBe(p.greedy[0]);
          expect(Array.from(ref.generateGreedy(Int32Array.from(p.ids), goldens.newTokens)), `prompt ${i}: greedy tokens`).toEqual(p.greedy);
        }
        expect(worst).toBeLessThan(F32_ATOL);
        console.log(`${family} ${layout} CPU: max |logit - transformers f32| = ${worst.toExponential(2)}, bf16 golden ${worstBf16.toFixed(4)}`);
      });
    }

    it('the tokenizer gives transformers\' ids; the chat template renders as apply_chat_template', async () => {
      const { goldens } = await hfGolden(family);
      const tok = await tokenizerOf(goldens);
      for (const p of goldens.prompts) expect(Array.from(tok.encode(p.text, { addSpecialTokens: true }))).toEqual(p.ids);
      for (const t of goldens.texts ?? []) expect(Array.from(tok.encode(t.text, { addSpecialTokens: false })), JSON.stringify(t.text)).toEqual(t.ids);
      if (goldens.chat) {
        expect(tok.applyChatTemplate(goldens.chat.messages, { addGenerationPrompt: true })).toBe(goldens.chat.text);
        // chat markers as single added tokens, the whitespace after an rstrip marker dropped
        if (goldens.chat.ids) expect(Array.from(tok.encode(goldens.chat.text, { addSpecialTokens: false }))).toEqual(goldens.chat.ids);
      } else expect(tok.hasChatTemplate).toBe(false);
    });
  });
}

describe('Phi-3 LongRoPE: the context picks the factor set', () => {
  it('long factors beyond original_max_position_embeddings (transformers\' golden), short ones within it (which miss it)', async () => {
    const { goldens, files, logitsF32 } = await hfGolden('phi3-long');
    const long = files.config.ropeLong!;
    // the context runs to max_position_embeddings (64), past the original length (16)
    expect(files.config.maxPositionEmbeddings).toBe(64);
    expect(longRopeFactors(long, 16)).toBe(long.shortFactor);
    expect(longRopeFactors(long, 17)).toBe(long.longFactor);
    // the golden tells the two sets apart: a model of context 16 (short factors) is far from it
    const p = goldens.prompts[0];
    const vocab = files.config.vocabSize;
    const short = ReferenceModel.fromFiles(files, 32, 16).forward(Int32Array.from(p.ids)).subarray((p.ids.length - 1) * vocab);
    expect(maxAbsDiff(short, logitsF32.subarray(0, vocab))).toBeGreaterThan(100 * F32_ATOL);
  });
});
