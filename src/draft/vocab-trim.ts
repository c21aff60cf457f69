/**
 * VocabTrim (Goel et al. 2025, "VocabTrim: Vocabulary Pruning for Efficient Speculative
 * Decoding in LLMs"): the draft model's LM head keeps only the N tokens the TARGET produces
 * most often, counted on a calibration corpus. With a 32k vocabulary and a 128-wide draft the
 * LM head is most of the draft's work per row; trimmed to N rows it costs N/32k of that, and
 * drafts outside the kept set, which the target rarely emits, are lost.
 *
 * Counting: the target's greedy prediction (argmax) at every position of the corpus,
 * teacher-forced in windows, so the counts say what the target emits, not what the text holds.
 * Deterministic: same model, text and window give the same counts (argmax ties to the lowest id).
 * The counts file ships next to the draft model (vocab-counts.json); the corpus is only the
 * counting tool's input.
 */
import type { GpuModel } from '../model/gpu-model';
import { OptionsError } from '../errors';

export const VOCAB_COUNTS_FORMAT = 'treespec-vocab-counts/1';

export interface VocabCounts {
  format: typeof VOCAB_COUNTS_FORMAT;
  /** Vocabulary size of the target (and draft). */
  vocabSize: number;
  /** Where the counts come from: model folder, texts and bytes read, window length. */
  source: { model: string; texts: { path: string; bytes: number }[]; window: number };
  /** Positions counted (the sum of all counts). */
  positions: number;
  /** [token id, times the target predicted it], most frequent first, ties by id; tokens never predicted are absent. */
  counts: [number, number][];
}

/**
 * Adds to `counts` (vocab) the target's argmax at every position of `ids`, run causally in
 * windows of `window` tokens (each from an empty cache; chunks of at most model.maxRows rows).
 */
export async function countGreedyPredictions(model: GpuModel, ids: Int32Array, window: number, counts: Uint32Array): Promise<void> {
  if (!Number.isInteger(window) || window < 1 || window > model.kv.capacity - model.maxRows) {
    throw new OptionsError(`vocab counts: window is ${window}, expected an integer in 1..${model.kv.capacity - model.maxRows} (the model's context)`);
  }
  for (let w = 0; w < ids.length; w += window) {
    model.truncate(0);
    const end = Math.min(ids.length, w + window);
    for (let s = w; s < end; s += model.maxRows) {
      const chunk = ids.subarray(s, Math.min(end, s + model.maxRows));
      const rows = chunk.length;
      const positions = Int32Array.from({ length: rows }, (_, r) => s - w + r);
      const mask = new Uint32Array(rows * 4); // (rows, 4): row r sees chunk rows 0..r (causal)
      for (let r = 0; r < rows; r++) for (let j = 0; j <= r; j++) mask[r * 4 + (j >> 5)] |= 1 << (j & 31);
      model.forward(chunk, positions, mask);
      const { argmax } = await model.readArgmaxTopK(rows);
      for (const t of argmax) counts[t]++;
      model.commit(Int32Array.from({ length: rows }, (_, r) => r));
    }
  }
  model.truncate(0);
}

/** The counts file's list from per-token counts: nonzero entries, most frequent first, ties by id. */
export function sortedCounts(counts: Uint32Array): [number, number][] {
  const out: [number, number][] = [];
  counts.forEach((c, id) => { if (c > 0) out.push([id, c]); });
  return out.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
}

/** Validates a parsed counts file against the draft's vocabulary; throws OptionsError naming the problem. */
export function parseVocabCounts(json: unknown, vocabSize: number): VocabCounts {
  const v = json as Partial<VocabCounts>;
  if (!v || v.format !== VOCAB_COUNTS_FORMAT) throw new OptionsError(`vocab counts: format is ${JSON.stringify(v?.format)}, expected "${VOCAB_COUNTS_FORMAT}"`);
  if (v.vocabSize !== vocabSize) throw new OptionsError(`vocab counts: counted over a vocabulary of ${v.vocabSize}, the draft model has ${vocabSize}`);
  if (!Array.isArray(v.counts) || v.counts.some((e) => !Array.isArray(e) || !Number.isInteger(e[0]) || e[0] < 0 || e[0] >= vocabSize || !(e[1] > 0))) {
    throw new OptionsError('vocab counts: "counts" must be [token id, count > 0] pairs with ids in the vocabulary');
  }
  return v as VocabCounts;
}

/**
 * The N token ids the draft LM head keeps: the N most counted, ties by id; when fewer than N
 * tokens were ever predicted, the rest are the lowest ids not yet kept (so N rows always exist).
 * Returned in ascending id order (rows of the trimmed head read the embedding in order).
 */
export function keptTokens(counts: VocabCounts, n: number): Int32Array {
  if (!Number.isInteger(n) || n < 1 || n > counts.vocabSize) throw new OptionsError(`vocab trim: N is ${n}, expected an integer in 1..${counts.vocabSize}`);
  const kept = new Set<number>();
  for (const [id] of counts.counts) {
    if (kept.size === n) break;
    kept.add(id);
  }
  for (let id = 0; kept.size < n; id++) kept.add(id);
  return Int32Array.from([...kept].sort((a, b) => a - b));
}
