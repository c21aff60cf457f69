/**
 * Model files over HTTP(S), in the Hugging Face hub layout `<repo>/resolve/<rev>/<file>`.
 * Downloads stream with progress, are checked against Content-Length (a truncated body is
 * never returned), retried with exponential backoff and resumed with a Range request when the
 * server supports it, and kept in the Cache API when present (browsers) with a length and
 * checksum so a corrupted entry is detected and fetched again (issue 9).
 */
import { ModelSourceError } from '../errors.ts';
import { checkFileName, type LoadProgress, type ModelSource } from './source-base.ts';

export interface UrlSourceOptions {
  /** fetch implementation (tests inject one); default globalThis.fetch. */
  fetch?: typeof fetch;
  /** Cache API storage; default globalThis.caches when present; null disables caching. */
  cacheStorage?: CacheStorage | null;
  /** Cache bucket name. */
  cacheName?: string;
  /** Extra attempts after the first failed one. */
  retries?: number;
  /** Delay before the first retry, doubled on each further one. */
  retryDelayMs?: number;
  /** Cancels downloads in flight. */
  signal?: AbortSignal;
  /** A request that receives nothing (no headers, no body bytes) for this long is abandoned and retried. Default 30 000 ms. */
  stallTimeoutMs?: number;
  /** Longest time one file may take, retries included; then ModelSourceError. Default: no limit (the stall timeout still applies). */
  timeoutMs?: number;
}

/**
 * The clock of one request: its controller aborts when the caller's signal fires, when nothing
 * arrived for `stallMs` (touch() restarts that clock on every chunk) or at the file's deadline.
 * `why` says which timer fired, so the caller retries a stall and gives up at the deadline.
 */
class RequestClock {
  readonly ctrl = new AbortController();
  why: 'stall' | 'deadline' | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onOuter = () => this.ctrl.abort();

  constructor(private readonly stallMs: number, private readonly deadline: number, private readonly outer?: AbortSignal) {
    if (outer?.aborted) this.ctrl.abort();
    outer?.addEventListener('abort', this.onOuter);
    this.touch();
  }

  touch(): void {
    clearTimeout(this.timer);
    const left = this.deadline - performance.now();
    const fire = (why: 'stall' | 'deadline') => () => {
      this.why = why;
      this.ctrl.abort();
    };
    this.timer = left <= this.stallMs ? setTimeout(fire('deadline'), Math.max(0, left)) : setTimeout(fire('stall'), this.stallMs);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener('abort', this.onOuter);
  }
}

const LENGTH_HEADER = 'x-treespec-bytes';
const HASH_HEADER = 'x-treespec-fnv1a';

/** FNV-1a 32-bit over the bytes: cheap enough for model files, catches a truncated or altered cache entry. */
export function fnv1a(data: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i], 0x01000193);
  return h >>> 0;
}

