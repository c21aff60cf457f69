/**
 * `treespec generate` on bad input (issue 9): each case exits non-zero and prints one line
 * `ErrorName: message` on stderr, without a stack trace unless --debug. `main(argv)` runs in
 * process with stdout/stderr captured; every case here fails before the GPU is touched (the
 * CPU reference serves the prompt-length case), so this stays in the unit project.
 */
import { describe, expect, it, beforeAll, afterAll, vi } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { FIXTURE_SHAPES, makeFixture, writeFixture } from '../../src/model/fixture';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(argv: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((stdout += String(s)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((stderr += String(s)), true));
  try {
    const code = await main(argv);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

/** A failure: non-zero exit, `Name: message` as the first stderr line, and no stack frames. */
function expectFailure(r: Run, name: string, message: RegExp): void {
  expect(r.code, r.stderr).not.toBe(0);
  const first = r.stderr.split('\n')[0];
  expect(first).toMatch(new RegExp(`^${name}: `));
  expect(first).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('treespec generate: bad input', () => {
  let dir: string;
  let good: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'treespec-cli-'));
    good = join(dir, 'good');
    await writeFixture(good, makeFixture({ ...FIXTURE_SHAPES.tiny, maxPositionEmbeddings: 32 }, 1));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A copy of the good model with one file replaced (or removed when `data` is null). */
  async function variant(name: string, file: string, edit: (data: Uint8Array) => Uint8Array | string | null): Promise<string> {
    const d = join(dir, name);
    const files = makeFixture({ ...FIXTURE_SHAPES.tiny, maxPositionEmbeddings: 32 }, 1);
    const data = edit(files.get(file)!);
    if (data === null) files.delete(file);
    else files.set(file, typeof data === 'string' ? new TextEncoder().encode(data) : data);
    await writeFixture(d, files);
    return d;
  }

  it('missing model folder: ModelSourceError naming the folder and file', async () => {
    const r = await run(['generate', '--model', join(dir, 'nope'), '--prompt', 'hi', '--device', 'cpu']);
    expectFailure(r, 'ModelSourceError', /nope.*config\.json.*not found/);
  });

  it('missing safetensors file: ModelSourceError', async () => {
    const d = await variant('no-weights', 'model.safetensors', () => null);
    const r = await run(['generate', '--model', d, '--prompt', 'hi', '--device', 'cpu']);
    expectFailure(r, 'ModelSourceError', /safetensors/);
  });

  it('malformed config.json: ConfigError naming the file', async () => {
    const d = await variant('bad-json', 'config.json', () => '{"model_type": "llama", ');
    expectFailure(await run(['generate', '--model', d, '--prompt', 'hi', '--device', 'cpu']), 'ConfigError', /config\.json/);
  });

  it('inconsistent config.json: ConfigError naming the field and value', async () => {
    const d = await variant('bad-heads', 'config.json', (b) => {
      const c = JSON.parse(new TextDecoder().decode(b));
      return JSON.stringify({ ...c, num_attention_heads: 5 });
    });
    expectFailure(await run(['generate', '--model', d, '--prompt', 'hi', '--device', 'cpu']), 'ConfigError', /num_attention_heads.*5/);
  });

  it('unsupported architecture: ConfigError naming model_type', async () => {
    const d = await variant('bad-arch', 'config.json', (b) => JSON.stringify({ ...JSON.parse(new TextDecoder().decode(b)), model_type: 'gpt_neox' }));
    expectFailure(await run(['generate', '--model', d, '--prompt', 'hi', '--device', 'cpu']), 'ConfigError', /gpt_neox/);
  });

  it('truncated safetensors: SafetensorsError', async () => {
    for (const cut of [4, 100, 0.5]) {
      const d = await variant(`trunc-${cut}`, 'model.safetensors', (b) => b.slice(0, cut < 1 ? Math.floor(b.length * cut) : cut));
      const r = await run(['generate', '--model', d, '--prompt', 'hi', '--device', 'cpu']);
      expectFailure(r, 'SafetensorsError', /model\.safetensors/);
    }
  });

  it('malformed tokenizer.json: TokenizerError', async () => {
    const d = await variant('bad-tok', 'tokenizer.json', () => '{"model": ');
    expectFailure(await run(['generate', '--model', d, '--prompt', 'hi', '--device', 'cpu']), 'TokenizerError', /tokenizer/);
  });

  it('bad flag values: OptionsError naming the flag or option', async () => {
    const base = ['generate', '--model', good, '--prompt', 'hi'];
    const cases: [string[], RegExp][] = [
      [['--max-tokens', 'many'], /--max-tokens is "many"; expected a number/],
      [['--max-tokens', '0'], /"maxTokens" is 0; expected an integer >= 1/],
      [['--temperature=-1'], /"temperature" is -1/],
      [['--temperature', '-1'], /--temperature.*ambiguous/],
      [['--top-p', '2'], /"topP" is 2/],
      [['--tree-budget', '500'], /"treeBudget" is 500/],
      [['--device', 'tpu'], /--device is "tpu"; expected gpu or cpu/],
      [['--weights', 'int3'], /--weights is "int3"/],
      [['--strategy', 'telepathy'], /"strategy" is "telepathy"; expected one of ar, /],
      [['--max-context', '1.5'], /--max-context is "1.5"/],
      [['--steps-ahead', '0'], /"stepsAhead" is 0; expected an integer in \[1, 8\]/],
      [['--steps-ahead', '9'], /"stepsAhead" is 9/],
    ];
    for (const [flags, message] of cases) expectFailure(await run([...base, ...flags]), 'OptionsError', message);
    expectFailure(await run(['generate', '--prompt', 'hi']), 'OptionsError', /--model is required/);
    expectFailure(await run(['generate', '--model', good]), 'OptionsError', /--prompt is required/);
    expectFailure(await run([...base, '--frobnicate']), 'OptionsError', /frobnicate/);
    expectFailure(await run([...base, '--max-tokens']), 'OptionsError', /max-tokens/);
  });

  it('prompt too long for the context: ContextLengthError with the numbers', async () => {
    const long = 'x'.repeat(200); // one token per byte: far beyond max_position_embeddings = 32
    const r = await run(['generate', '--model', good, '--prompt', long, '--device', 'cpu']);
    expectFailure(r, 'ContextLengthError', /prompt has \d+ tokens; the context holds 32 .*at most 31 prompt tokens/);
    const r2 = await run(['generate', '--model', good, '--prompt', 'x'.repeat(20), '--max-context', '8', '--device', 'cpu']);
    expectFailure(r2, 'ContextLengthError', /the context holds 8 /);
  });

  it('--debug adds the stack trace', async () => {
    const r = await run(['generate', '--model', join(dir, 'nope'), '--prompt', 'hi', '--device', 'cpu', '--debug']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.split('\n')[0]).toMatch(/^ModelSourceError: /);
    expect(r.stderr).toMatch(/\n\s+at /);
  });

  it('the good model generates on the CPU (exit 0), so the failures above are the inputs', async () => {
    const r = await run(['generate', '--model', good, '--prompt', 'hi', '--device', 'cpu', '--max-tokens', '3', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).tokens).toHaveLength(3);
    // --max-tokens beyond the context: output stops where prompt + output fill it, as on the GPU.
    const capped = await run(['generate', '--model', good, '--prompt', 'hi', '--device', 'cpu', '--max-tokens', '100', '--max-context', '8', '--json']);
    expect(capped.code, capped.stderr).toBe(0);
    const out = JSON.parse(capped.stdout);
    expect(out.stats.promptTokens + out.tokens.length).toBeLessThanOrEqual(8);
  });

  it('an unknown command is named on stderr and exits 2', async () => {
    const r = await run(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('OptionsError: unknown command "frobnicate"; expected one of generate, fixture, vocab-counts, quantize, inspect or help (treespec help lists them)\n');
  });
});
