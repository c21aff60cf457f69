/**
 * Every wait is bounded (issue 20): a model server on 127.0.0.1 that accepts connections and
 * never answers, or stops sending mid-body, or trickles forever, ends in ModelSourceError naming
 * the URL (stall timeout per request, retries, overall timeout); a looping chat template ends in
 * TokenizerError; indexing documents reports progress and is fast.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Template } from '@huggingface/jinja';
import { ModelSourceError, TokenizerError } from '../../src/errors';
import { fixtureTokenizer } from '../../src/model/fixture-tokenizer';
import { Tokenizer } from '../../src/tokenizer/tokenizer';
import { encodeLongText } from '../../src/tokenizer/long-text';
import { indexDocuments } from '../../src/engine/documents';
import type { DocumentsProgress } from '../../src/engine/options';
import { Rng } from '../../src/verify/rng';
import { readFileSync } from 'node:fs';
import { UrlSource } from '../../src/model/source';
import { loadModelFiles } from '../../src/model/weights';

/** Paths: /silent/* never answers; /stall/* sends headers and 10 bytes of 1000, then nothing; /trickle/* a byte every 20 ms. */
function handler(url: string, res: ServerResponse): void {
  if (url.startsWith('/silent/')) return;
  if (url.startsWith('/stall/')) {
    res.writeHead(200, { 'content-length': '1000' });
    res.write(new Uint8Array(10));
    return;
  }
  if (url.startsWith('/trickle/')) {
    res.writeHead(200, { 'content-length': '100000' });
    const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write(new Uint8Array(1))), 20);
    return;
  }
  res.writeHead(404).end();
}

