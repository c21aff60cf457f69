import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileListSource, FolderSource, MemorySource, UrlSource, sourceFromString, type LoadProgress } from '../../src/model/source.ts';
import { ModelSourceError } from '../../src/errors.ts';

const DATA = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 255);

interface Call { url: string; method: string; range: string | null }

/** A body that delivers `bytes` in 100-byte chunks, then either ends or fails like a dropped connection. */
function body(bytes: Uint8Array, fail: boolean): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(c) {
      if (i >= bytes.length) return fail ? c.error(new Error('connection reset')) : c.close();
      c.enqueue(bytes.slice(i, i + 100));
      i += 100;
    },
  });
}

/**
 * A scripted server: each GET consumes the next behaviour. 'ok' serves the file (honouring
 * Range with 206), 'cut' announces the full length but stops after 600 bytes, 'reset' fails
 * the connection after 300 bytes, 'norange' ignores Range, a number is that HTTP status.
 */
function server(script: (string | number)[]) {
  const calls: Call[] = [];
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    const headers = new Headers(init?.headers);
    const call = { url, method: init?.method ?? 'GET', range: headers.get('Range') };
    calls.push(call);
    if (call.method === 'HEAD') return new Response(null, { status: url.endsWith('missing.json') ? 404 : 200 });
    const step = script.shift() ?? 'ok';
    if (typeof step === 'number') return new Response('error', { status: step, statusText: 'Scripted' });
    const from = step !== 'norange' && call.range ? Number(/bytes=(\d+)-/.exec(call.range)![1]) : 0;
    const rest = DATA.subarray(from);
    const h: Record<string, string> = { 'content-length': String(rest.length) };
    if (from > 0) h['content-range'] = `bytes ${from}-${DATA.length - 1}/${DATA.length}`;
    const status = from > 0 ? 206 : 200;
    if (step === 'cut') return new Response(body(rest.subarray(0, 600 - from), false), { status, headers: h });
    if (step === 'reset') return new Response(body(rest.subarray(0, 300), true), { status, headers: h });
    return new Response(body(rest, false), { status, headers: h });
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

/** In-memory Cache API with a hook to damage stored entries. */
function fakeCaches() {
  const store = new Map<string, { bytes: Uint8Array; headers: Headers }>();
  const cache = {
    async match(url: string) {
      const e = store.get(url);
      return e ? new Response(e.bytes.slice(), { headers: e.headers }) : undefined;
    },
    async put(url: string, res: Response) {
      store.set(url, { bytes: new Uint8Array(await res.arrayBuffer()), headers: res.headers });
    },
    async delete(url: string) {
      return store.delete(url);
    },
  };
  return { storage: { open: async () => cache } as unknown as CacheStorage, store };
}

const opts = (fetch: typeof globalThis.fetch) => ({ fetch, cacheStorage: null, retryDelayMs: 0 });

describe('UrlSource', () => {
  it('downloads in the hub layout with progress up to the announced total', async () => {
    const s = server(['ok']);
    const src = new UrlSource('https://huggingface.co/org/model', opts(s.fetch));
    const progress: LoadProgress[] = [];
    const got = await src.read('sub/model.safetensors', (p) => progress.push(p));
    expect(got).toEqual(DATA);
    expect(s.calls[0].url).toBe('https://huggingface.co/org/model/resolve/main/sub/model.safetensors');
    expect(progress.at(-1)).toEqual({ file: 'sub/model.safetensors', loaded: 1000, total: 1000 });
    expect(progress.length).toBe(10);
  });

  it('does not retry a 404 and reports the status', async () => {
    const s = server([404]);
    const err = await new UrlSource('http://x/m', opts(s.fetch)).read('config.json').catch((e) => e);
    expect(err).toBeInstanceOf(ModelSourceError);
    expect(err.status).toBe(404);
    expect(err.message).toMatch(/http:\/\/x\/m\/config\.json: HTTP 404/);
    expect(s.calls.length).toBe(1);
  });

  it('retries transient HTTP errors', async () => {
    const s = server([503, 429, 'ok']);
    expect(await new UrlSource('http://x/m', opts(s.fetch)).read('f')).toEqual(DATA);
    expect(s.calls.length).toBe(3);
  });

  it('resumes a truncated or interrupted body with a Range request', async () => {
    const s = server(['cut', 'reset', 'ok']);
    expect(await new UrlSource('http://x/m', opts(s.fetch)).read('f')).toEqual(DATA);
    expect(s.calls.map((c) => c.range)).toEqual([null, 'bytes=600-', 'bytes=900-']);
  });

  it('starts over when the server ignores Range', async () => {
    const s = server(['cut', 'norange']);
    expect(await new UrlSource('http://x/m', opts(s.fetch)).read('f')).toEqual(DATA);
  });

  it('never returns a truncated file: fails after the retries', async () => {
    const s = server(['reset', 'reset', 'reset']);
    const src = new UrlSource('http://x/m', { ...opts(s.fetch), retries: 2 });
    // each reset delivers 300 more bytes; 3 attempts reach 900 of 1000
    await expect(src.read('f')).rejects.toThrow(/download failed after 3 attempts \(last: body interrupted after 900 bytes/);
  });

  it('serves from the cache and re-fetches a corrupted cache entry', async () => {
    const s = server(['ok', 'ok']);
    const c = fakeCaches();
    const src = new UrlSource('http://x/m', { fetch: s.fetch, cacheStorage: c.storage, retryDelayMs: 0 });
    expect(await src.read('f')).toEqual(DATA);
    expect(await src.read('f')).toEqual(DATA);
    expect(s.calls.length).toBe(1);
    c.store.get('http://x/m/f')!.bytes[17] ^= 1;
    expect(await src.read('f')).toEqual(DATA);
    expect(s.calls.length).toBe(2);
    c.store.get('http://x/m/f')!.bytes = DATA.slice(0, 500);
    expect(await src.read('f')).toEqual(DATA);
    expect(s.calls.length).toBe(3);
  });

  it('exists() uses HEAD; refuses file names that escape the base', async () => {
    const s = server([]);
    const src = new UrlSource('http://x/m/', opts(s.fetch));
    expect(await src.exists('config.json')).toBe(true);
    expect(await src.exists('missing.json')).toBe(false);
    await expect(src.read('../secret')).rejects.toThrow(ModelSourceError);
  });
});

describe('FolderSource and MemorySource', () => {
  it('read files, report missing ones and refuse path escapes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'treespec-src-'));
    try {
      await writeFile(join(dir, 'a.bin'), DATA);
      const src = sourceFromString(dir);
      expect(src).toBeInstanceOf(FolderSource);
      expect(await src.read('a.bin')).toEqual(DATA);
      expect(await src.exists('a.bin')).toBe(true);
      expect(await src.exists('b.bin')).toBe(false);
      await expect(src.read('b.bin')).rejects.toThrow(/b\.bin" not found/);
      for (const bad of ['../a.bin', '/etc/passwd', 'x//y', 'a\\b', '']) await expect(src.read(bad)).rejects.toThrow(ModelSourceError);
      const mem = new MemorySource(new Map([['a.bin', DATA]]));
      expect(await mem.read('a.bin')).toBe(DATA);
      await expect(mem.read('b.bin')).rejects.toThrow(ModelSourceError);
      expect(sourceFromString('https://example.com/m')).toBeInstanceOf(UrlSource);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('FileListSource', () => {
  it('finds picked files by bare name and by path below a picked folder', async () => {
    const picked = new File([DATA], 'model.safetensors');
    const inFolder = new File([DATA.subarray(0, 10)], 'config.json');
    Object.defineProperty(inFolder, 'webkitRelativePath', { value: 'my-model/sub/config.json' });
    const src = new FileListSource([picked, inFolder]);
    const progress: LoadProgress[] = [];
    expect(await src.read('model.safetensors', (p) => progress.push(p))).toEqual(DATA);
    expect(progress.at(-1)).toEqual({ file: 'model.safetensors', loaded: 1000, total: 1000 });
    expect(await src.read('sub/config.json')).toEqual(DATA.subarray(0, 10));
    expect(await src.exists('config.json')).toBe(true);
    await expect(src.read('tokenizer.json')).rejects.toThrow(/not among the selected files/);
  });
});
