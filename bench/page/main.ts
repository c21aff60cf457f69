/**
 * Browser runner: the page exposes `window.treespecBench.run(job)`, which Playwright calls
 * with the prompts and configuration; the model is fetched from the Vite server (no cache,
 * so a changed model folder is never served stale).
 */
import { UrlSource } from '../../src/index';
import { runSuite, type Peer, type PeerTarget } from '../suite';
import { loadWllama } from '../peers/wllama';
import { loadTransformers, type TransformersFiles } from '../peers/transformers';
import type { BenchPrompt, BenchWeights, RunnerResult, SuiteConfig } from '../types';

export interface BrowserJob {
  /** URL base of the model files, relative to the page's origin. */
  modelUrl: string;
  modelLabel: string;
  prompts: BenchPrompt[];
  config: SuiteConfig;
  /**
   * Peers to measure beside treespec: wllama takes the URL of a GGUF export of the model,
   * transformers.js the URLs of an ONNX export and of onnxruntime-web's files.
   */
  peers: {
    wllama?: { ggufUrl: string; nCtx: number; gpu: boolean; cpu: boolean };
    transformers?: TransformersFiles & { weights: BenchWeights[]; gpu: boolean; cpu: boolean };
  };
}

const logEl = document.getElementById('log')!;

/**
 * transformers.js on WebGPU; when that fails (onnxruntime-web's WebGPU backend on a software
 * adapter), the error is recorded and the peer runs on WebAssembly instead, named so.
 */
async function transformersWebGpuOrWasm(files: TransformersFiles, weights: BenchWeights, target: PeerTarget, log: (line: string) => void): Promise<Peer> {
  try {
    return await loadTransformers(files, 'webgpu', weights, target.encode, log);
  } catch (e) {
    const error = `${(e as Error).name}: ${(e as Error).message}`.slice(0, 400);
    log(`transformers.js ${weights} on WebGPU failed (${error}); running it on WebAssembly instead`);
    const peer = await loadTransformers(files, 'wasm', weights, target.encode, log);
    return { ...peer, environment: { ...peer.environment, [`transformers.js ${weights} webgpu error`]: error } };
  }
}

async function run(job: BrowserJob): Promise<RunnerResult> {
  const url = new URL(job.modelUrl, location.href).href;
  const log = (line: string) => {
    console.log(`[browser] ${line}`);
    logEl.textContent += `${line}\n`;
  };
  const w = job.peers.wllama;
  const t = job.peers.transformers;
  // modelsUrl stays a path: transformers.js checks for local files (tokenizer_config.json) only
  // when env.localModelPath is not an http(s) URL.
  const files = t && { ...t, ortUrl: new URL(t.ortUrl, location.href).href };
  return runSuite({
    runtime: 'browser',
    model: new UrlSource(url, { cacheStorage: null }),
    draft: job.config.draftModel ? new UrlSource(new URL(job.config.draftModel, location.href).href, { cacheStorage: null }) : undefined,
    modelLabel: job.modelLabel,
    prompts: job.prompts,
    config: job.config,
    environment: { userAgent: navigator.userAgent, cores: String(navigator.hardwareConcurrency) },
    log,
    peers: [
      ...(w?.gpu ? [() => loadWllama(w.ggufUrl, w.nCtx, true, log)] : []),
      ...(w?.cpu ? [() => loadWllama(w.ggufUrl, w.nCtx, false, log)] : []),
      ...(files && t?.gpu ? t.weights.map((w) => (target: PeerTarget) => transformersWebGpuOrWasm(files, w, target, log)) : []),
      ...(files && t?.cpu ? t.weights.map((w) => (target: PeerTarget) => loadTransformers(files, 'wasm', w, target.encode, log)) : []),
    ],
  });
}

(window as unknown as { treespecBench: { run: typeof run; ready: boolean } }).treespecBench = { run, ready: true };
