/// <reference types="@webgpu/types" preserve="true" />
/**
 * WorkerEngine: the Engine API on the main thread, with the engine itself in a Web Worker.
 * `load` resolves once the model is on the GPU, `generate` is an async iterator of the same
 * chunks with the same statistics as its return value, an AbortSignal (or abort()) stops it
 * within one step, and errors arrive as the same named classes (src/worker/errors.ts).
 */
import { given, type GenerateOptions } from '../engine/options';
import { OptionsError } from '../errors';
import type { GenerateChunk } from '../engine/decode-loop';
import { collectGeneration, type CollectedGeneration } from '../engine/collect';
import type { GenerationStats } from '../engine/stats';
import type { LoadProgress } from '../model/source-base';
import { absoluteUrl } from '../env';
import { reviveError, WorkerError } from './errors';
import type { EngineInfo, ModelSpec, Request, Response, WorkerLoadOptions } from './protocol';

export { WorkerError } from './errors';
export type { EngineInfo, ModelSpec, WorkerLoadOptions } from './protocol';

export interface WorkerLoadConfig extends WorkerLoadOptions {
  onProgress?: (p: LoadProgress) => void;
  /** Makes the worker (tests, or bundlers that need another URL). Default: engine-worker.js beside this module, as a module worker. */
  createWorker?: () => Worker;
  /** A draft model with the target's tokenizer, for the `draft` and `fusion` strategies (its progress files are prefixed "draft/"). */
  draft?: ModelSpec;
}

/** Messages of one request, in arrival order, read by one consumer. */
class Inbox {
  private readonly queue: Response[] = [];
  private wake: (() => void) | null = null;

  push(m: Response): void {
    this.queue.push(m);
    this.wake?.();
    this.wake = null;
  }

  async next(): Promise<Response> {
    while (this.queue.length === 0) await new Promise<void>((r) => (this.wake = r));
    return this.queue.shift()!;
  }
}

/**
 * The worker's script is found relative to this module in the one form bundlers recognise and
 * bundle (Vite, webpack 5) and a static host serves as is; the library build keeps it verbatim,
 * naming the built script (vite.lib.config.ts).
 */
function defaultWorker(): Worker {
  return new Worker(new URL('./engine-worker.ts', import.meta.url), { type: 'module', name: 'treespec-engine' });
}

/** The spec with its URL made absolute here: the worker would resolve it against its own script. */
function pageRelative(model: ModelSpec | string): ModelSpec {
  const spec: ModelSpec = typeof model === 'string' ? { kind: 'url', base: model } : model;
  return spec.kind === 'url' ? { kind: 'url', base: absoluteUrl(spec.base) } : spec;
}

export class WorkerEngine {
  private readonly inboxes = new Map<number, Inbox>();
  private nextId = 1;
  private dead: WorkerError | null = null;

  private constructor(
    private readonly worker: Worker,
    /** Filled by load(); every public method runs after it. */
    private engineInfo: EngineInfo | null = null,
  ) {
    worker.onmessage = (ev: MessageEvent<Response>) => this.inboxes.get(ev.data.id)?.push(ev.data);
    // An uncaught error or a failed module load kills every request in flight.
    worker.onerror = (ev) => this.fail(`the engine worker failed: ${ev.message || 'script error (the worker script could not load)'}`);
    worker.onmessageerror = () => this.fail('a message from the engine worker could not be read');
  }

  /**
   * Loads a model in a new worker: a URL base (a string, relative ones resolved against the
   * page, like Engine.load's in a browser) or a ModelSpec. On failure the worker is terminated
   * and the error rethrown.
   */
  static async load(model: ModelSpec | string, opts: WorkerLoadConfig = {}): Promise<WorkerEngine> {
    const { onProgress, createWorker, draft, ...options } = opts;
    const engine = new WorkerEngine((createWorker ?? defaultWorker)());
    try {
      const id = engine.nextId++;
      const req: Request = { type: 'load', id, model: pageRelative(model), draft: draft && pageRelative(draft), options };
      for await (const m of engine.exchange(req)) {
        if (m.type === 'progress') onProgress?.(m.progress);
        else if (m.type === 'loaded') engine.engineInfo = m.info;
      }
      return engine;
    } catch (e) {
      engine.destroy();
      throw e;
    }
  }

