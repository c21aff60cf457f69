/**
 * The built command line as users run it (issue 9): the library build's dist/cli.js bundle is
 * built into a scratch folder under node_modules/.cache (so the bundle's external packages
 * resolve) and spawned with `node`. Each bad input exits with code 1 and prints exactly one
 * line `ErrorName: message`, with no stack trace unless --debug. test/unit/cli-errors.test.ts
 * covers the same inputs in process through main().
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FIXTURE_SHAPES, makeFixture, writeFixture } from '../../src/model/fixture';

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

describe('treespec generate (built bundle, spawned)', () => {
  let dir: string;
  let good: string;
  beforeAll(async () => {
    await exec('npx', ['vite', 'build', '--config', 'vite.lib.config.ts', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'error'], { timeout: 300_000 });
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
    await rm(outDir, { recursive: true, force: true });
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
