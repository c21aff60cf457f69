/**
 * Model sources as a web app meets them (issue 22): a single-page app's server answers every
 * unknown path with 200 and its index.html, so optional files (generation config, shard index,
 * tokenizer config) must count as absent and a missing required file must say what happened;
 * in a browser, a string names a URL (relative to the page) and a folder is a clear error.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FolderSource, MemorySource, UrlSource, sourceFromString } from '../../src/model/source.ts';
import { loadModelFiles } from '../../src/model/weights.ts';
import { FIXTURE_SHAPES, makeFixture } from '../../src/model/fixture.ts';
import { ModelSourceError } from '../../src/errors.ts';

const INDEX_HTML = '<!doctype html><html><body><script type="module" src="/src/main.ts"></script></body></html>';

/** A Vite-like server with the SPA fallback: the model's files, and index.html (200) for anything else. */
function spaServer(files: Map<string, Uint8Array>, base: string) {
  const asked: string[] = [];
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    asked.push(`${init?.method ?? 'GET'} ${url}`);
    const data = url.startsWith(base) ? files.get(decodeURIComponent(url.slice(base.length))) : undefined;
    const head = init?.method === 'HEAD';
    if (!data) return new Response(head ? null : INDEX_HTML, { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' } });
    const headers = { 'content-length': String(data.length), 'content-type': url.endsWith('.json') ? 'application/json' : 'application/octet-stream' };
    return new Response(head ? null : (data as Uint8Array<ArrayBuffer>), { status: 200, headers });
  }) as typeof globalThis.fetch;
  return { fetch, asked };
}

const base = 'http://app.test/models/tiny/';
const noCache = (fetch: typeof globalThis.fetch) => ({ fetch, cacheStorage: null, retryDelayMs: 0 });

describe('UrlSource behind a single-page app fallback', () => {
  it('loads a model: the optional files the server answers with index.html count as absent', async () => {
    const files = makeFixture(FIXTURE_SHAPES.tiny, 1);
    expect(files.has('generation_config.json')).toBe(false);
    const s = spaServer(files, base);
    const loaded = await loadModelFiles(new UrlSource(base, noCache(s.fetch)));
    const direct = await loadModelFiles(new MemorySource(files));
    expect(loaded.config).toEqual(direct.config);
    expect([...loaded.tensors.keys()]).toEqual([...direct.tensors.keys()]);
    // The probes happened, were answered with the page (not a 404), and the page was not downloaded.
    for (const optional of ['generation_config.json', 'model.safetensors.index.json']) {
      expect(s.asked).toContain(`HEAD ${base}${optional}`);
      expect(s.asked).not.toContain(`GET ${base}${optional}`);
    }
    expect(await new UrlSource(base, noCache(s.fetch)).exists('generation_config.json')).toBe(false);
    expect(await new UrlSource(base, noCache(s.fetch)).exists('config.json')).toBe(true);
  });

  it('a required file answered with a web page is a ModelSourceError saying so, not a JSON error', async () => {
    const s = spaServer(new Map(), base);
    const err = await loadModelFiles(new UrlSource(base, noCache(s.fetch))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelSourceError);
    expect((err as ModelSourceError).message).toMatch(/config\.json: the server answered with a web page \(text\/html\)/);
    expect((err as ModelSourceError).status).toBe(200);
  });

  it('an optional file whose text is not JSON at all counts as absent; broken JSON is still an error', async () => {
    const files = makeFixture(FIXTURE_SHAPES.tiny, 1);
    files.set('generation_config.json', new TextEncoder().encode('Not Found'));
    files.set('tokenizer_config.json', new TextEncoder().encode('<html>404</html>'));
    const loaded = await loadModelFiles(new MemorySource(files));
    expect(loaded.tokenizerConfig).toBeNull();
    files.set('generation_config.json', new TextEncoder().encode('{"eos_token_id": '));
    await expect(loadModelFiles(new MemorySource(files))).rejects.toThrow(/generation_config\.json: not valid UTF-8 JSON/);
  });
});

describe('a model named by a string in a browser', () => {
  const g = globalThis as Record<string, unknown>;
  afterEach(() => {
    delete g.window;
    delete g.document;
  });

  it('is a URL resolved against the page; a folder source refuses with a clear error', async () => {
    expect(sourceFromString('/models/tiny')).toBeInstanceOf(FolderSource);
    g.window = {};
    g.document = { baseURI: 'http://app.test/sub/page.html' };
    const root = sourceFromString('/models/tiny');
    expect(root).toBeInstanceOf(UrlSource);
    expect((root as UrlSource).base).toBe('http://app.test/models/tiny/');
    expect((sourceFromString('models/tiny/') as UrlSource).base).toBe('http://app.test/sub/models/tiny/');
    expect((sourceFromString('https://huggingface.co/org/m') as UrlSource).base).toBe('https://huggingface.co/org/m/resolve/main/');
    const folder = new FolderSource('/data/models/tiny');
    await expect(folder.read('config.json')).rejects.toThrow(ModelSourceError);
    await expect(folder.exists('config.json')).rejects.toThrow(/a folder on disk is a model source only in Node; in a browser, name the model by its URL/);
  });
});
