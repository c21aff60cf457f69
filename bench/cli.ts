/**
 * `npm run bench -- [flags]`: runs the prompt suite on treespec in headless Chromium
 * (Playwright, WebGPU) or in Node (`webgpu`), then writes results.json, report.html and
 * report.png to --out, prints the summary table, and exits 1 when any strategy's greedy
 * output differs from plain decoding or a run failed.
 * Runs under tsx: it never imports the engine itself (the runners are bundled by Vite).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { makeReport, failed, type BenchReport } from './results';
import { renderHtml, markdownTable, tokenAgreement } from './report';
import { runBrowser, type BrowserPeers } from './browser';
import { ensureOnnxExport } from './onnx';
import { isWeightDtype } from '../src/engine/options';
import type { BenchPrompt, BenchWeights, RunnerResult, SuiteConfig } from './types';

export const repoRoot = resolve(dirname(new URL(import.meta.url).pathname), '..');

/**
 * Defaults sized so that `npm run bench` finishes in under 20 minutes on a 2-core machine
 * with a software GPU (SwiftShader); on a real GPU use --limit 0 --max-tokens 128 --repeats 3.
 */
const DEFAULT_LIMIT = 1;
const DEFAULT_MAX_TOKENS = 32;
const DEFAULT_REPEATS = 1;
/**
 * Peers of the browser runtime: wllama on a GGUF export of the model (written to --out),
 * transformers.js on an ONNX export (made once, kept in tools/fixtures/work/peer/).
 */
const DEFAULT_PEERS = 'transformers,wllama';
const PEERS = ['transformers', 'transformers-wasm', 'wllama', 'wllama-cpu'];

const usage = `npm run bench -- [options]

  --runtime browser|node|both  where the engine runs (default browser: headless Chromium, WebGPU)
  --model DIR                  target model folder, Hugging Face layout (default public/models/tinystories-target)
  --draft DIR                  draft model of the draft strategy, same tokenizer (default public/models/tinystories-draft
                               with the default --model; without one the engine drafts with a copy of the target)
  --prompts FILE               JSON Lines prompt suite (default public/bench/prompts.jsonl)
  --categories a,b             only these prompt categories
  --limit N                    at most N prompts per category (default ${DEFAULT_LIMIT}; 0 = all)
  --strategies ar,lookup,...   strategies to compare (default: every strategy the engine offers except the test drafters self and random); ar is always added
  --max-tokens N               tokens per generation (default ${DEFAULT_MAX_TOKENS})
  --repeats N                  measured repeats after the warm-up (default ${DEFAULT_REPEATS})
  --tree-budget N              draft tree nodes (default: the engine's)
  --weights f16,q8,q4          weight formats on the GPU, any of f32 f16 q8 q4 (default f16): one treespec engine
                               each, interleaved like strategies; speedups are against ar at the first one, the
                               equality check is against ar at the same weights, and each output's agreement
                               with ar at f16 (or the first) is reported. transformers.js runs at the matching
                               precisions (fp32, fp16, q8, q4 exports: tools/fixtures/quantize_onnx.py)
  --keep-drafter-state         let drafters keep what they learned across generations (default: reset before each)
  --peers a,b                  peers measured beside treespec in the browser runtime (default ${DEFAULT_PEERS}; none = no peer):
                               transformers (transformers.js on onnxruntime-web's WebGPU backend, WebAssembly when
                               that fails) and transformers-wasm (WebAssembly), on an ONNX export of --model
                               (tools/fixtures/export_onnx.py, run when missing; needs python3-torch and python3-onnx);
                               wllama (llama.cpp, all layers on its WebGPU backend) and wllama-cpu (its WebAssembly CPU
                               path), on a GGUF export of --model (tools/bench-gguf.ts)
  --out DIR                    output folder (default bench-out/latest)
  --no-png                     skip the PNG of the report
  --report FILE                only re-render report.html/report.png from an existing results.json
`;

function int(v: string | undefined, flag: string, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  const x = Number(v);
  if (!Number.isInteger(x) || x < min) throw new UsageError(`--${flag} is "${v}"; expected an integer >= ${min}`);
  return x;
}

class UsageError extends Error {
  override name = 'UsageError';
}

export function loadPrompts(file: string): BenchPrompt[] {
  const lines = readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.map((l, i) => {
    const p = JSON.parse(l) as BenchPrompt;
    if (typeof p.id !== 'string' || typeof p.category !== 'string' || typeof p.prompt !== 'string') {
      throw new UsageError(`${file}:${i + 1}: expected {id, category, prompt, documents?}`);
    }
    return p;
  });
}