  get info(): EngineInfo {
    return this.engineInfo!;
  }

  /** Strategy names the worker's engine accepts, 'ar' first. */
  strategyNames(): string[] {
    return [...this.info.strategies];
  }

  /** Streams a generation from the worker; returns its statistics, like Engine.generate. */
  async *generate(prompt: string, options: GenerateOptions = {}): AsyncGenerator<GenerateChunk, GenerationStats, void> {
    // Functions do not cross to the worker: onProgress becomes a flag, and the worker sends
    // each indexing progress event back as a message.
    if (typeof options !== 'object' || options === null) throw new OptionsError(`generate options are ${given(options)}; expected an object`);
    const { signal, onProgress, ...rest } = options;
    if (onProgress !== undefined && typeof onProgress !== 'function') throw new OptionsError(`generate option "onProgress" is ${given(onProgress)}; expected a function`);
    const id = this.nextId++;
    const abort = () => this.post({ type: 'abort', id });
    signal?.addEventListener('abort', abort);
    let finished = false;
    try {
      let stats: GenerationStats | null = null;
      const request: Request = { type: 'generate', id, prompt, options: { ...rest, progress: onProgress !== undefined } };
      for await (const m of this.exchange(request, () => signal?.aborted && abort())) {
        if (m.type === 'indexing') onProgress?.(m.progress);
        else if (m.type === 'chunk') yield m.chunk;
        else if (m.type === 'done') stats = m.stats;
      }
      finished = true;
      return stats!;
    } finally {
      signal?.removeEventListener('abort', abort);
      // The consumer stopped iterating early: stop the worker's loop too, so the engine frees up.
      if (!finished) abort();
    }
  }

  /** generate() collected, like Engine.generateText. */
  generateText(prompt: string, options: GenerateOptions = {}): Promise<CollectedGeneration> {
    return collectGeneration(this.generate(prompt, options));
  }

  /** The vocabulary entry of each token id (e.g. "▁Lily"), as the tokenizer stores it. */
  async idsToTokens(ids: number[]): Promise<string[]> {
    for await (const m of this.exchange({ type: 'pieces', id: this.nextId++, ids })) {
      if (m.type === 'pieces') return m.pieces;
    }
    throw new WorkerError('the engine worker did not answer a token-pieces request');
  }

  /** Aborts every generation in flight (each ends with finishReason 'aborted'). */
  abort(): void {
    for (const id of this.inboxes.keys()) this.post({ type: 'abort', id });
  }

  /** Terminates the worker; its GPU memory goes with it. Requests in flight fail with WorkerError. */
  destroy(): void {
    this.worker.terminate();
    this.fail('the engine was destroyed');
  }

  /**
   * Sends a request and yields its messages until the last one ('loaded', 'done' or 'pieces'), which is
   * also yielded; an 'error' message is thrown as its named class.
   */
  private async *exchange(req: Request, afterSend?: () => void): AsyncGenerator<Response, void, void> {
    if (this.dead) throw this.dead;
    const inbox = new Inbox();
    this.inboxes.set(req.id, inbox);
    try {
      this.post(req);
      afterSend?.();
      for (;;) {
        const m = await inbox.next();
        if (m.type === 'error') throw m.error.name === 'WorkerError' && this.dead ? this.dead : reviveError(m.error);
        yield m;
        if (m.type === 'loaded' || m.type === 'done' || m.type === 'pieces') return;
      }
    } finally {
      this.inboxes.delete(req.id);
    }
  }

  private post(req: Request): void {
    if (!this.dead) this.worker.postMessage(req);
  }

  private fail(message: string): void {
    this.dead ??= new WorkerError(message);
    for (const [id, inbox] of this.inboxes) inbox.push({ type: 'error', id, error: { name: 'WorkerError', message: this.dead.message } });
  }
}
