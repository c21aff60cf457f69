/**
 * `treespec vocab-counts`: how often the target predicts each token (greedy, teacher-forced) on
 * calibration texts, written as the VocabTrim counts file of a draft model
 * (src/draft/vocab-trim.ts). Deterministic: the same inputs give the same file, byte for byte.
 */
import { parseArgs } from 'node:util';
import { readFile } from 'node:fs/promises';
import { checkOutputFile, writeFileAtomic } from './output-files';
import { acquireDevice } from '../gpu/device';
import type { WeightDtype } from '../engine/options';
import { GpuModel } from '../model/gpu-model';
import { loadModelFiles } from '../model/weights';
import { sourceFromString } from '../model/source';
import { Tokenizer } from '../tokenizer/tokenizer';
import { OptionsError } from '../errors';
import { countGreedyPredictions, keptTokens, parseVocabCounts, sortedCounts, VOCAB_COUNTS_FORMAT, type VocabCounts } from '../draft/vocab-trim';
import { DraftModel } from '../draft/draft-model';

export async function runVocabCounts(args: string[]): Promise<number> {
  const f = parseArgs({ args, strict: true, allowPositionals: false, options: {
    model: { type: 'string' },
    text: { type: 'string', multiple: true },
    'max-bytes': { type: 'string' },
    window: { type: 'string' },
    out: { type: 'string' },
    weights: { type: 'string' },
    debug: { type: 'boolean' },
  } }).values;
  if (!f.model) throw new OptionsError('--model is required (the TARGET model folder: its predictions are counted)');
  if (!f.text?.length) throw new OptionsError('--text FILE is required (one or more calibration texts)');
  if (!f.out) throw new OptionsError('--out FILE is required');
  const maxBytes = f['max-bytes'] === undefined ? Infinity : Number(f['max-bytes']);
  if (!(maxBytes >= 1)) throw new OptionsError(`--max-bytes is "${f['max-bytes']}"; expected a number >= 1 (bytes read from the start of each text)`);
  const window = f.window === undefined ? 256 : Number(f.window);
  const weights = f.weights ?? 'f32';
  if (weights !== 'f16' && weights !== 'f32') throw new OptionsError(`--weights is "${weights}"; expected f16 or f32`);

  await checkOutputFile(f.out, [['--model', f.model], ...f.text.map((t): [string, string] => ['--text', t])]);
  const files = await loadModelFiles(sourceFromString(f.model));
  const tokenizer = Tokenizer.fromFiles(files.tokenizerJson, files.tokenizerConfig, files.config);
  const { device } = await acquireDevice();
  const model = await GpuModel.load(device, files, { maxContext: Math.min(window, files.config.maxPositionEmbeddings), weightDtype: weights });
  const counts = new Uint32Array(files.config.vocabSize); // (vocab)
  const texts: { path: string; bytes: number }[] = [];
  for (const path of f.text) {
    const raw = await readFile(path).catch((e: Error) => {
      throw new OptionsError(`--text ${path}: cannot read the file (${e.message})`);
    });
    const bytes = raw.subarray(0, Math.min(raw.length, maxBytes));
    texts.push({ path, bytes: bytes.length });
    const ids = tokenizer.encode(bytes.toString('utf8'), { addSpecialTokens: true });
    await countGreedyPredictions(model, ids, window, counts);
  }
  model.destroy();
  const out: VocabCounts = {
    format: VOCAB_COUNTS_FORMAT,
    vocabSize: files.config.vocabSize,
    source: { model: f.model, texts, window },
    positions: counts.reduce((a, b) => a + b, 0),
    counts: sortedCounts(counts),
  };
  await writeFileAtomic('--out', f.out, JSON.stringify(out) + '\n');
  process.stdout.write(`${f.out}: ${out.positions} positions, ${out.counts.length} distinct predicted tokens\n`);
  return 0;
}

/**
 * `--draft DIR [--vocab-trim N]` of `treespec generate`: the draft model, its LM head trimmed to
 * the N tokens most counted in DIR/vocab-counts.json when N is given.
 */
export async function loadCliDraft(dir: string, vocabTrim: number | undefined, maxContext: number, weights: WeightDtype): Promise<DraftModel> {
  const files = await loadModelFiles(sourceFromString(dir));
  let kept: Int32Array | undefined;
  if (vocabTrim !== undefined) {
    const path = `${dir.replace(/\/$/, '')}/vocab-counts.json`;
    const text = await readFile(path, 'utf8').catch((e: Error) => {
      throw new OptionsError(`--vocab-trim needs ${path} (made by treespec vocab-counts): ${e.message}`);
    });
    kept = keptTokens(parseVocabCounts(JSON.parse(text), files.config.vocabSize), vocabTrim);
  }
  const { device } = await acquireDevice();
  return DraftModel.load(device, files, { maxContext, weightDtype: weights, vocabTrim: kept });
}