/** Runs the Vite-bundled Node runner in a child process (its GPU state dies with it). */
async function runNode(model: string, draft: string | undefined, prompts: BenchPrompt[], config: SuiteConfig, outDir: string): Promise<RunnerResult> {
  const { build } = await import('vite');
  await build({ configFile: join(repoRoot, 'bench/vite.node.config.ts') });
  const job = join(outDir, 'node-job.json');
  const res = join(outDir, 'node-result.json');
  writeFileSync(job, JSON.stringify({ model, draft, prompts, config }));
  const code = await new Promise<number>((ok) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bench-out/.build/node.js'), job, res], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('exit', (c) => ok(c ?? 1));
  });
  if (code !== 0 || !existsSync(res)) {
    return { runtime: 'node', environment: {}, model: { source: model, config: {} }, config, loadMs: 0, gpuMemory: { afterLoadBytes: 0, byStrategyBytes: {}, peakBytes: 0 }, runs: [], available: [], errors: [`the Node runner exited with code ${code}`] };
  }
  return JSON.parse(readFileSync(res, 'utf8')) as RunnerResult;
}

/** Writes results.json, report.html and (unless disabled) report.png; returns the PNG path. */
export async function writeOutputs(report: BenchReport, outDir: string, png: boolean): Promise<string | null> {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'results.json'), JSON.stringify(report, null, 1));
  const html = join(outDir, 'report.html');
  writeFileSync(html, renderHtml(report));
  writeFileSync(join(outDir, 'summary.md'), `${markdownTable(report.summary)}\n`);
  if (!png) return null;
  const { screenshot } = await import('./browser');
  const file = join(outDir, 'report.png');
  await screenshot(html, file);
  return file;
}

