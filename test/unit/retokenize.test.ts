/** Re-tokenization between the shipped target (SentencePiece BPE) and GPT-2 draft tokenizers (src/draft/retokenize.ts). */
import { describe, expect, it, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { Tokenizer } from '../../src/tokenizer/tokenizer';
import { DraftContext, TargetMapper, stableCut } from '../../src/draft/retokenize';

function shippedTokenizer(name: string): Tokenizer {
  const dir = `public/models/${name}`;
  return Tokenizer.fromFiles(JSON.parse(readFileSync(`${dir}/tokenizer.json`, 'utf8')), JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, 'utf8')));
}

let target: Tokenizer;
let gpt2: Tokenizer;
beforeAll(() => {
  target = shippedTokenizer('tinystories-target');
  gpt2 = shippedTokenizer('tinystories-draft-gpt2');
});

describe('stableCut', () => {
  it('drops the last word and the whitespace before it', () => {
    const cut = (s: string) => s.slice(0, stableCut(s));
    expect(cut('a cat sa')).toBe('a cat');
    expect(cut('one\n')).toBe('one');
    expect(cut('x = f(')).toBe('x = f(');
    expect(cut('end.')).toBe('end.');
    expect(cut('word')).toBe('');
    expect(cut('')).toBe('');
    expect(cut('self.assert_equal')).toBe('self.');
    expect(cut('il était déjà')).toBe('il était');
  });
});

describe('DraftContext', () => {
  it('incremental re-tokenization equals encoding the whole text (GPT-2), whatever the growth steps', () => {
    const texts = [
      'Once upon a time, there was a little girl named Lily. She liked to play outside.',
      'def add(a, b):\n    return a + b\n\n\nclass Foo(object):\n    """Doc."""\n',
      'naïve café — “quoted” text, 3.14 and  two  spaces',
    ];
    const bos = gpt2.eosIds[0];
    for (const text of texts) {
      for (const step of [1, 3, 7]) {
        const ctx = new DraftContext(gpt2, [bos]);
        for (let end = step; end < text.length + step; end += step) {
          const part = text.slice(0, Math.min(end, text.length));
          expect(Array.from(ctx.update(part))).toEqual([bos, ...gpt2.encode(part, { addSpecialTokens: false })]);
        }
      }
    }
  });

  it('restarts on a text that does not extend the previous one', () => {
    const ctx = new DraftContext(gpt2, []);
    ctx.update('The cat sat on the mat.');
    expect(Array.from(ctx.update('A dog ran'))).toEqual(Array.from(gpt2.encode('A dog ran', { addSpecialTokens: false })));
  });
});

describe('TargetMapper', () => {
  const committedOf = (text: string) => target.encode(text);

  it('maps draft text to the target ids that continue the committed tokens', () => {
    const m = new TargetMapper(target);
    for (const [prefix, draft] of [
      ['Once upon a time, there was', ' a little girl named'],
      ['def f(x):\n', '    return x'],
      ['She said', ', "Hello!"'],
    ]) {
      const committed = committedOf(prefix);
      const ids = m.map(committed, target.decode(committed), draft);
      expect(ids.length).toBeGreaterThan(0);
      expect(target.decode([...committed, ...ids])).toBe(prefix + draft);
      // Here the whole text's own tokenization agrees: the draft ids are its tail.
      expect(Array.from(ids)).toEqual(Array.from(committedOf(prefix + draft).slice(committed.length)));
    }
  });

  it('gives no draft when the continuation would re-tokenize committed tokens (a word split at the boundary)', () => {
    const m = new TargetMapper(target);
    const committed = committedOf('Once upon a time, there w');
    expect(Array.from(target.encode('Once upon a time, there was')).slice(0, committed.length)).not.toEqual(Array.from(committed));
    expect(m.map(committed, target.decode(committed), 'as a girl').length).toBe(0);
    expect(m.map(committed, target.decode(committed), '').length).toBe(0);
  });

  it('caches mappings by window ids and draft text, bounded (LRU)', () => {
    const m = new TargetMapper(target, { window: 2, maxEntries: 2 });
    const a = committedOf('The dog');
    const b = committedOf('A big dog');
    const first = m.map(a, target.decode(a), ' ran away');
    expect(m.map(a, target.decode(a), ' ran away')).toBe(first);
    expect([m.hits, m.misses]).toEqual([1, 1]);
    m.map(b, target.decode(b), ' ran away'); // another window: another entry
    expect([m.hits, m.misses, m.size]).toEqual([1, 2, 2]);
    m.map(a, target.decode(a), ' sat'); // evicts the least recently used
    expect(m.size).toBe(2);
    m.map(a, target.decode(a), ' ran away');
    expect(m.misses).toBe(4);
    expect(() => new TargetMapper(target, { window: 0 })).toThrow(/window/);
  });
});
