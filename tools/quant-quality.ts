/**
 * Quality cost of quantized weights (issue 10): for f32, f16, q8 and q4 weights of a model,
 *  - perplexity on held-out text: the held-out prompts (tools/fixtures/heldout-prompts.json,
 *    never trained on), each scored token by token after its BOS, per category;
 *  - greedy agreement with f16: f16's greedy continuation of each prompt (--tokens N) is fed to
 *    every variant (teacher forcing), and at each of the N positions the variant's argmax is
 *    compared with f16's token; also how many free-running greedy continuations equal f16's.
 * Computed with the CPU reference forward on the weights each dtype puts on the GPU
 * (dequantizedFiles; the GPU forward equals it within f32 rounding, test/gpu/forward-quant).
 *
 * Run (Vite's module runner bundles the tokenizer):
 *   node --input-type=module -e "await (await import('vite')).runnerImport('./tools/quant-quality.ts')" -- \
 *     [--model public/models/tinystories-target] [--tokens 32] [--prompts N per category] [--json FILE]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { argmax } from '../src/model/cpu-ops.ts';
import { f16BitsToF32, f32ToF16Bits } from '../src/model/f16.ts';
import { ReferenceModel } from '../src/model/reference.ts';
import { FolderSource } from '../src/model/source.ts';
import { dequantizedFiles, loadModelFiles, tensorF32, type ModelFiles } from '../src/model/weights.ts';
import { Tokenizer } from '../src/tokenizer/tokenizer.ts';
import heldout from './fixtures/heldout-prompts.json' with { type: 'json' };

const { values: f } = parseArgs({
  args: process.argv.slice(1).filter((a) => a !== '--' && !a.endsWith('quant-quality.js')),
  options: {
    model: { type: 'string', default: 'public/models/tinystories-target' },
    tokens: { type: 'string', default: '32' },
    prompts: { type: 'string', default: '20' },
    json: { type: 'string' },
  },
});
const N = Number(f.tokens);
const perCategory = Number(f.prompts);

const files = await loadModelFiles(new FolderSource(f.model!));
const tokenizer = Tokenizer.fromFiles(files.tokenizerJson, files.tokenizerConfig, files.config);
const vocab = files.config.vocabSize;

/** The f16 GPU view: every 2-D tensor (matrices, embeddings) rounded to f16; norms and biases stay f32. */
function f16Files(src: ModelFiles): ModelFiles {
  const tensors = new Map(src.tensors);
  for (const [name, t] of src.tensors) {
    if (t.shape.length !== 2) continue;
    const v = tensorF32(t).map((x) => f16BitsToF32(f32ToF16Bits(x)));
    tensors.set(name, { name, dtype: 'F32', shape: t.shape, data: new Uint8Array(v.buffer) });
  }
  return { ...src, tensors };
}

const variants = {
  f32: files,
  f16: f16Files(files),
  q8: dequantizedFiles(files, 'q8'),
  q4: dequantizedFiles(files, 'q4'),
};

/** Sum of -log p(token[i+1]) over the sequence, and the count. */
function nll(model: ReferenceModel, tokens: Int32Array): { sum: number; count: number } {
  model.truncate(0);
  const logits = model.forward(tokens);
  let sum = 0;
  for (let i = 0; i + 1 < tokens.length; i++) {
    const o = i * vocab;
    let max = -Infinity;
    for (let v = 0; v < vocab; v++) max = Math.max(max, logits[o + v]);
    let z = 0;
    for (let v = 0; v < vocab; v++) z += Math.exp(logits[o + v] - max);
    sum += Math.log(z) + max - logits[o + tokens[i + 1]];
  }
  return { sum, count: tokens.length - 1 };
}

interface Row { dtype: string; category: string; tokens: number; perplexity: number; agreement: number; sameContinuations: number; prompts: number }

const categories = { stories: heldout.stories, code: heldout.code } as Record<string, { prompt: string }[]>;
const rows: Row[] = [];
const models = Object.fromEntries(Object.entries(variants).map(([k, v]) => [k, ReferenceModel.fromFiles(v, 512)]));
for (const [category, list] of Object.entries(categories)) {
  const prompts = list.slice(0, perCategory).map((p) => tokenizer.encode(p.prompt));
  // f16's greedy continuations: the reference sequences of the agreement measure
  const f16Runs = prompts.map((p) => { models.f16.truncate(0); return models.f16.generateGreedy(p, N); });
  for (const [dtype, model] of Object.entries(models)) {
    let sum = 0;
    let count = 0;
    let agree = 0;
    let same = 0;
    prompts.forEach((p, i) => {
      const r = nll(model, p);
      sum += r.sum;
      count += r.count;
      const seq = Int32Array.from([...p, ...f16Runs[i]]);
      model.truncate(0);
      const logits = model.forward(seq.subarray(0, seq.length - 1));
      for (let j = 0; j < N; j++) if (argmax(logits, (p.length - 1 + j) * vocab, vocab) === seq[p.length + j]) agree++;
      model.truncate(0);
      const own = model.generateGreedy(p, N);
      if (own.every((t, j) => t === f16Runs[i][j])) same++;
    });
    rows.push({ dtype, category, tokens: count, perplexity: Math.exp(sum / count), agreement: agree / (N * prompts.length), sameContinuations: same, prompts: prompts.length });
  }
}

process.stdout.write(`model ${f.model}; ${N} greedy tokens per prompt, teacher-forced on f16's continuation\n\n`);
process.stdout.write('| dtype | category | scored tokens | perplexity | greedy agreement with f16 | identical continuations |\n|---|---|---|---|---|---|\n');
for (const r of rows) {
  process.stdout.write(`| ${r.dtype} | ${r.category} | ${r.tokens} | ${r.perplexity.toFixed(3)} | ${(100 * r.agreement).toFixed(1)}% | ${r.sameContinuations}/${r.prompts} |\n`);
}
if (f.json) writeFileSync(f.json, JSON.stringify({ model: f.model, tokens: N, rows }, null, 1) + '\n');