async function main(argv: string[]): Promise<number> {
  const { values: f } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      runtime: { type: 'string' }, model: { type: 'string' }, draft: { type: 'string' }, prompts: { type: 'string' },
      categories: { type: 'string' }, limit: { type: 'string' }, strategies: { type: 'string' }, 'max-tokens': { type: 'string' },
      repeats: { type: 'string' }, 'tree-budget': { type: 'string' }, weights: { type: 'string' }, 'keep-drafter-state': { type: 'boolean' },
      peers: { type: 'string' }, out: { type: 'string' }, 'no-png': { type: 'boolean' }, report: { type: 'string' }, help: { type: 'boolean' },
    },
  });
  if (f.help) {
    process.stdout.write(usage);
    return 0;
  }
  const outDir = resolve(f.out ?? join(repoRoot, 'bench-out/latest'));
  if (f.report) {
    const prev = JSON.parse(readFileSync(f.report, 'utf8')) as BenchReport;
    const report = makeReport(prev.command, prev.config, prev.results);
    report.createdAt = prev.createdAt;
    const png = await writeOutputs(report, outDir, !f['no-png']);
    process.stdout.write(`${markdownTable(report.summary)}\n\nreport: ${join(outDir, 'report.html')}${png ? `\npng: ${png}` : ''}\n`);
    return failed(report) ? 1 : 0;
  }

  const runtime = f.runtime ?? 'browser';
  if (!['browser', 'node', 'both'].includes(runtime)) throw new UsageError(`--runtime is "${runtime}"; expected browser, node or both`);
  const model = resolve(f.model ?? join(repoRoot, 'public/models/tinystories-target'));
  if (!existsSync(join(model, 'config.json'))) {
    throw new UsageError(`no model at ${model} (config.json missing); pass --model DIR, or write a random fixture with "node bin/treespec.mjs fixture --out DIR"`);
  }
  const listed = (f.weights ?? 'f16').split(',').map((w) => w.trim()).filter(Boolean);
  const weights: BenchWeights[] = listed.filter(isWeightDtype);
  if (weights.length !== listed.length || !weights.length || new Set(weights).size !== weights.length) {
    throw new UsageError(`--weights is "${f.weights}"; expected a list of distinct f32, f16, q8, q4`);
  }
  let prompts = loadPrompts(resolve(f.prompts ?? join(repoRoot, 'public/bench/prompts.jsonl')));
  if (f.categories) {
    const want = f.categories.split(',');
    prompts = prompts.filter((p) => want.includes(p.category));
  }
  const limit = int(f.limit, 'limit', DEFAULT_LIMIT, 0);
  if (limit > 0) {
    const seen = new Map<string, number>();
    prompts = prompts.filter((p) => {
      const n = (seen.get(p.category) ?? 0) + 1;
      seen.set(p.category, n);
      return n <= limit;
    });
  }
  if (!prompts.length) throw new UsageError('no prompts selected');
  const strategies = f.strategies ? ['ar', ...f.strategies.split(',').map((s) => s.trim()).filter((s) => s && s !== 'ar')] : [];
  const config: SuiteConfig = {
    strategies,
    maxTokens: int(f['max-tokens'], 'max-tokens', DEFAULT_MAX_TOKENS),
    repeats: int(f.repeats, 'repeats', DEFAULT_REPEATS),
    treeBudget: f['tree-budget'] === undefined ? undefined : int(f['tree-budget'], 'tree-budget', 0, 0),
    weights,
    resetDrafters: !f['keep-drafter-state'],
  };
  // The bundled draft model goes with the bundled target; another target needs its own --draft.
  const bundledDraft = join(repoRoot, 'public/models/tinystories-draft');
  const draft = f.draft ? resolve(f.draft) : !f.model && existsSync(join(bundledDraft, 'config.json')) ? bundledDraft : undefined;
  if (draft && !existsSync(join(draft, 'config.json'))) throw new UsageError(`no draft model at ${draft} (config.json missing)`);
  if (draft) config.draftModel = draft;

  mkdirSync(outDir, { recursive: true });
  const peerNames = (f.peers ?? DEFAULT_PEERS).split(',').map((s) => s.trim()).filter((s) => s && s !== 'none');
  for (const p of peerNames) if (!PEERS.includes(p)) throw new UsageError(`--peers: unknown peer "${p}"; expected ${PEERS.join(', ')} or none`);
  const browserPeers: BrowserPeers = {};
  const notes: Record<string, string> = {};
  if (runtime !== 'node' && peerNames.some((p) => p.startsWith('transformers'))) {
    const onnx = ensureOnnxExport(repoRoot, model, weights, (line) => process.stderr.write(`${line}\n`));
    if ('skipped' in onnx) {
      process.stderr.write(`note: transformers.js peer skipped: ${onnx.skipped}\n`);
      notes['transformers.js'] = `skipped: ${onnx.skipped}`;
    } else {
      browserPeers.transformers = { onnxDir: onnx.dir, weights: onnx.weights, gpu: peerNames.includes('transformers'), cpu: peerNames.includes('transformers-wasm') };
    }
  }
  if (runtime !== 'node' && peerNames.some((p) => p.startsWith('wllama'))) {
    const { exportGguf } = await import('../tools/bench-gguf');
    const gguf = join(outDir, 'model.gguf');
    writeFileSync(gguf, exportGguf(model));
    const maxPos = (JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')) as { max_position_embeddings?: number }).max_position_embeddings ?? 2048;
    browserPeers.wllama = { gguf, nCtx: Math.min(maxPos, 2048), gpu: peerNames.includes('wllama'), cpu: peerNames.includes('wllama-cpu') };
  }
  if (runtime === 'node' && f.peers) process.stderr.write('note: peers run in the browser runtime only; --peers is ignored with --runtime node\n');
  const t0 = Date.now();
  const results: RunnerResult[] = [];
  const command = `npm run bench -- ${argv.join(' ')}`.trim();
  if (runtime === 'browser' || runtime === 'both') {
    const r = await runBrowser(model, draft, prompts, config, browserPeers);
    Object.assign(r.environment, notes);
    results.push(r);
  }
  if (runtime === 'both') {
    // Keep the browser half if the Node half is interrupted (--report re-renders it).
    writeFileSync(join(outDir, 'results.json'), JSON.stringify(makeReport(command, config, results), null, 1));
  }
  if (runtime === 'node' || runtime === 'both') results.push(await runNode(model, draft, prompts, config, outDir));
  const report = makeReport(command, config, results);
  const png = await writeOutputs(report, outDir, !f['no-png']);
  const s = report.summary;
  process.stdout.write(`\n${markdownTable(s)}\n\n`);
  for (const r of results) for (const e of r.errors) process.stdout.write(`error (${r.runtime}): ${e}\n`);
  for (const m of s.mismatches) process.stdout.write(`MISMATCH ${m.strategy} on ${m.promptId} (repeat ${m.repeat}): first difference at token ${m.at}: ar ${m.expected} vs ${m.got}\n`);
  for (const e of s.failedRuns) process.stdout.write(`FAILED RUN ${e.strategy} on ${e.promptId}: ${e.error}\n`);
  for (const a of s.peerAgreement) process.stdout.write(`peer ${a.engine} on ${a.promptId}: ${a.matchingChars}/${a.ourChars} chars of treespec ar's text match; token ids ${tokenAgreement(a)}\n`);
  for (const a of s.weightAgreement) process.stdout.write(`${a.engine} ${a.strategy} on ${a.promptId} vs treespec ar ${s.agreementWeights}: token ids ${tokenAgreement(a)}\n`);
  process.stdout.write(`${failed(report) ? 'FAIL' : 'PASS'} in ${((Date.now() - t0) / 1000).toFixed(0)} s\nresults: ${join(outDir, 'results.json')}\nreport: ${join(outDir, 'report.html')}${png ? `\npng: ${png}` : ''}\n`);
  return failed(report) ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`${(e as Error).name}: ${(e as Error).message}\n`);
      if (!(e instanceof UsageError)) process.stderr.write(`${(e as Error).stack ?? ''}\n`);
      else process.stderr.write(usage);
      process.exit(2);
    },
  );
}
