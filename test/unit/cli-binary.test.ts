/**
 * The built command line as users run it (issue 9): the library build's dist/cli.js bundle is
 * built into a scratch folder under node_modules/.cache (so the bundle's external packages
 * resolve) and spawned with `node`. Each bad input exits with code 1 and prints exactly one
 * line `ErrorName: message`, with no stack trace unless --debug. test/unit/cli-errors.test.ts
 * covers the same inputs in process through main().
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FIXTURE_SHAPES, makeFixture, writeFixture, type FixtureShape } from '../../src/model/fixture';
import { FolderSource } from '../../src/model/source';
import { loadModelFiles } from '../../src/model/weights';
import { Rng } from '../../src/verify/rng';
import { JOURNAL } from '../../src/model/folder-journal';
import { recoverModelFolder } from '../../src/cli/output-files';

const exec = promisify(execFile);
const outDir = join('node_modules', '.cache', `treespec-cli-test-${process.pid}`);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await exec('node', [join(outDir, 'cli.js'), ...args], { timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

/** Exit code 1, one stderr line `Name: message` (Dawn's loader noise aside), no stack frames. */
function expectFailure(r: Run, name: string, message: RegExp): void {
  expect(r.code, r.stderr).toBe(1);
  const lines = r.stderr.split('\n').filter((l) => l && !/XDG_RUNTIME_DIR/.test(l));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^${name}: `));
  expect(lines[0]).toMatch(message);
}

beforeAll(async () => {
  await exec('npx', ['vite', 'build', '--config', 'vite.lib.config.ts', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'error'], { timeout: 300_000 });
}, 300_000);
afterAll(async () => {
  await rm(outDir, { recursive: true, force: true });
});

describe('treespec generate (built bundle, spawned)', () => {
  let dir: string;
  let good: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'treespec-cli-bin-'));
    good = join(dir, 'good');
    await writeFixture(good, makeFixture({ ...FIXTURE_SHAPES.tiny, maxPositionEmbeddings: 32 }, 1));
    const files = makeFixture(FIXTURE_SHAPES.tiny, 1);
    files.set('config.json', new TextEncoder().encode('{"model_type": "llama",'));
    await writeFixture(join(dir, 'bad-config'), files);
    const truncated = makeFixture(FIXTURE_SHAPES.tiny, 1);
    truncated.set('model.safetensors', truncated.get('model.safetensors')!.slice(0, 1000));
    await writeFixture(join(dir, 'truncated'), truncated);
  }, 300_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('each bad input: exit 1 and ErrorName: message, no stack trace', async () => {
    const cases: [string[], string, RegExp][] = [
      [['--model', join(dir, 'missing'), '--prompt', 'hi'], 'ModelSourceError', /missing.*config\.json.*not found/],
      [['--model', join(dir, 'bad-config'), '--prompt', 'hi'], 'ConfigError', /config\.json/],
      [['--model', join(dir, 'truncated'), '--prompt', 'hi'], 'SafetensorsError', /model\.safetensors/],
      [['--model', good, '--prompt', 'hi', '--max-tokens', 'lots'], 'OptionsError', /--max-tokens is "lots"/],
      [['--model', good, '--prompt', 'hi', '--top-p=0'], 'OptionsError', /"topP" is 0/],
      [['--model', good, '--prompt', 'hi', '--bogus'], 'OptionsError', /bogus/],
      [['--model', good, '--prompt', 'hi', '--strategy', 'telepathy'], 'OptionsError', /"strategy" is "telepathy"/],
      [['--model', good, '--prompt', 'x'.repeat(100), '--device', 'cpu'], 'ContextLengthError', /the context holds 32/],
    ];
    for (const [args, name, message] of cases) expectFailure(await cli(['generate', ...args]), name, message);
  }, 300_000);

  it('a prompt too long for the GPU engine: ContextLengthError from the engine', async () => {
    const r = await cli(['generate', '--model', good, '--prompt', 'x'.repeat(100), '--strategy', 'ar']);
    expectFailure(r, 'ContextLengthError', /the prompt has \d+ tokens; this engine's context holds 32/);
  }, 300_000);

  it('--debug prints the stack trace after the error line', async () => {
    const r = await cli(['generate', '--model', join(dir, 'missing'), '--prompt', 'hi', '--debug']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ModelSourceError: .*\n(.*\n)*\s+at /);
  }, 300_000);
});

/**
 * The built CLI as a child process. With `kill`, the folder `kill.out` is watched for the
 * child's first temporary file (the start of its writing) and the child is killed `kill.delayMs`
 * later; `writeMs` is the time from that first file to the child's exit.
 */
function spawnCli(args: string[], kill?: { out: string; delayMs: number }): Promise<{ code: number | null; stderr: string; writeMs: number }> {
  return new Promise((res) => {
    const child = spawn('node', [join(outDir, 'cli.js'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    let writing = -1;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const watch = kill && setInterval(() => {
      void readdir(kill.out).then((names) => {
        if (writing >= 0 || !names.some((n) => n.includes('.partial-'))) return;
        writing = performance.now();
        timer = setTimeout(() => child.kill('SIGKILL'), kill.delayMs);
      }, () => {});
    }, 1);
    child.on('exit', (code) => {
      if (watch) clearInterval(watch);
      if (timer) clearTimeout(timer);
      res({ code, stderr, writeMs: writing < 0 ? 0 : performance.now() - writing });
    });
  });
}

const shape: FixtureShape = { modelType: 'llama', vocabSize: 300, hiddenSize: 32, intermediateSize: 48, numLayers: 1, numHeads: 2, numKvHeads: 1, dtype: 'f16' };

async function snapshot(dir: string): Promise<Map<string, Buffer>> {
  const m = new Map<string, Buffer>();
  for (const name of (await readdir(dir).catch(() => [] as string[])).sort()) m.set(name, await readFile(join(dir, name)));
  return m;
}

describe('killed mid-write (real child process, seeded kill points)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'treespec-cli-kill-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('quantize --force and fixture leave the old folder intact or the new one complete, and it loads', async () => {
    const m = join(dir, 'model');
    await writeFixture(m, makeFixture({ ...shape, vocabSize: 2048, hiddenSize: 128, intermediateSize: 256, dtype: 'f32' }, 1));
    const oldModel = makeFixture({ ...shape, hiddenSize: 16 }, 2);
    const args = {
      quantize: (out: string) => ['quantize', '--model', m, '--to', 'q8', '--out', out, '--force'],
      fixture: (out: string) => ['fixture', '--out', out, '--vocab', '2048', '--hidden', '128', '--intermediate', '256', '--layers', '2', '--dtype', 'f32', '--seed', '3', '--force'],
    };
    // Reference runs: the complete outputs, and how long the writing takes.
    const expected = { quantize: new Map<string, Buffer>(), fixture: new Map<string, Buffer>() };
    const writeMs = { quantize: 0, fixture: 0 };
    for (const kind of ['quantize', 'fixture'] as const) {
      const out = join(dir, `ref-${kind}`);
      const r = await spawnCli(args[kind](out), { out, delayMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      expected[kind] = await snapshot(out);
      writeMs[kind] = r.writeMs;
    }
    const rng = new Rng(20);
    const outcomes = { old: 0, new: 0, none: 0, journal: 0 };
    const kills = 20;
    const job = async (i: number) => {
      const kind = i % 2 === 0 ? 'quantize' : 'fixture';
      const out = join(dir, `out-${i}`);
      // Half the folders hold an older model (replaced with --force), half are new.
      const replacing = i % 4 < 2;
      if (replacing) await writeFixture(out, oldModel);
      const before = await snapshot(out);
      const delayMs = rng.next() * 1.2 * writeMs[kind];
      await spawnCli(args[kind](out), { out, delayMs });
      const visible = async () => new Map([...(await snapshot(out))].filter(([n]) => !n.startsWith('.')));
      const classify = (after: Map<string, Buffer>) => {
        const names = JSON.stringify([...after.keys()]);
        const same = (want: Map<string, Buffer>) => names === JSON.stringify([...want.keys()]) && [...after].every(([n, b]) => b.equals(want.get(n)!));
        const state = after.size === 0 && !replacing ? 'none' : replacing && same(before) ? 'old' : same(expected[kind]) ? 'new' : 'mixed';
        return { state, names };
      };
      let { state, names } = classify(await visible());
      const where = `kill ${i} (${kind}) ${delayMs.toFixed(1)} ms into the writing`;
      if ((await readdir(out).catch(() => [] as string[])).includes(JOURNAL)) {
        // Killed between its renames: committed. FolderSource reads through the journal (it
        // loads below); a reader that ignores it finds no config.json rather than a mix; the
        // next write rolls it forward to the new model.
        if (state === 'mixed') expect(names, `${where} left a journal and ${names}`).not.toContain('"config.json"');
        outcomes.journal++;
        await loadModelFiles(new FolderSource(out));
        await recoverModelFolder(out);
        ({ state, names } = classify(await visible()));
        expect(state, `${where}, rolled forward, left ${names}`).toBe('new');
      }
      expect(state, `${where} left ${names}`).not.toBe('mixed');
      outcomes[state as 'old' | 'new' | 'none']++;
      if (state !== 'none') await loadModelFiles(new FolderSource(out));
      // The next run completes and removes what the killed one left.
      if (i < 2) {
        const again = await spawnCli(args[kind](out));
        expect(again.code, again.stderr).toBe(0);
        expect((await readdir(out)).filter((n) => n.startsWith('.'))).toEqual([]);
      }
    };
    // Two children at a time, each killed relative to its own writing.
    for (let i = 0; i < kills; i += 2) await Promise.all([job(i), job(i + 1)]);
    console.log(JSON.stringify({ outcomes, writeMs }));
    expect(outcomes.old + outcomes.new + outcomes.none).toBe(kills);
  }, 120_000);
});
