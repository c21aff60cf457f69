/**
 * Browser runtime: a Vite dev server serves bench/page/ (which imports the engine from src/)
 * and the model folders; Playwright drives Debian's Chromium headless with WebGPU
 * (SwiftShader when there is no GPU) and calls the page's runner. Also takes the report's PNG.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { basename, extname, join, normalize, resolve, dirname, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Plugin } from 'vite';
import { chromiumArgs, chromiumPath } from '../test/chromium';
import type { BrowserJob } from './page/main';
import type { BenchPrompt, BenchWeights, RunnerResult, SuiteConfig } from './types';

const repoRoot = resolve(dirname(new URL(import.meta.url).pathname), '..');

/** onnxruntime-web imports its .mjs and compiles its .wasm with streaming, which need these types. */
const MIME: Record<string, string> = { '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };

/** Serves folders on disk under URL prefixes (GET and HEAD, whole files). */
export function serveFolders(mounts: Record<string, string>): Plugin {
  return {
    name: 'treespec-bench-folders',
    configureServer(server) {
      server.middlewares.use((req: IncomingMessage, res: ServerResponse, next: () => void) => {
        const url = decodeURIComponent((req.url ?? '').split('?')[0]);
        for (const [prefix, dir] of Object.entries(mounts)) {
          if (!url.startsWith(prefix)) continue;
          const file = normalize(join(dir, url.slice(prefix.length)));
          if (!file.startsWith(dir + sep) || !existsSync(file) || !statSync(file).isFile()) {
            res.statusCode = 404;
            res.end();
            return;
          }
          res.setHeader('Content-Length', String(statSync(file).size));
          res.setHeader('Content-Type', MIME[extname(file)] ?? 'application/octet-stream');
          res.setHeader('Cache-Control', 'no-store');
          if (req.method === 'HEAD') {
            res.end();
            return;
          }
          createReadStream(file).pipe(res);
          return;
        }
        next();
      });
    },
  };
}

async function launch() {
  const { chromium } = await import('playwright');
  return chromium.launch({ executablePath: chromiumPath(), args: chromiumArgs, headless: true });
}

/**
 * Peers of a browser run: wllama needs a GGUF export of the model on disk, transformers.js an
 * ONNX export folder (tools/fixtures/export_onnx.py); gpu and cpu pick their WebGPU and CPU
 * (WebAssembly) variants.
 */
export interface BrowserPeers {
  wllama?: { gguf: string; nCtx: number; gpu: boolean; cpu: boolean };
  /** weights: the formats to run it at (each its export's graph, bench/onnx.ts). */
  transformers?: { onnxDir: string; weights: BenchWeights[]; gpu: boolean; cpu: boolean };
}

export async function runBrowser(model: string, draft: string | undefined, prompts: BenchPrompt[], config: SuiteConfig, peers: BrowserPeers = {}): Promise<RunnerResult> {
  const { createServer } = await import('vite');
  const mounts: Record<string, string> = { '/__bench/model/': resolve(model) };
  if (draft) mounts['/__bench/draft/'] = resolve(draft);
  if (peers.wllama) mounts['/__bench/gguf/'] = dirname(resolve(peers.wllama.gguf));
  if (peers.transformers) {
    mounts['/__bench/onnx/'] = dirname(resolve(peers.transformers.onnxDir));
    mounts['/__bench/ort/'] = join(repoRoot, 'node_modules/onnxruntime-web/dist');
  }
  const server = await createServer({
    configFile: false,
    root: repoRoot,
    logLevel: 'warn',
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false, watch: null },
    // Listed so that Vite bundles them before the page loads (a dependency found later reloads the page).
    optimizeDeps: { include: ['@huggingface/tokenizers', '@huggingface/jinja', '@huggingface/transformers'] },
    plugins: [serveFolders(mounts)],
  });
  await server.listen();
  const address = server.httpServer?.address();
  const port = typeof address === 'object' && address ? address.port : 5173;
  const browser = await launch();
  const failure = (msg: string): RunnerResult => ({
    runtime: 'browser', environment: {}, model: { source: model, config: {} }, config, loadMs: 0,
    gpuMemory: { afterLoadBytes: 0, byStrategyBytes: {}, peakBytes: 0 }, runs: [], available: [], errors: [msg],
  });
  try {
    const page = await browser.newPage();
    page.on('console', (m) => {
      const t = m.text();
      if (t.startsWith('[browser]') || m.type() === 'error' || /webgpu|offload/i.test(t)) process.stderr.write(`${t}\n`);
    });
    page.on('pageerror', (e) => process.stderr.write(`[browser] page error: ${e.message}\n`));
    await page.goto(`http://127.0.0.1:${port}/bench/page/index.html`);
    await page.waitForFunction(() => (window as unknown as { treespecBench?: { ready: boolean } }).treespecBench?.ready === true, null, { timeout: 180_000 });
    const job: BrowserJob = { modelUrl: '/__bench/model/', modelLabel: model, prompts, config: { ...config, draftModel: draft ? '/__bench/draft/' : undefined },
      peers: {
        ...(peers.wllama ? { wllama: { ...peers.wllama, ggufUrl: `/__bench/gguf/${basename(peers.wllama.gguf)}` } } : {}),
        ...(peers.transformers ? { transformers: { gpu: peers.transformers.gpu, cpu: peers.transformers.cpu, weights: peers.transformers.weights, modelsUrl: '/__bench/onnx/', modelId: basename(peers.transformers.onnxDir), ortUrl: '/__bench/ort/' } } : {}),
      },
    };
    const result = await page.evaluate((j) => (window as unknown as { treespecBench: { run: (j: BrowserJob) => Promise<RunnerResult> } }).treespecBench.run(j), job);
    result.environment.browser = `Chromium ${browser.version()}`;
    result.model.source = model;
    result.config.draftModel = draft;
    return result;
  } catch (e) {
    return failure(`browser runner: ${(e as Error).message.split('\n')[0]}`);
  } finally {
    await browser.close();
    await server.close();
  }
}

/** A full-page PNG of an HTML file. */
export async function screenshot(htmlFile: string, pngFile: string): Promise<void> {
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1060, height: 900 } });
    await page.goto(pathToFileURL(htmlFile).href);
    await page.screenshot({ path: pngFile, fullPage: true });
  } finally {
    await browser.close();
  }
}
