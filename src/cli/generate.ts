/** `treespec generate`: one generation on the GPU engine or the CPU reference. */
import { parseArgs } from 'node:util';
import { generateFlags } from './flags';
import { Engine, planWeights } from '../engine/engine';
import { acquireDevice } from '../gpu/device';
import { engineDefaults, isWeightDtype, resolveGenerateOptions, checkKvDtype, resolveKvDtype, resolveMaxContext, checkStepsAhead, OptionsError, type DocumentsProgress, type GenerateOptions } from '../engine/options';
import { profileTable } from './profile';
import { isStrategyName, strategyNames } from '../engine/strategies';
import { ContextLengthError } from '../errors';
import { dequantizedFiles, loadModelFiles, readConfig } from '../model/weights';
import { loadHeads } from '../model/heads';
import { loadDiffusion } from '../model/diffusion';
import { sourceFromString } from '../model/source';
import { Tokenizer } from '../tokenizer/tokenizer';
import { generateOnCpu } from '../engine/cpu-generate';
import { loadCliDraft } from './vocab-counts';

function num(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  // Number("") and Number(" ") are 0: a blank value is refused as given, not read as zero.
  const x = v.trim() === '' ? NaN : Number(v);
  if (!Number.isFinite(x)) throw new OptionsError(`--${flag} is "${v}"; expected a number`);
  return x;
}

/** Strategies that read --documents and --draft (auto uses both when given). */
const usesDocuments = (s: string) => s === 'retrieval' || s === 'fusion' || s === 'auto' || (s.startsWith('auto:') && /\b(retrieval|fusion)\b/.test(s));
const usesDraft = (s: string) => s === 'draft' || s === 'fusion' || s === 'cross-vocab' || s === 'auto' || (s.startsWith('auto:') && /\b(draft|fusion)\b/.test(s));

/** Flags that do not apply to the strategy are refused, not ignored. */
function checkStrategyFlags(strategy: string, f: { draft?: string; documents?: string[]; 'tree-budget'?: string }): void {
  const needs = (flag: string, which: string) => new OptionsError(`${flag} does not apply to --strategy ${strategy}; it is used by ${which}`);
  if (f.draft !== undefined && !usesDraft(strategy)) throw needs('--draft', 'draft, fusion, cross-vocab and auto');
  if (f.documents?.length && !usesDocuments(strategy)) throw needs('--documents', 'retrieval, fusion and auto');
  if (f['tree-budget'] !== undefined && strategy === 'ar') throw needs('--tree-budget', 'the drafting strategies');
  if ((strategy === 'draft' || strategy === 'fusion' || strategy === 'cross-vocab') && f.draft === undefined) {
    throw new OptionsError(`--strategy ${strategy} needs --draft DIR (a draft model); to draft with the target itself use --strategy self`);
  }
}

/** Reads --documents files (UTF-8 text) for the retrieval drafters. */
async function readDocuments(paths: string[]): Promise<string[]> {
  const { readFile } = await import('node:fs/promises');
  return Promise.all(
    paths.map((p) =>
      readFile(p, 'utf8').catch((e: Error) => {
        throw new OptionsError(`--documents ${p}: cannot read the file (${e.message})`);
      }),
    ),
  );
}

/** One stderr line per tenth of each indexing stage (rewritten in place on a terminal). */
function documentsProgressLine(): (p: DocumentsProgress) => void {
  let shown = '';
  return (p) => {
    const tenth = Math.floor((10 * p.done) / Math.max(1, p.total));
    const key = `${p.stage}${tenth}`;
    if (key === shown) return;
    shown = key;
    const what = p.stage === 'tokenize' ? `tokenized ${p.done} of ${p.total} characters` : p.done < p.total ? `building the suffix array over ${p.total} tokens` : `indexed ${p.total} tokens`;
    const tty = process.stderr.isTTY;
    process.stderr.write(`${tty ? '\r\x1b[K' : ''}documents: ${what}${tty && !(p.stage === 'index' && p.done === p.total) ? '' : '\n'}`);
  };
}