/** 5xx, 408 and 429 are transient; other HTTP errors (404, 401, 403) will not change on retry. */
function retryable(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/**
 * A web page where a model file was asked for: a single-page app's server answers every
 * unknown path with 200 and its index.html. No model file is HTML, so this is a missing file.
 */
function isHtmlPage(res: Response, file: string): boolean {
  return /^\s*text\/html\b/i.test(res.headers.get('content-type') ?? '') && !/\.html?$/i.test(file);
}

/** Bytes the complete file will have, or null when the response does not say. */
function expectedTotal(res: Response): number | null {
  const enc = res.headers.get('content-encoding');
  // With a content coding, Content-Length counts compressed bytes, not the body we read.
  if (enc && enc !== 'identity') return null;
  if (res.status === 206) {
    const m = /\/(\d+)\s*$/.exec(res.headers.get('content-range') ?? '');
    return m ? Number(m[1]) : null;
  }
  const len = res.headers.get('content-length');
  return len !== null && /^\d+$/.test(len) ? Number(len) : null;
}

function concat(parts: Uint8Array[], n: number): Uint8Array {
  if (parts.length === 1 && parts[0].length === n) return parts[0];
  const out = new Uint8Array(n); // (n) bytes
  let p = 0;
  for (const part of parts) {
    out.set(part, p);
    p += part.length;
  }
  return out;
}

export class UrlSource implements ModelSource {
  readonly id: string;
  /** Base URL ending in '/'. */
  readonly base: string;
  private readonly opts: Required<Omit<UrlSourceOptions, 'signal' | 'cacheStorage' | 'timeoutMs'>> & Pick<UrlSourceOptions, 'signal' | 'timeoutMs'>;
  private readonly cacheStorage: CacheStorage | null;

  constructor(base: string, opts: UrlSourceOptions = {}) {
    let b = base.replace(/\/+$/, '');
    // A bare hub repository URL means its main revision.
    if (/^https?:\/\/huggingface\.co\/[^/]+\/[^/]+$/i.test(b)) b += '/resolve/main';
    this.base = `${b}/`;
    this.id = this.base;
    this.opts = {
      fetch: opts.fetch ?? ((...a: Parameters<typeof fetch>) => globalThis.fetch(...a)),
      cacheName: opts.cacheName ?? 'treespec-models',
      retries: opts.retries ?? 3,
      retryDelayMs: opts.retryDelayMs ?? 500,
      signal: opts.signal,
      stallTimeoutMs: opts.stallTimeoutMs ?? 30_000,
      timeoutMs: opts.timeoutMs,
    };
    const global = (globalThis as { caches?: CacheStorage }).caches;
    this.cacheStorage = opts.cacheStorage === undefined ? (global ?? null) : opts.cacheStorage;
  }

  url(file: string): string {
    checkFileName(file, this.id);
    return this.base + file.split('/').map(encodeURIComponent).join('/');
  }

  async read(file: string, onProgress?: (p: LoadProgress) => void): Promise<Uint8Array> {
    const url = this.url(file);
    const cached = await this.fromCache(url);
    if (cached) {
      onProgress?.({ file, loaded: cached.length, total: cached.length });
      return cached;
    }
    const data = await this.download(url, file, onProgress);
    await this.toCache(url, data);
    return data;
  }

  async exists(file: string): Promise<boolean> {
    const url = this.url(file);
    if (await this.fromCache(url)) return true;
    const deadline = this.deadline();
    let res: Response | null = null;
    for (let attempt = 0; res === null; attempt++) {
      if (attempt > 0) await this.sleep(this.opts.retryDelayMs * 2 ** (attempt - 1));
      const clock = new RequestClock(this.opts.stallTimeoutMs, deadline, this.opts.signal);
      try {
        res = await this.opts.fetch(url, { method: 'HEAD', signal: clock.ctrl.signal });
      } catch (e) {
        if (this.opts.signal?.aborted) throw e;
        const why = clock.why === null ? (e as Error).message : this.timeoutMessage(clock.why);
        if (clock.why !== 'stall' || attempt >= this.opts.retries) {
          throw new ModelSourceError(`${url}: request failed (${why}${attempt > 0 ? `, after ${attempt + 1} attempts` : ''})`, url, null, { cause: e });
        }
      } finally {
        clock.stop();
      }
    }
    if (res.ok) return !isHtmlPage(res, file);
    if (res.status === 404) return false;
    throw new ModelSourceError(`${url}: HTTP ${res.status} ${res.statusText}`, url, res.status);
  }

  /**
   * The first `bytes` bytes with one Range request (a cached file is sliced); a server that
   * ignores Range answers 200 and its body is read only up to `bytes`, then cancelled.
   */
  async readHead(file: string, bytes: number): Promise<Uint8Array> {
    const url = this.url(file);
    const cached = await this.fromCache(url);
    if (cached) return cached.subarray(0, bytes);
    let res: Response;
    try {
      res = await this.opts.fetch(url, { headers: { Range: `bytes=0-${bytes - 1}` }, signal: this.opts.signal });
    } catch (e) {
      if (this.opts.signal?.aborted) throw e;
      throw new ModelSourceError(`${url}: request failed (${(e as Error).message})`, url, null, { cause: e });
    }
    if (!res.ok) throw new ModelSourceError(`${url}: HTTP ${res.status} ${res.statusText}`, url, res.status);
    const out = new Uint8Array(bytes); // (bytes)
    let n = 0;
    const reader = res.body!.getReader();
    while (n < bytes) {
      const { done, value } = await reader.read();
      if (done) break;
      const take = Math.min(value.length, bytes - n);
      out.set(value.subarray(0, take), n);
      n += take;
    }
    await reader.cancel().catch(() => undefined);
    return out.subarray(0, n);
  }

  /** The cached bytes when present and intact; a damaged entry is deleted (and so re-fetched). */
  private async fromCache(url: string): Promise<Uint8Array | null> {
    if (!this.cacheStorage) return null;
    const cache = await this.cacheStorage.open(this.opts.cacheName);
    const res = await cache.match(url);
    if (!res) return null;
    const data = new Uint8Array(await res.arrayBuffer());
    const okLength = res.headers.get(LENGTH_HEADER) === String(data.length);
    const okHash = res.headers.get(HASH_HEADER) === String(fnv1a(data));
    if (okLength && okHash) return data;
    await cache.delete(url);
    return null;
  }

  private async toCache(url: string, data: Uint8Array): Promise<void> {
    if (!this.cacheStorage) return;
    const headers = { [LENGTH_HEADER]: String(data.length), [HASH_HEADER]: String(fnv1a(data)) };
    try {
      const cache = await this.cacheStorage.open(this.opts.cacheName);
      await cache.put(url, new Response(data as Uint8Array<ArrayBuffer>, { headers }));
    } catch {
      // Caching is an optimisation: a full quota must not fail a download that succeeded.
    }
  }

  /** Downloads with retries; a partial body is resumed with Range when the server answers 206. */
  private async download(url: string, file: string, onProgress?: (p: LoadProgress) => void): Promise<Uint8Array> {
    const state = { parts: [] as Uint8Array[], received: 0, total: null as number | null };
    let lastError = 'no attempt made';
    const deadline = this.deadline();
    for (let attempt = 0; attempt <= this.opts.retries; attempt++) {
      if (attempt > 0) await this.sleep(this.opts.retryDelayMs * 2 ** (attempt - 1));
      const outcome = await this.attempt(url, file, state, deadline, onProgress);
      if (outcome === null) return concat(state.parts, state.received);
      lastError = outcome;
    }
    throw new ModelSourceError(`${url}: download failed after ${this.opts.retries + 1} attempts (last: ${lastError})`, url);
  }

  /** One request. Returns null when the file is complete, else why this attempt failed (retryable). */
  private async attempt(
    url: string,
    file: string,
    state: { parts: Uint8Array[]; received: number; total: number | null },
    deadline: number,
    onProgress?: (p: LoadProgress) => void,
  ): Promise<string | null> {
    const clock = new RequestClock(this.opts.stallTimeoutMs, deadline, this.opts.signal);
    try {
      return await this.request(url, file, state, clock, onProgress);
    } catch (e) {
      if (e instanceof ModelSourceError || this.opts.signal?.aborted) throw e;
      if (clock.why === 'deadline') throw new ModelSourceError(`${url}: ${this.timeoutMessage('deadline')} (${state.received} bytes received)`, url, null, { cause: e });
      const why = clock.why ? this.timeoutMessage(clock.why) : (e as Error).message;
      return state.received > 0 ? `body interrupted after ${state.received} bytes: ${why}` : `network error: ${why}`;
    } finally {
      clock.stop();
    }
  }

  /** The request of one attempt; a thrown error other than ModelSourceError is retried by attempt(). */
  private async request(
    url: string,
    file: string,
    state: { parts: Uint8Array[]; received: number; total: number | null },
    clock: RequestClock,
    onProgress?: (p: LoadProgress) => void,
  ): Promise<string | null> {
    const headers: Record<string, string> = state.received > 0 ? { Range: `bytes=${state.received}-` } : {};
    const res = await this.opts.fetch(url, { headers, signal: clock.ctrl.signal });
    clock.touch();
    if (!res.ok) {
      if (!retryable(res.status)) throw new ModelSourceError(`${url}: HTTP ${res.status} ${res.statusText}`.trim(), url, res.status);
      return `HTTP ${res.status}`;
    }
    if (isHtmlPage(res, file)) {
      throw new ModelSourceError(`${url}: the server answered with a web page (text/html), not the file: is the URL right, and is the file there?`, url, res.status);
    }
    if (state.received > 0 && res.status !== 206) {
      // The server ignored the Range request: start over from byte 0.
      state.parts = [];
      state.received = 0;
    }
    state.total ??= expectedTotal(res);
    await this.readBody(res, file, state, clock, onProgress);
    if (state.total !== null && state.received < state.total) return `truncated: ${state.received} of ${state.total} bytes`;
    return null;
  }

  private async readBody(
    res: Response,
    file: string,
    state: { parts: Uint8Array[]; received: number; total: number | null },
    clock: RequestClock,
    onProgress?: (p: LoadProgress) => void,
  ): Promise<void> {
    if (!res.body) {
      const data = new Uint8Array(await res.arrayBuffer());
      state.parts.push(data);
      state.received += data.length;
    } else {
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        clock.touch();
        state.parts.push(value);
        state.received += value.length;
        onProgress?.({ file, loaded: state.received, total: state.total });
      }
    }
    if (state.total !== null && state.received > state.total) {
      throw new ModelSourceError(`${res.url || file}: received ${state.received} bytes, more than the announced ${state.total}`, file);
    }
  }

  /** performance.now() at which a file's download gives up (Infinity without timeoutMs). */
  private deadline(): number {
    const t = this.opts.timeoutMs;
    return t === undefined ? Infinity : performance.now() + t;
  }

  private timeoutMessage(why: 'stall' | 'deadline'): string {
    return why === 'stall' ? `no data for ${this.opts.stallTimeoutMs} ms (stalled)` : `not complete within timeoutMs ${this.opts.timeoutMs} ms`;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
}