describe('model downloads never hang', () => {
  let server: Server;
  let base: string;
  const requests: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      handler(req.url ?? '', res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  async function failure(p: Promise<unknown>): Promise<ModelSourceError> {
    const t0 = performance.now();
    const e = await p.then(
      () => {
        throw new Error('expected a failure');
      },
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(ModelSourceError);
    expect(performance.now() - t0).toBeLessThan(5000);
    return e as ModelSourceError;
  }

  const opts = { stallTimeoutMs: 150, retries: 2, retryDelayMs: 10, cacheStorage: null };

  it('a server that accepts and never answers: the stall timeout, retries, then ModelSourceError naming the URL', async () => {
    const before = requests.length;
    const e = await failure(new UrlSource(`${base}/silent/`, opts).read('config.json'));
    expect(e.message).toMatch(new RegExp(`^${base}/silent/config\\.json: download failed after 3 attempts \\(last: network error: no data for 150 ms \\(stalled\\)\\)`));
    expect(e.file).toBe(`${base}/silent/config.json`);
    expect(requests.length - before).toBeGreaterThanOrEqual(2); // retried (the last request may still be in transit)
    // exists() (HEAD) and a whole model load are bounded the same way
    const h = await failure(new UrlSource(`${base}/silent/`, opts).exists('model.safetensors.index.json'));
    expect(h.message).toMatch(/silent\/model\.safetensors\.index\.json: request failed \(no data for 150 ms \(stalled\), after 3 attempts\)/);
    await failure(loadModelFiles(new UrlSource(`${base}/silent/`, opts)));
  });

  it('a body that stops mid-way: stalled attempts are resumed, then ModelSourceError', async () => {
    const e = await failure(new UrlSource(`${base}/stall/`, opts).read('model.safetensors'));
    expect(e.message).toMatch(/stall\/model\.safetensors: download failed after 3 attempts \(last: body interrupted after \d+ bytes: no data for 150 ms \(stalled\)\)/);
  });

  it('a trickle that never stalls: the overall timeoutMs ends it with ModelSourceError', async () => {
    const e = await failure(new UrlSource(`${base}/trickle/`, { ...opts, timeoutMs: 400 }).read('model.safetensors'));
    expect(e.message).toMatch(/trickle\/model\.safetensors: not complete within timeoutMs 400 ms \(\d+ bytes received\)/);
  });
});

describe('chat templates run under a budget', () => {
  const tok = fixtureTokenizer(300);
  const withTemplate = (t: string) => Tokenizer.fromFiles(tok.tokenizerJson, { ...(tok.tokenizerConfig as object), chat_template: t });
  const cases: [string, RegExp][] = [
    ['{% for i in range(100000000) %}x{% endfor %}', /range\(\) of 100000000 items/],
    ['{% for i in range(50000) %}{% for j in range(50000) %}{{ j }}{% endfor %}{% endfor %}', /evaluation steps|ms\)|characters/],
    ["{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}", /longer than \d+ characters/],
    ['{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}', /failed to render/],
  ];
  for (const [template, why] of cases) {
    it(`TokenizerError within the budget: ${template.slice(0, 60)}`, () => {
      const t0 = performance.now();
      const t = withTemplate(template);
      expect(() => t.applyChatTemplate([{ role: 'user', content: 'hi' }])).toThrow(TokenizerError);
      expect(() => t.applyChatTemplate([{ role: 'user', content: 'hi' }])).toThrow(why);
      expect(performance.now() - t0).toBeLessThan(6000);
    });
  }

  it('a normal template still renders, and the library renders unbudgeted elsewhere', () => {
    const t = withTemplate("{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}");
    expect(t.applyChatTemplate([{ role: 'user', content: 'hi' }])).toBe('<user>hi<assistant>');
    expect(new Template('{% for i in range(3) %}{{ i }}{% endfor %}').render({})).toBe('012');
  });
});

describe('indexing documents is fast and reports progress', () => {
  /** Seeded prose-like text: Zipf-distributed words from a fixed list, sentences, paragraphs. */
  function prose(chars: number, seed: number): string {
    const rng = new Rng(seed);
    const words = Array.from({ length: 5000 }, (_, i) => (i < 60 ? 'the a of and to in is was it he she they that with for on as at by this'.split(' ')[i % 20] : '') + String.fromCharCode(97 + (i % 26), 97 + ((i * 7) % 26), 97 + ((i * 13) % 26)).slice(0, 2 + (i % 3)) + (i % 5 === 0 ? 'ing' : i % 7 === 0 ? 'ed' : ''));
    const parts: string[] = [];
    let n = 0;
    while (n < chars) {
      const len = 5 + Math.floor(rng.next() * 15);
      const sentence = Array.from({ length: len }, () => words[Math.floor(words.length * rng.next() ** 3)]).join(' ');
      const s = sentence[0].toUpperCase() + sentence.slice(1) + (rng.next() < 0.2 ? '.\n\n' : '. ');
      parts.push(s);
      n += s.length;
    }
    return parts.join('');
  }

  const dir = 'public/models/tinystories-target/';
  const tokenizer = Tokenizer.fromFiles(JSON.parse(readFileSync(dir + 'tokenizer.json', 'utf8')), JSON.parse(readFileSync(dir + 'tokenizer_config.json', 'utf8')));

  it('the same token ids as encoding each document whole (SentencePiece and byte-level BPE)', () => {
    const gpt2 = 'public/models/tinystories-draft-gpt2/';
    const other = Tokenizer.fromFiles(JSON.parse(readFileSync(gpt2 + 'tokenizer.json', 'utf8')), JSON.parse(readFileSync(gpt2 + 'tokenizer_config.json', 'utf8')));
    const text = prose(20_000, 1) + ' x  y, (z) {w}\ttab  end';
    for (const t of [tokenizer, other]) expect(Array.from(encodeLongText(t, text))).toEqual(Array.from(t.encode(text, { addSpecialTokens: false })));
  });

  it('512 KB of documents: ready within seconds, with progress per stage, and searchable', async () => {
    const docs = [prose(256 * 1024, 2), prose(256 * 1024, 3)];
    const seen: DocumentsProgress[] = [];
    const t0 = performance.now();
    const store = await indexDocuments(tokenizer, docs, (p) => seen.push({ ...p }));
    const ms = performance.now() - t0;
    // Encoding each document whole took about 50 s per 512 KB here; word pieces and SA-IS take a few.
    expect(ms).toBeLessThan(8000);
    const tokenize = seen.filter((p) => p.stage === 'tokenize');
    expect(tokenize.length).toBeGreaterThan(4);
    expect(tokenize.every((p, i) => i === 0 || p.done >= tokenize[i - 1].done)).toBe(true);
    expect(tokenize.at(-1)).toEqual({ stage: 'tokenize', done: docs[0].length + docs[1].length, total: docs[0].length + docs[1].length });
    expect(seen.at(-1)).toEqual({ stage: 'index', done: store!.length - 2, total: store!.length - 2 });
    const probe = tokenizer.encode(docs[1].slice(1000, 1100), { addSpecialTokens: false }).slice(2, 12);
    expect(store!.longestSuffix(probe, 10).length).toBe(10);
  }, 60_000);
});
