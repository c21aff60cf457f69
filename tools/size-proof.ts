/**
 * Proof at size (issue 19): random-weight models of Llama-3.2-1B's and Qwen3-0.6B's exact
 * shapes (src/model/fixture.ts, bf16, sharded as Hugging Face does) load in q4 in headless
 * Chromium (SwiftShader without a GPU) through the public Engine API on a device with WebGPU's
 * default limits, so their embeddings and LM heads are split across bindings, and generate a
 * few tokens; the model's whole context (with an f32 KV cache) and a 32 MiB memory budget are refused with
 * ModelTooLargeError before any weight is downloaded. Too heavy for the test suite (minutes and
 * several GB of memory per model):
 *
 *   npm run proof:size -- [--models llama32-1b,qwen3-0.6b] [--dir DIR] [--out result.json]
 *
 * The models are written to DIR (default: a temporary folder, removed at the end) unless they
 * are there already. Exit code 1 when a check fails.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { serveFolders } from '../bench/browser.ts';
import { chromiumArgs, chromiumPath } from '../test/chromium.ts';
import { makeFixture, type FixtureShape } from '../src/model/fixture.ts';
import { parseSafetensors, serializeSafetensors, type RawTensor } from '../src/model/safetensors.ts';
import type { ProofResult } from './size-proof/main.ts';

const repoRoot = resolve(dirname(new URL(import.meta.url).pathname), '..');

/** The published configs' shapes (config.json of meta-llama/Llama-3.2-1B and Qwen/Qwen3-0.6B). */
const SHAPES: Record<string, FixtureShape> = {
  'llama32-1b': {
    modelType: 'llama', vocabSize: 128256, hiddenSize: 2048, intermediateSize: 8192, numLayers: 16, numHeads: 32, numKvHeads: 8, headDim: 64,
    maxPositionEmbeddings: 131072, ropeTheta: 500000, tieWordEmbeddings: true, dtype: 'bf16',
    ropeScaling: { factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
  },
  'qwen3-0.6b': {
    modelType: 'qwen3', vocabSize: 151936, hiddenSize: 1024, intermediateSize: 3072, numLayers: 28, numHeads: 16, numKvHeads: 8, headDim: 128,
    maxPositionEmbeddings: 40960, ropeTheta: 1000000, tieWordEmbeddings: true, dtype: 'bf16',
  },
  /** The same checks in seconds (--models smoke; its embedding and head fit one binding). */
  smoke: {
    modelType: 'qwen3', vocabSize: 40000, hiddenSize: 512, intermediateSize: 1024, numLayers: 2, numHeads: 8, numKvHeads: 4, headDim: 64,
    maxPositionEmbeddings: 262144, tieWordEmbeddings: true, dtype: 'bf16',
  },
};

const SHARD_BYTES = 1 << 30;

/** Writes the fixture of `shape` into `dir` with model.safetensors cut into shards of at most 1 GiB and their index. */
async function writeModel(dir: string, shape: FixtureShape): Promise<void> {
  const files = makeFixture(shape, 1);
  await mkdir(dir, { recursive: true });
  const shards: RawTensor[][] = [[]];
  let bytes = 0;
  for (const t of parseSafetensors(files.get('model.safetensors')!).values()) {
    if (bytes + t.data.length > SHARD_BYTES && shards[shards.length - 1].length) (shards.push([]), (bytes = 0));
    shards[shards.length - 1].push(t);
    bytes += t.data.length;
  }
  const name = (i: number) => `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
  const weightMap: Record<string, string> = {};
  for (const [i, s] of shards.entries()) {
    await writeFile(join(dir, name(i)), serializeSafetensors(s));
    for (const t of s) weightMap[t.name] = name(i);
  }
  await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  for (const [f, b] of files) if (f !== 'model.safetensors') await writeFile(join(dir, f), b);
}

function check(ok: boolean, what: string, failures: string[]): void {
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${what}\n`);
  if (!ok) failures.push(what);
}

async function main(): Promise<number> {
  const f = parseArgs({ options: { models: { type: 'string' }, dir: { type: 'string' }, out: { type: 'string' } } }).values;
  const names = (f.models ?? 'llama32-1b,qwen3-0.6b').split(',');
  for (const n of names) if (!SHAPES[n]) throw new Error(`--models: unknown model "${n}"; expected ${Object.keys(SHAPES).join(', ')}`);
  const dir = f.dir ? resolve(f.dir) : await mkdtemp(join(tmpdir(), 'treespec-size-'));
  const mounts: Record<string, string> = {};
  const results: Record<string, ProofResult & { fixtureMs: number }> = {};
  const failures: string[] = [];
  const { createServer } = await import('vite');
  const { chromium } = await import('playwright');
  try {
    for (const n of names) {
      const t = performance.now();
      if (!existsSync(join(dir, n, 'config.json'))) await writeModel(join(dir, n), SHAPES[n]);
      mounts[`/__proof/${n}/`] = join(dir, n);
      results[n] = { fixtureMs: performance.now() - t } as ProofResult & { fixtureMs: number };
      process.stdout.write(`${n}: fixture in ${join(dir, n)} (${(results[n].fixtureMs / 1000).toFixed(0)} s)\n`);
    }
    const server = await createServer({
      configFile: false, root: repoRoot, logLevel: 'warn',
      server: { host: '127.0.0.1', port: 0, hmr: false, watch: null },
      optimizeDeps: { include: ['@huggingface/tokenizers', '@huggingface/jinja'] },
      plugins: [serveFolders(mounts)],
    });
    await server.listen();
    const address = server.httpServer?.address();
    const port = typeof address === 'object' && address ? address.port : 5173;
    const browser = await chromium.launch({ executablePath: chromiumPath(), args: chromiumArgs, headless: true });
    try {
      for (const n of names) {
        // a fresh page per model: the previous model's memory is gone with its renderer
        const page = await browser.newPage();
        page.on('pageerror', (e) => process.stderr.write(`[browser] ${e.message}\n`));
        await page.goto(`http://127.0.0.1:${port}/tools/size-proof/index.html`);
        await page.waitForFunction(() => (window as unknown as { proofReady?: boolean }).proofReady === true, null, { timeout: 180_000 });
        const r = await page.evaluate(([m, p]) => (window as unknown as { runProof: (m: string, p: number) => Promise<ProofResult> }).runProof(m, p), [n, SHAPES[n].maxPositionEmbeddings!] as const);
        await page.close();
        results[n] = { ...results[n], ...r };
        process.stdout.write(`${n}: ${JSON.stringify(r, null, 1)}\n`);
        check(r.refusals.every((x) => x.name === 'ModelTooLargeError'), `${n}: both oversized requests refused with ModelTooLargeError`, failures);
        check(r.tokens.length > 0, `${n}: generated ${r.tokens.length} tokens in q4 (load ${(r.loadMs / 1000).toFixed(0)} s, ${r.tokensPerSecond.toFixed(3)} tokens/s)`, failures);
      }
    } finally {
      await browser.close();
      await server.close();
    }
  } finally {
    if (!f.dir) await rm(dir, { recursive: true, force: true });
  }
  if (f.out) await writeFile(f.out, JSON.stringify(results, null, 1));
  return failures.length ? 1 : 0;
}

main().then((code) => process.exit(code), (e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
