/**
 * The package as its users get it (issue 22). `npm pack`, then:
 *  - a fresh Vite app with default settings (single-page fallback on, minified build) installs the
 *    tarball and runs the README's "Use it in a web app" code, pasted verbatim from README.md with
 *    checks appended, in headless Chromium: both Engine and WorkerEngine load the bundled model
 *    from the app's public/ and generate, `auto` equal to `ar`; errors from the worker are
 *    instances of the exported classes; `tsc` under strict, without skipLibCheck, is clean for
 *    moduleResolution bundler, nodenext and node10;
 *  - a fresh Node project installs the tarball and `webgpu`: `import { Engine } from 'treespec'`
 *    and `npx treespec generate` work, and without `webgpu` the command says to install it.
 * Everything installs from npm's cache where it can (`--prefer-offline`): the repository's own
 * `npm ci` has already fetched every package involved.
 */
import { expect, test } from 'playwright/test';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const repo = fileURLToPath(new URL('..', import.meta.url));
const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
const modelDir = join(repo, 'public', 'models', 'tinystories-target');
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
  version: string;
  devDependencies: Record<string, string>;
};

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(cmd: string, args: string[], cwd: string, timeoutMs = 300_000): Promise<Run> {
  try {
    const { stdout, stderr } = await exec(cmd, args, { cwd, timeout: timeoutMs, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: typeof x.code === 'number' ? x.code : -1, stdout: x.stdout ?? '', stderr: x.stderr ?? String(e) };
  }
}

async function ok(cmd: string, args: string[], cwd: string, timeoutMs?: number): Promise<Run> {
  const r = await run(cmd, args, cwd, timeoutMs);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited with ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Seconds since `t0`, for the timings this file logs. */
const since = (t0: number) => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

/** The README's web-app code: the ```ts block after the web-app-example marker. */
async function readmeWebAppCode(): Promise<string> {
  const readme = await readFile(join(repo, 'README.md'), 'utf8');
  const m = /<!-- web-app-example\b[^>]*-->\s*```ts\n([\s\S]*?)```/.exec(readme);
  if (!m) throw new Error('README.md has no ```ts block after <!-- web-app-example ... -->');
  return m[1];
}

/**
 * Appended to the README's code in the app's src/main.ts: uses the README's `worker`, `engine`,
 * `workerOutput`, `text` and `prompt`, and leaves what the page saw in window.consumerResult.
 */
const CHECKS = `
// --- appended by e2e/consumer.spec.ts ---
import { ModelSourceError, OptionsError, TreespecError, WorkerError } from 'treespec';

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  return null;
}

function classOf(e: unknown) {
  if (!(e instanceof Error)) return { name: String(e) };
  return {
    name: e.name,
    message: e.message,
    treespec: e instanceof TreespecError,
    modelSource: e instanceof ModelSourceError,
    options: e instanceof OptionsError,
    worker: e instanceof WorkerError,
  };
}

const t0 = performance.now();
let firstTokenMs = -1;
for await (const chunk of worker.generate(prompt, { maxTokens: 1, strategy: 'ar' })) if (chunk.text) firstTokenMs = performance.now() - t0;
const workerAr = await worker.generateText(prompt, { maxTokens: 32, strategy: 'ar' });
const pageAr = await engine.generateText(prompt, { maxTokens: 32, strategy: 'ar' });
const workerMissing = classOf(await caught(WorkerEngine.load('/models/absent/')));
const pageMissing = classOf(await caught(Engine.load('/models/absent/')));
const workerOptions = classOf(await caught(worker.generateText(prompt, { temperature: -1 })));
worker.destroy();
const destroyed = classOf(await caught(worker.generateText(prompt)));
Object.assign(window, {
  consumerResult: {
    workerText: workerOutput.textContent,
    pageText: text,
    workerAr: workerAr.text,
    pageAr: pageAr.text,
    firstTokenMs,
    errors: { workerMissing, pageMissing, workerOptions, destroyed },
  },
});
`;

const INDEX_HTML = `<!doctype html>
<html lang="en">
  <head><meta charset="UTF-8" /><title>consumer</title></head>
  <body><script type="module" src="/src/main.ts"></script></body>
</html>
`;

/**
 * A consumer's tsconfig: strict, and every declaration file of the packages checked (no
 * skipLibCheck). TypeScript's own lib files are left unchecked (skipDefaultLibCheck): they say
 * nothing about the package and take half of each run.
 */
function tsconfig(module: string, moduleResolution: string): string {
  const compilerOptions = {
    target: 'ES2022',
    module,
    moduleResolution,
    lib: ['ES2022', 'DOM', 'DOM.Iterable'],
    strict: true,
    skipLibCheck: false,
    skipDefaultLibCheck: true,
    noEmit: true,
    types: [],
  };
  return JSON.stringify({ compilerOptions, include: ['src'] }, null, 2);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitForServer(url: string, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`vite preview exited with ${child.exitCode}: ${log()}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`vite preview did not answer at ${url}: ${log()}`);
}

async function sizesOf(dir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const f of await readdir(dir)) out[f] = (await stat(join(dir, f))).size;
  return out;
}

/** Newest modification time of the files under `path`, in ms. */
async function newest(path: string): Promise<number> {
  const st = await stat(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let t = 0;
  for (const e of await readdir(path)) t = Math.max(t, await newest(join(path, e)));
  return t;
}

/** Whether dist/ is missing or older than what builds it. */
async function libIsStale(): Promise<boolean> {
  const built = await stat(join(repo, 'dist', 'index.d.ts')).then((st) => st.mtimeMs, () => 0);
  const inputs = ['src', 'shaders', 'package.json', 'vite.lib.config.ts', 'tsconfig.build.json', 'tools/dts-extensions.mjs'];
  for (const p of inputs) if ((await newest(join(repo, p))) > built) return true;
  return false;
}

test.describe.configure({ mode: 'serial' });

let tmp: string;
let tarball: string;
let app: string;
let preview: ChildProcess | null = null;
let appUrl: string;

/** Builds dist/ when stale, packs it as published, checks the file list; returns the tarball's path. */
async function packTarball(): Promise<string> {
  const t0 = performance.now();
  // The library as `npm install` builds it (the prepare script; `npm ci` has just run it in CI).
  if (await libIsStale()) await ok('npm', ['run', 'build:lib'], repo);
  const packed = JSON.parse((await ok('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], repo)).stdout) as {
    filename: string;
    size: number;
    unpackedSize: number;
    files: { path: string }[];
  }[];
  const { filename, size, unpackedSize, files } = packed[0];
  const paths = files.map((f) => f.path).sort();
  console.log(`tarball ${filename}: ${size} bytes (${unpackedSize} unpacked), ${paths.length} files (built and packed in ${since(t0)}):\n  ${paths.join('\n  ')}`);
  for (const p of ['LICENSE', 'README.md', 'package.json', 'bin/treespec.mjs', 'dist/index.js', 'dist/index.d.ts', 'dist/worker.js', 'dist/engine-worker.js', 'dist/cli.js']) {
    expect(paths, `the tarball lacks ${p}`).toContain(p);
  }
  expect(paths.filter((p) => p.startsWith('shaders/') || p.startsWith('src/') || p.endsWith('.map'))).toEqual([]);
  expect(await readFile(join(repo, 'dist', 'worker.js'), 'utf8')).toContain('new Worker(new URL("./engine-worker.js", import.meta.url)');
  return join(tmp, filename);
}

/** A fresh Vite app: index.html, src/main.ts = the README's code + CHECKS, the model in public/; installed and built. */
async function buildApp(): Promise<string> {
  let t0 = performance.now();
  const dir = join(tmp, 'app');
  await mkdir(join(dir, 'src'), { recursive: true });
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'consumer-app', private: true, type: 'module' }, null, 2));
  await writeFile(join(dir, 'index.html'), INDEX_HTML);
  await writeFile(join(dir, 'src', 'main.ts'), (await readmeWebAppCode()) + CHECKS);
  await cp(modelDir, join(dir, 'public', 'models', 'tinystories-target'), { recursive: true });
  await ok('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', `vite@${pkg.devDependencies.vite}`, tarball], dir);
  console.log(`web app installed in ${since(t0)}`);
  t0 = performance.now();
  await ok('node', [join(dir, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn'], dir);
  const assets = await sizesOf(join(dir, 'dist', 'assets'));
  console.log(`web app built in ${since(t0)}; dist/assets: ${JSON.stringify(assets)}`);
  // The worker is a chunk of its own, emitted because the bundler followed dist/worker.js's URL.
  expect(Object.keys(assets).filter((f) => /^engine-worker-.*\.js$/.test(f))).toHaveLength(1);
  return dir;
}

test.beforeAll(async () => {
  test.setTimeout(600_000);
  tmp = await mkdtemp(join(tmpdir(), 'treespec-consumer-'));
  tarball = await packTarball();
  app = await buildApp();
  const port = await freePort();
  appUrl = `http://127.0.0.1:${port}/`;
  preview = spawn('node', [join(app, 'node_modules', 'vite', 'bin', 'vite.js'), 'preview', '--host', '127.0.0.1', '--port', String(port), '--strictPort'], { cwd: app });
  let log = '';
  preview.stdout?.on('data', (d) => (log += d));
  preview.stderr?.on('data', (d) => (log += d));
  await waitForServer(appUrl, preview, () => log);
});

test.afterAll(async () => {
  if (preview?.pid !== undefined && preview.exitCode === null) preview.kill();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test('the web app installs no Node WebGPU and type-checks strictly under every module resolution', async () => {
  await expect(stat(join(app, 'node_modules', 'webgpu'))).rejects.toThrow();
  const t0 = performance.now();
  const resolutions = [['ESNext', 'Bundler'], ['NodeNext', 'NodeNext'], ['ESNext', 'Node10']];
  const checks = resolutions.map(async ([module, resolution]) => {
    const config = `tsconfig.${resolution.toLowerCase()}.json`;
    await writeFile(join(app, config), tsconfig(module, resolution));
    return { resolution, ...(await run('node', [tsc, '-p', config], app)) };
  });
  for (const r of await Promise.all(checks)) expect(r.code, `tsc, moduleResolution ${r.resolution}:\n${r.stdout}${r.stderr}`).toBe(0);
  console.log(`tsc (3 module resolutions, in parallel) in ${since(t0)}`);
  // Without `webgpu`, the command line says what to install, in one line.
  const r = await run(join(app, 'node_modules', '.bin', 'treespec'), ['generate', '--model', modelDir, '--prompt', 'Hi', '--max-tokens', '1'], app);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/^WebGPUUnavailableError: .*npm install webgpu/m);
});

test('the README web-app code generates in Chromium with both APIs, auto equal to ar', async ({ page }) => {
  // Only the checks' two loads of a missing model may fail a request (and Chromium's favicon probe).
  const expectedFailure = /\/favicon\.ico$|\/models\/absent\//;
  const complaints: string[] = [];
  page.on('console', (m) => m.type() === 'error' && !expectedFailure.test(m.location().url) && complaints.push(m.text()));
  page.on('pageerror', (e) => complaints.push(e.message));
  page.on('response', (res) => res.status() >= 400 && !expectedFailure.test(res.url()) && complaints.push(`${res.status()} ${res.url()}`));
  const t0 = performance.now();
  await page.goto(appUrl);
  await expect(page.locator('p')).not.toBeEmpty();
  const firstTextMs = performance.now() - t0;
  await page.waitForFunction(() => 'consumerResult' in window, null, { timeout: 300_000 });
  const r = (await page.evaluate(() => (window as unknown as { consumerResult: unknown }).consumerResult)) as {
    workerText: string;
    pageText: string;
    workerAr: string;
    pageAr: string;
    firstTokenMs: number;
    errors: Record<string, { name: string; treespec: boolean; modelSource: boolean; options: boolean; worker: boolean }>;
  };
  console.log(`page open to the worker's first text: ${(firstTextMs / 1000).toFixed(1)} s; first token of a warm worker: ${r.firstTokenMs.toFixed(0)} ms; all in ${since(t0)}`);
  console.log(`text: ${JSON.stringify(r.workerText)}`);
  expect(r.workerAr.length).toBeGreaterThan(20);
  expect(r.workerText).toBe(r.workerAr);
  expect(r.pageText).toBe(r.pageAr);
  expect(r.pageAr).toBe(r.workerAr);
  expect(r.firstTokenMs).toBeGreaterThan(0);
  const e = r.errors;
  expect(e.workerMissing).toMatchObject({ name: 'ModelSourceError', modelSource: true, treespec: true });
  expect(e.pageMissing).toMatchObject({ name: 'ModelSourceError', modelSource: true, treespec: true });
  expect(e.workerOptions).toMatchObject({ name: 'OptionsError', options: true, treespec: true });
  expect(e.destroyed).toMatchObject({ name: 'WorkerError', worker: true, treespec: true });
  expect(complaints).toEqual([]);
});

test('a Node project imports the Engine and runs `npx treespec generate`', async () => {
  const t0 = performance.now();
  const dir = join(tmp, 'node');
  await mkdir(dir);
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'consumer-node', private: true, type: 'module' }, null, 2));
  await ok('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, `webgpu@${pkg.devDependencies.webgpu}`], dir);
  console.log(`node project installed in ${since(t0)}`);
  const script = `import { Engine } from 'treespec';
const engine = await Engine.load(${JSON.stringify(modelDir)});
const ar = await engine.generateText('Once upon a time', { maxTokens: 8, strategy: 'ar' });
const auto = await engine.generateText('Once upon a time', { maxTokens: 8 });
console.log(JSON.stringify({ ar: ar.text, auto: auto.text }));
process.exit(0);
`;
  await writeFile(join(dir, 'main.js'), script);
  const lib = JSON.parse((await ok('node', ['main.js'], dir)).stdout.trim().split('\n').at(-1)!) as { ar: string; auto: string };
  expect(lib.ar.length).toBeGreaterThan(8);
  expect(lib.auto).toBe(lib.ar);
  expect((await ok('npx', ['--no-install', 'treespec', '--version'], dir)).stdout.trim()).toBe(pkg.version);
  const cli = await ok('npx', ['--no-install', 'treespec', 'generate', '--model', modelDir, '--prompt', 'Once upon a time', '--max-tokens', '8', '--strategy', 'ar', '--json'], dir);
  expect((JSON.parse(cli.stdout) as { text: string }).text).toBe(lib.ar);
  console.log(`node consumer done in ${since(t0)}`);
});
