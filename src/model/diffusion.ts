/**
 * The block (diffusion) drafter of a target model (DEER, DiffuSpec): `diffusion-drafter.json`
 * (shape, the trimmed vocabulary, training record) and `diffusion-drafter.safetensors` next to
 * the target's files, written by tools/fixtures/train_diffusion.py. A small bidirectional
 * transformer reads the last `context` tokens and `block` mask slots and predicts every masked
 * future token in one pass; the forward is in diffusion-reference.ts (CPU, the same computation
 * as tools/fixtures/diffusion.py) and the diffusion_* shaders (GPU).
 *
 * Its embedding has trim + 3 rows: the trimmed vocabulary (VocabTrim), then UNK (a context token
 * outside it), PAD (left of a short context) and MASK; the output head is tied to its first
 * `trim` rows.
 */
import { ConfigError, SafetensorsError, show } from '../errors.ts';
import { Rng } from '../verify/rng.ts';
import type { ModelConfig } from './config.ts';
import { parseSafetensors, serializeSafetensors, type RawTensor } from './safetensors.ts';
import type { ModelSource } from './source-base.ts';
import { tensorF32 } from './weights.ts';

export const DIFFUSION_JSON = 'diffusion-drafter.json';
const FORMAT = 'treespec-diffusion-drafter';

export interface DiffusionLayer {
  attnNorm: Float32Array; // (dim)
  qkv: Float32Array; // (3 * dim, dim): q, k, v rows
  o: Float32Array; // (dim, dim)
  mlpNorm: Float32Array; // (dim)
  gate: Float32Array; // (ffn, dim)
  up: Float32Array; // (ffn, dim)
  down: Float32Array; // (dim, ffn)
}

export interface DiffusionDrafterModel {
  /** Context tokens read (C). */
  context: number;
  /** Masked future positions predicted per pass (K). */
  block: number;
  dim: number;
  heads: number;
  ffn: number;
  /** (trim) token id of each trimmed-vocabulary index; distinct, below the target's vocabulary. */
  vocabIds: Int32Array;
  emb: Float32Array; // (trim + 3, dim)
  pos: Float32Array; // (context + block, dim)
  finalNorm: Float32Array; // (dim)
  layers: DiffusionLayer[];
  /** Training's held-out top-1 agreement with the target per position (stories), or null. */
  agreement: number[] | null;
}

/** The embedding rows after the trimmed vocabulary. */
export const unkRow = (m: Pick<DiffusionDrafterModel, 'vocabIds'>) => m.vocabIds.length;
export const padRow = (m: Pick<DiffusionDrafterModel, 'vocabIds'>) => m.vocabIds.length + 1;
export const maskRow = (m: Pick<DiffusionDrafterModel, 'vocabIds'>) => m.vocabIds.length + 2;

function need(cond: boolean, file: string, field: string, value: unknown, expected: string): void {
  if (!cond) throw new ConfigError(`${file}: "${field}" is ${show(value)}; expected ${expected}`);
}

const intIn = (v: unknown, lo: number, hi: number) => Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;

function parseAgreement(v: unknown, block: number): number[] | null {
  const s = (v as { heldout_agreement?: { stories?: unknown } } | undefined)?.heldout_agreement?.stories;
  if (!Array.isArray(s) || s.length !== block || !s.every((x) => typeof x?.top1 === 'number')) return null;
  return s.map((x: { top1: number }) => x.top1);
}

/** Validates diffusion-drafter.json and its weights file against the target's config. */
export function parseDiffusion(json: unknown, weightsBytes: Uint8Array, config: ModelConfig, file = DIFFUSION_JSON): DiffusionDrafterModel {
  const j = json as Record<string, unknown>;
  need(typeof j === 'object' && j !== null && j.format === FORMAT, file, 'format', j?.format, `"${FORMAT}"`);
  need(j.version === 1, file, 'version', j.version, '1');
  need(intIn(j.context, 1, 256), file, 'context', j.context, 'an integer in 1..256');
  need(intIn(j.block, 1, 16), file, 'block', j.block, 'an integer in 1..16');
  need(intIn(j.layers, 1, 8), file, 'layers', j.layers, 'an integer in 1..8');
  need(intIn(j.dim, 1, 4096), file, 'dim', j.dim, 'an integer in 1..4096');
  need(intIn(j.heads, 1, 64) && (j.dim as number) % (j.heads as number) === 0, file, 'heads', j.heads, `an integer in 1..64 dividing dim ${show(j.dim)}`);
  need(intIn(j.ffn, 1, 16384), file, 'ffn', j.ffn, 'an integer in 1..16384');
  const ids = j.vocab_ids;
  need(Array.isArray(ids) && ids.length >= 1 && ids.every((t) => Number.isInteger(t) && t >= 0 && t < config.vocabSize) && new Set(ids).size === ids.length,
    file, 'vocab_ids', Array.isArray(ids) ? `${ids.length} ids` : ids, `distinct token ids below the target's vocab_size ${config.vocabSize}`);
  const [C, K, D, F, L] = [j.context, j.block, j.dim, j.ffn, j.layers] as number[];
  const V = (ids as number[]).length;
  const wfile = typeof j.weights === 'string' ? j.weights : 'diffusion-drafter.safetensors';
  const tensors = parseSafetensors(weightsBytes, wfile);
  const get = (name: string, shape: number[]): Float32Array => {
    const t = tensors.get(name);
    if (!t) throw new SafetensorsError(`${wfile}: tensor "${name}" is missing (${L} layers in ${file})`);
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
      throw new SafetensorsError(`${wfile}: tensor "${name}" has shape ${show(t.shape)}, expected ${show(shape)}`);
    }
    return tensorF32(t);
  };
  const layers = Array.from({ length: L }, (_, i): DiffusionLayer => ({
    attnNorm: get(`blocks.${i}.attn_norm`, [D]),
    qkv: get(`blocks.${i}.qkv`, [3 * D, D]),
    o: get(`blocks.${i}.o`, [D, D]),
    mlpNorm: get(`blocks.${i}.mlp_norm`, [D]),
    gate: get(`blocks.${i}.gate`, [F, D]),
    up: get(`blocks.${i}.up`, [F, D]),
    down: get(`blocks.${i}.down`, [D, F]),
  }));
  return {
    context: C, block: K, dim: D, heads: j.heads as number, ffn: F, vocabIds: Int32Array.from(ids as number[]),
    emb: get('emb', [V + 3, D]), pos: get('pos', [C + K, D]), finalNorm: get('final_norm', [D]), layers,
    agreement: parseAgreement(j.training, K),
  };
}

