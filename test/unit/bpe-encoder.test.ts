/**
 * Our BPE encoder (src/tokenizer/bpe-encoder.ts) against @huggingface/tokenizers, the oracle:
 * the same ids for every shipped tokenizer and every fixture tokenizer it takes over, on this
 * repository's own text files (read now: cut at random places, and its Markdown whole as documents
 * are indexed) and on seeded random strings
 * (unicode, CJK, emoji, lone surrogates, bytes, whitespace runs, special tokens and their
 * prefixes), with and without special tokens, cold and from the word cache. Tokenizers of
 * other flavours stay on the library.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { Tokenizer } from '../../src/tokenizer/tokenizer.ts';
import { bpeEncoderFor } from '../../src/tokenizer/bpe-encoder.ts';
import { encodeLongText, type Encoder } from '../../src/tokenizer/long-text.ts';
import { byteLevelTokenizer } from '../../src/model/fixture-tokenizer.ts';
import { Rng } from '../../src/verify/rng.ts';

type Json = Record<string, unknown>;
const readJson = (path: string): Json => JSON.parse(readFileSync(path, 'utf8'));
const clone = <T>(v: T): T => structuredClone(v);

/** Text the differential runs over: the repository's files, cut at random offsets and lengths. */
function repoSlices(rng: Rng, count: number): string[] {
  const files = ['README.md', 'docs/quantization.md', 'bench/README.md', 'src/tokenizer/bpe-encoder.ts', 'src/tokenizer/tokenizer.ts', 'shaders/topk_f32.wgsl', 'tools/fixtures/train.py'];
  const texts = files.map((f) => readFileSync(f, 'utf8'));
  return Array.from({ length: count }, () => {
    const t = texts[Math.floor(rng.next() * texts.length)];
    const start = Math.floor(rng.next() * t.length);
    return t.slice(start, start + 1 + Math.floor(rng.next() ** 3 * 3000));
  });
}

const POOLS = [
  'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', '0123456789', '     ', '\t\n\r\n\n\n  \u00a0\u3000\v\f',
  '.,;:!?\'"`()[]{}<>/\\|-_=+*&^%$#@~', 'éèêàçñöüßøåæœ', 'αβγδλπΩ', 'жизньпривет', '日本語の中文字漢字한국어', '😀👍🏽👨‍👩‍👧🇫🇷💡🧪', '∑∫√∞≈≠', '\u2581▁', '\u0000\u0001\u007f\u200b\u200d\ufeff',
];
const SPECIALS = ['<s>', '</s>', '<unk>', '<|endoftext|>', '<|im_start|>', '<|im_end|>', '<s', '<|im_', '<0x41>', "'s", "'ll", ' the', 'Ġ'];

/** A seeded random string from mixed pools, with special tokens, lone surrogates and random code units. */
function randomText(rng: Rng): string {
  const parts: string[] = [];
  const n = 1 + Math.floor(rng.next() * 40);
  for (let i = 0; i < n; i++) {
    const k = rng.next();
    if (k < 0.1) parts.push(SPECIALS[Math.floor(rng.next() * SPECIALS.length)]);
    else if (k < 0.13) parts.push(String.fromCharCode(0xd800 + Math.floor(rng.next() * 0x800)));
    else if (k < 0.18) parts.push(String.fromCharCode(Math.floor(rng.next() * 0x10000)));
    else if (k < 0.22) parts.push(String.fromCodePoint(0x10000 + Math.floor(rng.next() * 0xf0000)));
    else {
      const pool = [...POOLS[Math.floor(rng.next() * POOLS.length)]];
      const len = 1 + Math.floor(rng.next() * 8);
      parts.push(Array.from({ length: len }, () => pool[Math.floor(rng.next() * pool.length)]).join(''));
    }
  }
  return parts.join(rng.next() < 0.5 ? '' : ' ');
}

function texts(seed: number, scale: number): string[] {
  const rng = new Rng(seed);
  return ['', ' ', '  ', '\n', 'a', ' a', '<s>', ' <s> ', 'Hello world', ...repoSlices(rng, 60 * scale), ...Array.from({ length: 300 * scale }, () => randomText(rng))];
}

