/**
 * The engine's Web Worker: owns one Engine and answers the requests of WorkerEngine
 * (src/worker/client.ts). Running here keeps tokenization, the CPU side of the step loop and
 * GPU submission off the page's main thread, so the page never janks while generating.
 */
/// <reference lib="webworker" />
import { loadHeads } from '../model/heads';
import { loadDiffusion } from '../model/diffusion';
import { Engine, planWeights } from '../engine/engine';
import { DraftModel } from '../draft/draft-model';
import { engineDefaults, resolveMaxContext, type DocumentsProgress, type WeightDtype } from '../engine/options';
import { acquireDevice } from '../gpu/device';
import { loadModelFiles, readConfig, type ModelFiles } from '../model/weights';
import { FileListSource, UrlSource, type LoadProgress, type ModelSource } from '../model/source';
import { serializeError } from './errors';
import type { EngineInfo, ModelSpec, Request, Response } from './protocol';

const scope = self as unknown as DedicatedWorkerGlobalScope;
let engine: Engine | null = null;
/** AbortControllers of generations not finished yet, by request id. */
const running = new Map<number, AbortController>();

function post(m: Response): void {
  scope.postMessage(m);
}

function sourceOf(spec: ModelSpec): ModelSource {
  return spec.kind === 'url' ? new UrlSource(spec.base) : new FileListSource(spec.files, spec.id);
}

/**
 * At most one progress message per file every 50 ms, so a fast download does not flood the
 * page; flush() sends each file's latest state, which the throttle may have held back (when
 * a response has no length, nothing marks a file as finished until the load completes).
 */
function throttledProgress(id: number): { onProgress: (p: LoadProgress) => void; flush: () => void } {
  const sent = new Map<string, number>();
  const latest = new Map<string, LoadProgress>();
  const send = (p: LoadProgress) => {
    sent.set(p.file, performance.now());
    latest.delete(p.file);
    post({ type: 'progress', id, progress: { ...p } });
  };
  return {
    onProgress: (p) => {
      const done = p.total !== null && p.loaded >= p.total;
      if (done || performance.now() - (sent.get(p.file) ?? -Infinity) >= 50) send(p);
      else latest.set(p.file, { ...p });
    },
    flush: () => {
      for (const p of [...latest.values()]) send(p);
    },
  };
}

function infoOf(e: Engine): EngineInfo {
  const tc = e.files.tokenizerConfig as { chat_template?: unknown } | null;
  return {
    config: e.config,
    strategies: e.strategyNames(),
    maxContext: e.maxContext,
    hasChatTemplate: !!tc && tc.chat_template !== undefined && tc.chat_template !== null,
  };
}

async function load(m: Extract<Request, { type: 'load' }>): Promise<void> {
  // One engine per worker: the client makes a new worker for a new model, so this is the only load.
  const progress = throttledProgress(m.id);
  let files: ModelFiles;
  let draftFiles: ModelFiles | null = null;
  let weightDtype: WeightDtype;
  let device: GPUDevice;
  try {
    // config.json and the device first: a model too large for this adapter or the memory
    // budget is refused before its weights are downloaded (Engine.load's check).
    const source = sourceOf(m.model);
    const config = await readConfig(source, progress.onProgress);
    device = (await acquireDevice()).device;
    const maxContext = resolveMaxContext(m.options.maxContext, config.maxPositionEmbeddings);
    const maxRows = (m.options.maxTreeNodes ?? engineDefaults.maxTreeNodes) + 1;
    weightDtype = planWeights(config, m.options, { maxContext, maxRows }, device).dtype;
    files = await loadModelFiles(source, { onProgress: progress.onProgress, config });
    if (m.draft) draftFiles = await loadModelFiles(sourceOf(m.draft), { onProgress: (p) => progress.onProgress({ ...p, file: `draft/${p.file}` }) });
  } finally {
    progress.flush();
  }
  // (DraftModel.load checks the draft's buffers against the adapter's limits before allocating,
  // as GpuModel.load does: an embedding or LM head over one binding is split by rows, not refused)
  const draft = draftFiles ? await DraftModel.load(device, draftFiles, { weightDtype, maxContext: m.options.maxContext }) : undefined;
  // Hydra heads stored next to the model's files (none: the engine offers no `hydra`).
  const heads = await loadHeads(sourceOf(m.model), files.config);
  // and the block (diffusion) drafter (none: no `diffusion`)
  const diffusion = await loadDiffusion(sourceOf(m.model), files.config);
  engine = await Engine.load(files, { ...m.options, weightDtype, device, draft, heads: heads ?? false, diffusion: diffusion ?? false });
  post({ type: 'loaded', id: m.id, info: infoOf(engine) });
}

async function generate(m: Extract<Request, { type: 'generate' }>): Promise<void> {
  if (!engine) throw new Error('generate was requested before a model was loaded');
  const ctrl = new AbortController();
  running.set(m.id, ctrl);
  try {
    const { progress, ...options } = m.options;
    // Progress events of a document index arrive within one synchronous tokenization (one per
    // 64k characters): each is posted at once, so the page sees them while the worker works.
    const onProgress = progress ? (p: DocumentsProgress) => post({ type: 'indexing', id: m.id, progress: { ...p } }) : undefined;
    const it = engine.generate(m.prompt, { ...options, signal: ctrl.signal, onProgress });
    for (;;) {
      const r = await it.next();
      if (r.done) {
        post({ type: 'done', id: m.id, stats: r.value });
        return;
      }
      post({ type: 'chunk', id: m.id, chunk: r.value });
    }
  } finally {
    running.delete(m.id);
  }
}

function pieces(m: Extract<Request, { type: 'pieces' }>): void {
  if (!engine) throw new Error('token pieces were requested before a model was loaded');
  const tok = engine.tokenizer;
  post({ type: 'pieces', id: m.id, pieces: m.ids.map((t) => tok.idToToken(t) ?? `#${t}`) });
}

scope.onmessage = (ev: MessageEvent<Request>) => {
  const m = ev.data;
  if (m.type === 'abort') {
    running.get(m.id)?.abort();
    return;
  }
  const work = m.type === 'load' ? load(m) : m.type === 'pieces' ? Promise.resolve().then(() => pieces(m)) : generate(m);
  work.catch((e: unknown) => post({ type: 'error', id: m.id, error: serializeError(e) }));
};
