/**
 * `treespec vocab-counts`: how often the target predicts each token (greedy, teacher-forced) on
 * calibration texts, written as the VocabTrim counts file of a draft model
 * (src/draft/vocab-trim.ts). Deterministic: the same inputs give the same file, byte for byte.
 */
import { parseArgs } from 'node:util';
import { vocabCountsFlags } from './flags';
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

/** An integer flag >= min, as given ("", "4.5" and "lots" are refused). */
function positiveInt(v: string, flag: string, min: number, what: string): number {
  const x = v.trim() === '' ? NaN : Number(v);
  if (!Number.isInteger(x) || x < min) throw new OptionsError(`${flag} is "${v}"; expected an integer >= ${min} (${what})`);
  return x;
}

export async function runVocabCounts(args: string[]): Promise<number> {
  const f = parseArgs({ args, strict: true, allowPositionals: false, options: vocabCountsFlags }).values;
  if (!f.model) throw new OptionsError('--model is required (the TARGET model folder: its predictions are counted)');
  if (!f.text?.length) throw new OptionsError('--text FILE is required (one or more calibration texts)');
  if (!f.out) throw new OptionsError('--out FILE is required');
  const maxBytes = f['max-bytes'] === undefined ? Infinity : positiveInt(f['max-bytes'], '--max-bytes', 1, 'bytes read from the start of each text');
  const window = f.window === undefined ? 256 : positiveInt(f.window, '--window', 2, 'tokens per teacher-forced pass');
  const weights = f.weights ?? 'f32';
  if (weights !== 'f16' && weights !== 'f32') throw new OptionsError(`--weights is "${weights}"; expected f16 or f32`);

  await checkOutputFile(f.out, !!f.force, [['--model', f.model], ...f.text.map((t): [string, string] => ['--text', t])]);
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
export async function loadCliDraft(dir: string, vocabTrim: number | undefined, maxContext: number, weights: WeightDtype, gpu?: GPUDevice): Promise<DraftModel> {
  const files = await loadModelFiles(sourceFromString(dir));
  let kept: Int32Array | undefined;
  if (vocabTrim !== undefined) {
    const path = `${dir.replace(/\/$/, '')}/vocab-counts.json`;
    const text = await readFile(path, 'utf8').catch((e: Error) => {
      throw new OptionsError(`--vocab-trim needs ${path} (made by treespec vocab-counts): ${e.message}`);
    });
    kept = keptTokens(parseVocabCounts(JSON.parse(text), files.config.vocabSize), vocabTrim);
  }
  const device = gpu ?? (await acquireDevice()).device;
  return DraftModel.load(device, files, { maxContext, weightDtype: weights, vocabTrim: kept });
}