export async function runGenerate(args: string[]): Promise<number> {
  const f = parseArgs({ args, strict: true, allowPositionals: false, options: generateFlags }).values;
  if (!f.model) throw new OptionsError('--model is required (a model folder or a URL base)');
  if (f.prompt === undefined) throw new OptionsError('--prompt is required');
  const device = f.device ?? 'gpu';
  if (device !== 'gpu' && device !== 'cpu') throw new OptionsError(`--device is "${device}"; expected gpu or cpu`);
  const asked = f.weights ?? 'f16';
  if (!isWeightDtype(asked) && asked !== 'auto') throw new OptionsError(`--weights is "${asked}"; expected f16, f32, q8, q4 or auto`);
  const kvDtype = checkKvDtype(f['kv-dtype']);
  const memoryBudget = num(f['memory-budget'], 'memory-budget');
  if (memoryBudget !== undefined && device === 'cpu') throw new OptionsError('--memory-budget limits GPU memory; it needs --device gpu');
  const gen: GenerateOptions = {
    maxTokens: num(f['max-tokens'], 'max-tokens'),
    temperature: num(f.temperature, 'temperature'),
    topK: num(f['top-k'], 'top-k'),
    topP: num(f['top-p'], 'top-p'),
    repetitionPenalty: num(f['repetition-penalty'], 'repetition-penalty'),
    seed: num(f.seed, 'seed'),
    strategy: f.strategy,
    treeBudget: num(f['tree-budget'], 'tree-budget'),
    chat: f.chat,
    documents: await readDocuments(f.documents ?? []),
    profile: f.profile,
    onProgress: documentsProgressLine(),
  };
  // Bad flag values fail here, before the model is read or the GPU is touched.
  const maxContext = num(f['max-context'], 'max-context');
  if (maxContext !== undefined && !(Number.isInteger(maxContext) && maxContext >= 2)) throw new OptionsError(`--max-context is "${f['max-context']}"; expected an integer >= 2`);
  const stepsAhead = num(f['steps-ahead'], 'steps-ahead');
  checkStepsAhead(stepsAhead);
  resolveGenerateOptions(gen, engineDefaults.maxTreeNodes);
  if (gen.strategy !== undefined && !isStrategyName(gen.strategy)) {
    throw new OptionsError(`generate option "strategy" is "${gen.strategy}"; expected one of ${strategyNames().join(', ')}, or auto:NAME[,NAME...]`);
  }
  checkStrategyFlags(gen.strategy ?? (device === 'cpu' ? 'ar' : 'auto'), f);
  const source = sourceFromString(f.model);
  // GPU: the memory check (and --weights auto) before any weight is read, as Engine.load does
  const config = await readConfig(source);
  const gpu = device === 'gpu' ? (await acquireDevice()).device : null;
  const context = resolveMaxContext(maxContext, config.maxPositionEmbeddings);
  const weights = gpu
    ? planWeights(config, { weightDtype: asked, memoryBudget, kvDtype }, { maxContext: context, maxRows: engineDefaults.maxTreeNodes + 1 }, gpu).dtype
    : asked === 'auto' ? 'f32' : asked; // the CPU reference computes in f32
  const files = await loadModelFiles(source, { config });
  let result: { text: string; tokens: number[]; stats: object };
  if (device === 'cpu') {
    if (gen.strategy && gen.strategy !== 'ar') throw new OptionsError(`--strategy ${gen.strategy} needs --device gpu; the CPU reference decodes plainly`);
    if (gen.profile) throw new OptionsError('--profile times GPU kernels; it needs --device gpu');
    const tokenizer = Tokenizer.fromFiles(files.tokenizerJson, files.tokenizerConfig, files.config);
    const opts = resolveGenerateOptions(gen, 127);
    const text = opts.chat ? tokenizer.applyChatTemplate([{ role: 'user', content: f.prompt }]) : f.prompt;
    const prompt = tokenizer.encode(text, { addSpecialTokens: !opts.chat && opts.addSpecialTokens });
    // The engine's policy: prompt + output within the context; a longer prompt is an error.
    if (prompt.length >= context) {
      throw new ContextLengthError(`the prompt has ${prompt.length} tokens; the context holds ${context} (prompt + output), so at most ${context - 1} prompt tokens`);
    }
    // --weights q8|q4: the reference runs on the weights the GPU would compute with
    const cpuFiles = weights === 'q8' || weights === 'q4' ? dequantizedFiles(files, weights) : files;
    // unnamed, the cache follows --weights as on the GPU (f16 for f16/q8/q4), so both devices compute the same
    result = generateOnCpu(cpuFiles, tokenizer, prompt, opts, context, resolveKvDtype(kvDtype, weights));
  } else {
    if (f['vocab-trim'] !== undefined && !f.draft) throw new OptionsError('--vocab-trim N trims the draft model: it needs --draft DIR');
    // cross-vocab takes --draft as a model of another tokenizer (loaded by the engine); the
    // other draft strategies take it as a same-tokenizer DraftModel.
    const cross = gen.strategy === 'cross-vocab';
    if (cross && f['vocab-trim'] !== undefined) throw new OptionsError('--vocab-trim applies to the draft strategies of the same tokenizer, not to cross-vocab');
    const draft = f.draft && !cross ? await loadCliDraft(f.draft, num(f['vocab-trim'], 'vocab-trim'), context, weights, gpu!) : undefined;
    // Hydra heads next to the model's files, when it has them
    const heads = (await loadHeads(source, files.config)) ?? false;
    // and the block (diffusion) drafter
    const diffusion = (await loadDiffusion(source, files.config)) ?? false;
    const engine = await Engine.load(files, { weightDtype: weights, kvDtype, maxContext, stepsAhead, device: gpu!, draft, crossVocabDraft: cross ? f.draft : undefined, heads, diffusion });
    if (f.json) {
      result = await engine.generateText(f.prompt, gen);
    } else {
      const it = engine.generate(f.prompt, gen);
      let r = await it.next();
      while (!r.done) {
        process.stdout.write(r.value.text);
        r = await it.next();
      }
      process.stdout.write('\n');
      process.stderr.write(`${JSON.stringify(r.value, (k, v) => (k === 'steps' || k === 'profile' ? undefined : v))}\n`);
      if (r.value.profile) process.stderr.write(profileTable(r.value.profile, r.value.generatedTokens));
      engine.destroy();
      return 0;
    }
    engine.destroy();
  }
  if (f.json) process.stdout.write(`${JSON.stringify({ text: result.text, tokens: result.tokens, stats: result.stats })}\n`);
  else process.stdout.write(`${result.text}\n`);
  return 0;
}