/** The drafter stored next to a model (diffusion-drafter.json and its weights), or null when there is none. */
export async function loadDiffusion(source: ModelSource, config: ModelConfig): Promise<DiffusionDrafterModel | null> {
  if (!(await source.exists(DIFFUSION_JSON))) return null;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(await source.read(DIFFUSION_JSON)));
  } catch (e) {
    throw new ConfigError(`${source.id}/${DIFFUSION_JSON}: not valid JSON (${(e as Error).message})`);
  }
  const wfile = (json as { weights?: unknown })?.weights;
  return parseDiffusion(json, await source.read(typeof wfile === 'string' ? wfile : 'diffusion-drafter.safetensors'), config, `${source.id}/${DIFFUSION_JSON}`);
}

/** A random drafter for a fixture target (tests): uniform weights of std about 1/sqrt(fan-in), the first `trim` ids shuffled. */
export function randomDiffusion(config: ModelConfig, o: { context: number; block: number; layers: number; dim: number; heads: number; ffn: number; trim: number; seed: number }): DiffusionDrafterModel {
  const rng = new Rng(o.seed);
  const fill = (n: number, std: number) => Float32Array.from({ length: n }, () => (2 * rng.next() - 1) * std * Math.sqrt(3));
  const ones = (n: number) => new Float32Array(n).fill(1);
  const { dim: D, ffn: F } = o;
  const ids = Array.from({ length: config.vocabSize }, (_, i) => i);
  for (let i = ids.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [ids[i], ids[j]] = [ids[j], ids[i]];
  }
  const vocabIds = Int32Array.from(ids.slice(0, Math.min(o.trim, ids.length)));
  const layers = Array.from({ length: o.layers }, (): DiffusionLayer => ({
    attnNorm: ones(D), qkv: fill(3 * D * D, 1 / Math.sqrt(D)), o: fill(D * D, 1 / Math.sqrt(D)),
    mlpNorm: ones(D), gate: fill(F * D, 1 / Math.sqrt(D)), up: fill(F * D, 1 / Math.sqrt(D)), down: fill(D * F, 1 / Math.sqrt(F)),
  }));
  return {
    context: o.context, block: o.block, dim: D, heads: o.heads, ffn: F, vocabIds,
    emb: fill((vocabIds.length + 3) * D, 1), pos: fill((o.context + o.block) * D, 0.5), finalNorm: ones(D), layers, agreement: null,
  };
}

/** The drafter's files (diffusion-drafter.json, F32 safetensors): fixtures for tests. */
export function diffusionFiles(m: DiffusionDrafterModel): { json: Record<string, unknown>; weights: Uint8Array } {
  const D = m.dim;
  const t = (name: string, shape: number[], v: Float32Array): RawTensor => ({ name, dtype: 'F32', shape, data: new Uint8Array(v.slice().buffer) });
  const tensors = [t('emb', [m.vocabIds.length + 3, D], m.emb), t('pos', [m.context + m.block, D], m.pos), t('final_norm', [D], m.finalNorm)];
  m.layers.forEach((l, i) => tensors.push(
    t(`blocks.${i}.attn_norm`, [D], l.attnNorm), t(`blocks.${i}.qkv`, [3 * D, D], l.qkv), t(`blocks.${i}.o`, [D, D], l.o),
    t(`blocks.${i}.mlp_norm`, [D], l.mlpNorm), t(`blocks.${i}.gate`, [m.ffn, D], l.gate), t(`blocks.${i}.up`, [m.ffn, D], l.up),
    t(`blocks.${i}.down`, [D, m.ffn], l.down)));
  const json = {
    format: FORMAT, version: 1, weights: 'diffusion-drafter.safetensors', context: m.context, block: m.block,
    layers: m.layers.length, heads: m.heads, dim: D, ffn: m.ffn, vocab_ids: Array.from(m.vocabIds),
  };
  return { json, weights: serializeSafetensors(tensors) };
}
