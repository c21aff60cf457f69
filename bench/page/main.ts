/**
 * Browser runner: the page exposes `window.treespecBench.run(job)`, which Playwright calls
 * with the prompts and configuration; the model is fetched from the Vite server (no cache,
 * so a changed model folder is never served stale).
 */
import { UrlSource } from '../../src/index';
import { runSuite } from '../suite';
import { loadWllama } from '../peers/wllama';
import type { BenchPrompt, RunnerResult, SuiteConfig } from '../types';

export interface BrowserJob {
  /** URL base of the model files, relative to the page's origin. */
  modelUrl: string;
  modelLabel: string;
  prompts: BenchPrompt[];
  config: SuiteConfig;
  /** Peers to measure beside treespec: wllama takes the URL of a GGUF export of the model. */
  peers: { wllama?: { ggufUrl: string; nCtx: number; gpu: boolean; cpu: boolean } };
}

const logEl = document.getElementById('log')!;

async function run(job: BrowserJob): Promise<RunnerResult> {
  const url = new URL(job.modelUrl, location.href).href;
  const log = (line: string) => {
    console.log(`[browser] ${line}`);
    logEl.textContent += `${line}\n`;
  };
  const w = job.peers.wllama;
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
    ],
  });
}

(window as unknown as { treespecBench: { run: typeof run; ready: boolean } }).treespecBench = { run, ready: true };
