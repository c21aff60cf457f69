/**
 * Hydra draft heads (Ankner et al. 2024) of a target model: `hydra-heads.json` (shape, the
 * trimmed vocabulary, training record) and `hydra-heads.safetensors` (per head W1, W2) next to
 * the target's files, written by tools/fixtures/train_heads.py. The forward is in
 * heads-reference.ts (CPU) and shaders/hydra_head_f32.wgsl (GPU).
 *
 * Head d (0-based) maps its parent's state s (hidden) and the embedding e of the token drafted
 * before it to  s' = s + W2_d silu(W1_d [rms(s); rms(e)]);  its logits are E_trim s', with
 * E_trim the target's embedding rows of `vocabIds` (tied LM head restricted, VocabTrim).
 */
import { ConfigError, SafetensorsError, show } from '../errors.ts';
import { Rng } from '../verify/rng.ts';
import type { ModelConfig } from './config.ts';
import { parseSafetensors } from './safetensors.ts';
import type { ModelSource } from './source-base.ts';
import { tensorF32 } from './weights.ts';

export const HEADS_JSON = 'hydra-heads.json';
const FORMAT = 'treespec-hydra-heads';

export interface HydraHeads {
  numHeads: number;
  hidden: number;
  ffn: number;
  /** (trim) token id of each index of the heads' trimmed vocabulary, distinct, < the target's vocabulary. */
  vocabIds: Int32Array;
  /** (numHeads, ffn * 2 * hidden + hidden * ffn) f32: per head W1 (ffn, 2 * hidden) then W2 (hidden, ffn). */
  weights: Float32Array;
  /** Training's held-out agreement with the target per head (top-1, top-5), the tree shape's prior; null if unknown. */
  agreement: { top1: number; top5: number }[] | null;
}

/** Floats of one head in HydraHeads.weights. */
export function headWords(h: Pick<HydraHeads, 'hidden' | 'ffn'>): number {
  return h.ffn * 2 * h.hidden + h.hidden * h.ffn;
}

function need(cond: boolean, file: string, field: string, value: unknown, expected: string): void {
  if (!cond) throw new ConfigError(`${file}: "${field}" is ${show(value)}; expected ${expected}`);
}

function parseAgreement(v: unknown, numHeads: number): HydraHeads['agreement'] {
  const stories = (v as { heldout_agreement?: { stories?: unknown } } | undefined)?.heldout_agreement?.stories;
  if (!Array.isArray(stories) || stories.length !== numHeads) return null;
  const ok = stories.every((s) => typeof s?.top1 === 'number' && typeof s?.top5 === 'number');
  return ok ? stories.map((s: { top1: number; top5: number }) => ({ top1: s.top1, top5: s.top5 })) : null;
}

/** Validates hydra-heads.json and the weights file against the target's config. */
export function parseHeads(json: unknown, weightsBytes: Uint8Array, config: ModelConfig, file = HEADS_JSON): HydraHeads {
  const j = json as Record<string, unknown>;
  need(typeof j === 'object' && j !== null && j.format === FORMAT, file, 'format', j?.format, `"${FORMAT}"`);
  need(j.version === 1, file, 'version', j.version, '1');
  const numHeads = j.num_heads as number;
  const ffn = j.ffn_size as number;
  need(Number.isInteger(numHeads) && numHeads >= 1 && numHeads <= 8, file, 'num_heads', numHeads, 'an integer in 1..8');
  need(j.hidden_size === config.hiddenSize, file, 'hidden_size', j.hidden_size, `the target's hidden_size ${config.hiddenSize}`);
  need(Number.isInteger(ffn) && ffn >= 1 && ffn <= 4096, file, 'ffn_size', ffn, 'an integer in 1..4096');
  const ids = j.vocab_ids;
  need(Array.isArray(ids) && ids.length >= 16 && ids.every((t) => Number.isInteger(t) && t >= 0 && t < config.vocabSize) && new Set(ids).size === ids.length,
    file, 'vocab_ids', Array.isArray(ids) ? `${ids.length} ids` : ids, `at least 16 distinct token ids below the target's vocab_size ${config.vocabSize}`);
  const hidden = config.hiddenSize;
  const wfile = typeof j.weights === 'string' ? j.weights : 'hydra-heads.safetensors';
  const tensors = parseSafetensors(weightsBytes, wfile);
  const per = headWords({ hidden, ffn });
  const weights = new Float32Array(numHeads * per);
  for (let d = 0; d < numHeads; d++) {
    for (const [name, shape, at] of [[`heads.${d}.w1`, [ffn, 2 * hidden], 0], [`heads.${d}.w2`, [hidden, ffn], ffn * 2 * hidden]] as const) {
      const t = tensors.get(name);
      if (!t) throw new SafetensorsError(`${wfile}: tensor "${name}" is missing (${numHeads} heads in ${file})`);
      if (t.shape.length !== 2 || t.shape[0] !== shape[0] || t.shape[1] !== shape[1]) {
        throw new SafetensorsError(`${wfile}: tensor "${name}" has shape ${show(t.shape)}, expected ${show(shape)}`);
      }
      weights.set(tensorF32(t), d * per + at);
    }
  }
  return { numHeads, hidden, ffn, vocabIds: Int32Array.from(ids as number[]), weights, agreement: parseAgreement(j.training, numHeads) };
}

/** The heads stored next to a model (hydra-heads.json and its weights), or null when there are none. */
export async function loadHeads(source: ModelSource, config: ModelConfig): Promise<HydraHeads | null> {
  if (!(await source.exists(HEADS_JSON))) return null;
  const raw = await source.read(HEADS_JSON);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(raw));
  } catch (e) {
    throw new ConfigError(`${source.id}/${HEADS_JSON}: not valid JSON (${(e as Error).message})`);
  }
  const wfile = (json as { weights?: unknown })?.weights;
  return parseHeads(json, await source.read(typeof wfile === 'string' ? wfile : 'hydra-heads.safetensors'), config, `${source.id}/${HEADS_JSON}`);
}

/**
 * Random heads for a fixture target (tests): W1 std 1/sqrt(2 * hidden), W2 std `scale` /
 * sqrt(ffn), the first `trim` token ids (shuffled) as the trimmed vocabulary.
 */
export function randomHeads(config: ModelConfig, opts: { numHeads: number; ffn: number; trim: number; seed: number; scale?: number }): HydraHeads {
  const { numHeads, ffn, trim } = opts;
  const hidden = config.hiddenSize;
  const rng = new Rng(opts.seed);
  const weights = new Float32Array(numHeads * headWords({ hidden, ffn }));
  const a1 = Math.sqrt(3 / (2 * hidden));
  const a2 = (opts.scale ?? 1) * Math.sqrt(3 / ffn);
  for (let d = 0; d < numHeads; d++) {
    const base = d * headWords({ hidden, ffn });
    for (let i = 0; i < ffn * 2 * hidden; i++) weights[base + i] = (2 * rng.next() - 1) * a1;
    for (let i = ffn * 2 * hidden; i < headWords({ hidden, ffn }); i++) weights[base + i] = (2 * rng.next() - 1) * a2;
  }
  const ids = Array.from({ length: config.vocabSize }, (_, i) => i);
  for (let i = ids.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [ids[i], ids[j]] = [ids[j], ids[i]];
  }
  return { numHeads, hidden, ffn, vocabIds: Int32Array.from(ids.slice(0, Math.min(trim, ids.length))), weights, agreement: null };
}
