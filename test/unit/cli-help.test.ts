/**
 * Every misuse gets a clear answer (issue 20): help on every command (`help`, `-h`, `--help`),
 * unknown commands named, the README's command-line section equal to `treespec help` flag for
 * flag; one set of option rules on both devices (context limit, finish reason `context`); flags
 * that do not apply to a strategy refused; values reported as given (NaN, "", "4"); no
 * TypeError from the public API for wrong argument types.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './run-cli';
import { commands, commandUsage, usage, type CommandName } from '../../src/cli/flags';
import { Engine } from '../../src/engine/engine';
import { resolveGenerateOptions } from '../../src/engine/options';
import { strategyNames } from '../../src/engine/strategies';
import { FIXTURE_SHAPES, makeFixture, writeFixture } from '../../src/model/fixture';
import { MemorySource } from '../../src/model/source';
import { loadModelFiles } from '../../src/model/weights';

const run = runCli;

const names = Object.keys(commands) as CommandName[];

describe('help', () => {
  it('treespec, treespec help, --help and -h print every command and flag (exit 0)', async () => {
    for (const argv of [[], ['help'], ['--help'], ['-h']]) {
      const r = await run(argv);
      expect([r.code, r.stderr]).toEqual([0, '']);
      expect(r.stdout).toBe(usage());
    }
    for (const name of names) expect(usage()).toContain(commandUsage(name));
  });

  it('every command answers help, -h and --help (also among other flags)', async () => {
    for (const name of names) {
      for (const argv of [[name, '--help'], [name, '-h'], ['help', name], [name, '--model', 'x', '--help']]) {
        const r = await run(argv);
        expect([r.code, r.stderr], argv.join(' ')).toEqual([0, '']);
        expect(r.stdout).toBe(commandUsage(name));
      }
    }
  });

  it('unknown commands are named', async () => {
    for (const argv of [['bogus'], ['help', 'bogus']]) {
      const r = await run(argv);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^OptionsError: unknown command "bogus"; expected one of generate, fixture, vocab-counts, quantize, inspect or help/);
    }
  });

  it('the help lists every strategy (auto and the drafters) and every flag with a default', () => {
    const gen = commandUsage('generate');
    for (const s of strategyNames()) expect(gen).toMatch(new RegExp(`[ ,]${s}[,\\n ]`));
    for (const name of names) {
      for (const [flag, f] of Object.entries(commands[name].flags)) expect(commandUsage(name)).toMatch(new RegExp(`--${flag}\\b.*  ${f.dflt.replace(/[()+*?]/g, '\\$&')}  `));
    }
  });

  it("README.md's command-line section holds the help of every command, flag for flag", async () => {
    const readme = await readFile('README.md', 'utf8');
    const section = readme.slice(readme.indexOf('## Command line'), readme.indexOf('\n## ', readme.indexOf('## Command line') + 3));
    for (const name of names) expect(section).toContain(commandUsage(name));
  });
});

describe('one set of option rules', () => {
  let dir: string;
  let good: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'treespec-rules-'));
    good = join(dir, 'good');
    await writeFixture(good, makeFixture({ ...FIXTURE_SHAPES.tiny, maxPositionEmbeddings: 32 }, 1));
    await writeFile(join(dir, 'doc.txt'), 'some text');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const gen = (...a: string[]) => run(['generate', '--model', good, '--prompt', 'hi', ...a]);

  it('--max-context above max_position_embeddings: the same OptionsError on the CPU path and in Engine.load', async () => {
    const cpu = await gen('--device', 'cpu', '--max-context', '600');
    expect(cpu.stderr).toMatch(/^OptionsError: engine option "maxContext" \(--max-context\) is 600; expected an integer in \[2, 32\]/);
    const files = await loadModelFiles(new MemorySource(makeFixture({ ...FIXTURE_SHAPES.tiny, maxPositionEmbeddings: 32 }, 1)));
    await expect(Engine.load(files, { maxContext: 600 })).rejects.toThrow(/^engine option "maxContext" \(--max-context\) is 600; expected an integer in \[2, 32\]/);
  });

  it('--kv-dtype other than f32 or f16: the engine option\'s OptionsError, before the model is read', async () => {
    const r = await gen('--device', 'cpu', '--kv-dtype', 'bf16');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^OptionsError: engine option "kvDtype" \(--kv-dtype\) is "bf16"; expected "f32" or "f16"/);
  });

  it("the CPU path ends at a full context with finish reason 'context', as the GPU engine does", async () => {
    const r = await gen('--device', 'cpu', '--max-context', '8', '--max-tokens', '50', '--json');
    expect(r.code, r.stderr).toBe(0);
    const { stats, tokens } = JSON.parse(r.stdout);
    expect(stats.finishReason).toBe('context');
    expect(tokens.length + stats.promptTokens).toBe(8);
  });

  it('flags that do not apply to the strategy are refused', async () => {
    const doc = join(dir, 'doc.txt');
    const cases: [string[], RegExp][] = [
      [['--strategy', 'draft'], /--strategy draft needs --draft DIR/],
      [['--strategy', 'fusion'], /--strategy fusion needs --draft DIR/],
      [['--strategy', 'lookup', '--draft', good], /--draft does not apply to --strategy lookup/],
      [['--strategy', 'lookup', '--documents', doc], /--documents does not apply to --strategy lookup/],
      [['--strategy', 'ar', '--tree-budget', '4'], /--tree-budget does not apply to --strategy ar/],
      [['--device', 'cpu', '--documents', doc], /--documents does not apply to --strategy ar/],
    ];
    for (const [args, message] of cases) {
      const r = await gen(...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(/^OptionsError: /);
      expect(r.stderr).toMatch(message);
    }
  });

  it('numbers are reported as given: NaN, "", "4"', async () => {
    expect((await gen('--max-tokens', '')).stderr).toMatch(/^OptionsError: --max-tokens is ""; expected a number/);
    expect((await gen('--temperature', ' ')).stderr).toMatch(/^OptionsError: --temperature is " "; expected a number/);
    expect(() => resolveGenerateOptions({ maxTokens: NaN }, 127)).toThrow('generate option "maxTokens" is NaN; expected an integer >= 1');
    expect(() => resolveGenerateOptions({ maxTokens: '4' as unknown as number }, 127)).toThrow('generate option "maxTokens" is "4"; expected an integer >= 1');
    expect(() => resolveGenerateOptions({ topP: Infinity }, 127)).toThrow('generate option "topP" is Infinity');
  });

  it('wrong argument types are OptionsErrors, never TypeErrors', async () => {
    await expect(Engine.load(42 as never)).rejects.toThrow(/^Engine\.load: the model is 42; expected a folder path or URL/);
    await expect(Engine.load(null as never)).rejects.toThrow(/the model is null/);
    await expect(Engine.load('x', null as never)).rejects.toThrow(/^Engine\.load: the options are null; expected an object/);
    expect(() => resolveGenerateOptions({ strategy: 42 as unknown as string }, 127)).toThrow('generate option "strategy" is 42; expected a strategy name');
    expect(() => resolveGenerateOptions(null as never, 127)).toThrow('generate options are null; expected an object');
    expect(() => resolveGenerateOptions({ chat: 'yes' as unknown as boolean }, 127)).toThrow('generate option "chat" is "yes"');
  });
});