/**
 * Every text gives the library's ids, twice (the second time from our word cache); with special
 * tokens for every fourth text (the post-processor only adds ids around the same ones).
 */
function expectLibraryIds(json: unknown, config: Json, seed: number, scale = 1): { ours: Encoder; hf: HfTokenizer } {
  // Our encoder alone (Tokenizer.fromFiles would build a second library tokenizer; its use of ours is checked below).
  const bpe = bpeEncoderFor(json, config);
  if (typeof bpe === 'string') throw new Error(`stays on the library: ${bpe}`);
  const ours: Encoder = { encode: (s, o) => bpe.encode(s, o.addSpecialTokens ?? true) };
  const hf = new HfTokenizer(json as object, config);
  for (const [i, t] of texts(seed, scale).entries()) {
    for (const special of i % 4 === 0 ? [false, true] : [false]) {
      const want = hf.encode(t, { add_special_tokens: special }).ids;
      for (let pass = 0; pass < 2; pass++) {
        const got = Array.from(ours.encode(t, { addSpecialTokens: special }));
        if (got.length !== want.length || got.some((v, i) => v !== want[i])) expect({ text: t, special, pass, got }).toEqual({ text: t, special, pass, got: want });
      }
    }
  }
  return { ours, hf };
}

/** Documents as indexed (encodeLongText, word by word): all of the repository's Markdown. */
function expectDocumentIds({ ours, hf }: { ours: Encoder; hf: HfTokenizer }): void {
  const files = execFileSync('git', ['ls-files', '*.md'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  const text = files.map((f) => readFileSync(f, 'utf8')).join('\n\n');
  expect(text.length).toBeGreaterThan(50_000);
  const library = { encode: (s: string) => Int32Array.from(hf.encode(s, { add_special_tokens: false }).ids) };
  expect(Array.from(encodeLongText(ours, text))).toEqual(Array.from(encodeLongText(library, text)));
}

const shipped = (name: string) => [readJson(`public/models/${name}/tokenizer.json`), readJson(`public/models/${name}/tokenizer_config.json`)] as const;

describe('our BPE encoder gives the library\'s ids', () => {
  it('shipped SentencePiece-style BPE (tinystories-target, and -draft with the same files: Llama 2, byte fallback)', () => {
    const [json, config] = shipped('tinystories-target');
    const { ours, hf } = expectLibraryIds(json, config, 1);
    expectDocumentIds({ ours, hf });
    expect(shipped('tinystories-draft')).toEqual([json, config]);
    // Tokenizer.encode runs ours, BOS included by default.
    const tok = Tokenizer.fromFiles(json, config);
    expect(tok.encoder).toBe('bpe');
    for (const text of texts(30, 0.1)) expect(Array.from(tok.encode(text))).toEqual(hf.encode(text).ids);
  });

  it('shipped byte-level BPE (tinystories-draft-gpt2: GPT-2)', () => {
    expectDocumentIds(expectLibraryIds(...shipped('tinystories-draft-gpt2'), 3));
  });

  it('fixture byte-level tokenizers (fixture models of every vocabulary size); Tokenizer.encode is ours', () => {
    for (const [i, v] of [259, 300, 4096].entries()) {
      const t = byteLevelTokenizer(v);
      const { hf } = expectLibraryIds(t.tokenizerJson, t.tokenizerConfig as Json, 10 + i, 0.5);
      const tok = Tokenizer.fromFiles(t.tokenizerJson, t.tokenizerConfig);
      expect(tok.encoder).toBe('bpe');
      for (const text of texts(20 + i, 0.1)) expect(Array.from(tok.encode(text))).toEqual(hf.encode(text).ids);
    }
  });

  it('variants the shipped files do not use: prefix space, no regex, lstrip/rstrip, merge pairs, duplicate merges, unk runs', () => {
    const base = byteLevelTokenizer(600);
    const json = base.tokenizerJson as Json;
    const model = json.model as Json;
    const merges = model.merges as string[];
    const withPre = (pre: Json) => ({ ...clone(json), pre_tokenizer: pre });
    expectLibraryIds(withPre({ type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true }), base.tokenizerConfig as Json, 20, 0.25);
    expectLibraryIds(withPre({ type: 'ByteLevel', add_prefix_space: false, use_regex: false }), base.tokenizerConfig as Json, 21, 0.25);
    const stripped = clone(json);
    (stripped.added_tokens as Json[])[1].lstrip = true;
    (stripped.added_tokens as Json[])[2].rstrip = true;
    expectLibraryIds(stripped, base.tokenizerConfig as Json, 22, 0.25);
    // Pairs instead of strings; a duplicate merge takes its later rank.
    const pairs = { ...clone(json), model: { ...clone(model), merges: [...merges.slice(0, 40), merges[5], ...merges.slice(40)].map((m) => m.split(' ')) } };
    expectLibraryIds(pairs, base.tokenizerConfig as Json, 23, 0.25);
    // Llama 2 without the byte tokens of UTF-8 lead bytes (continuation bytes kept): a piece
    // outside the vocabulary falls back only when all its bytes exist, else becomes <unk>; runs fused.
    const [llama, llamaConfig] = shipped('tinystories-target');
    const sparse = clone(llama);
    const vocab = (sparse.model as Json).vocab as Record<string, number>;
    for (let b = 0xc0; b < 0x100; b++) delete vocab[`<0x${b.toString(16).toUpperCase()}>`];
    expectLibraryIds(sparse, llamaConfig, 24, 0.25);
    const noFallback = clone(sparse);
    (noFallback.model as Json).byte_fallback = false;
    expectLibraryIds(noFallback, llamaConfig, 25, 0.25);
  });

  it('other flavours stay on the library, decided from tokenizer.json', () => {
    // The hf-goldens families' flavours (Llama 3, Qwen 3, Gemma) and others, as edits of the shipped file.
    const [llama, config] = shipped('tinystories-target');
    // Shallow copies (the vocabulary and merges are shared, never edited); our decision alone (no library load).
    const edited = (edit: (j: Json) => void) => {
      const j = { ...llama, model: { ...(llama.model as Json) }, added_tokens: (llama.added_tokens as Json[]).map((a) => ({ ...a })) };
      edit(j);
      const result = bpeEncoderFor(j, config);
      return typeof result === 'string' ? `library (${result})` : 'bpe';
    };
    expect(edited(() => {})).toBe('bpe');
    const model = (j: Json) => j.model as Json;
    expect(edited((j) => (model(j).ignore_merges = true))).toBe('library (model.ignore_merges is set)');
    expect(edited((j) => (j.normalizer = { type: 'NFC' }))).toBe('library (normalizer "NFC" is not one we repeat)');
    expect(edited((j) => (j.normalizer = { type: 'Replace', pattern: { Regex: ' +' }, content: '▁' }))).toBe('library (normalizer "Replace" is not one we repeat)');
    expect(edited((j) => (j.pre_tokenizer = { type: 'Split', pattern: { String: ' ' }, behavior: 'MergedWithPrevious', invert: false }))).toBe('library (pre_tokenizer "Split" is not one we repeat)');
    expect(edited((j) => (j.pre_tokenizer = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false }))).toBe('library (pre_tokenizer "Metaspace" is not one we repeat)');
    expect(edited((j) => (j.post_processor = { type: 'Sequence', processors: [] }))).toBe('library (post_processor "Sequence" is not one we repeat)');
    expect(edited((j) => (model(j).end_of_word_suffix = '</w>'))).toBe('library (model.end_of_word_suffix is set)');
    expect(edited((j) => ((j.added_tokens as Json[])[1].normalized = true))).toBe('library (added token "<s>" is normalized)');
    expect(edited((j) => (model(j).unk_token = '<nope>'))).toBe('library (model.unk_token is not one id of model.vocab)');
    expect(bpeEncoderFor(llama, { ...config, remove_space: true })).toBe('tokenizer_config asks for remove_space or lowercasing');
  });
});
