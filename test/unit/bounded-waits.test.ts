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
