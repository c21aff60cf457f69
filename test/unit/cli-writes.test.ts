/**
 * What the command line writes never destroys what the user owns (issue 20): quantize and
 * fixture refuse a folder that holds a model unless --force, refuse --out equal to or inside
 * --model even with it, remove a stale shard index, and write through temporary names.
 * test/unit/cli-binary.test.ts kills the built binary mid-write.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './run-cli';
import { makeFixture, writeFixture, type FixtureShape } from '../../src/model/fixture';
import { FolderSource } from '../../src/model/source';
import { loadModelFiles } from '../../src/model/weights';

const shape: FixtureShape = { modelType: 'llama', vocabSize: 300, hiddenSize: 32, intermediateSize: 48, numLayers: 1, numHeads: 2, numKvHeads: 1, dtype: 'f16' };

const run = runCli;

async function snapshot(dir: string): Promise<Map<string, Buffer>> {
  const m = new Map<string, Buffer>();
  for (const name of (await readdir(dir).catch(() => [] as string[])).sort()) m.set(name, await readFile(join(dir, name)));
  return m;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'treespec-writes-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('treespec quantize / fixture never destroy input', () => {
  it('quantize --out equal to or inside --model is refused, even with --force; the model is untouched', async () => {
    const m = join(dir, 'm1');
    await writeFixture(m, makeFixture(shape, 1));
    const before = await snapshot(m);
    for (const out of [m, `${m}/`, join(m, 'q8')]) {
      for (const force of [[], ['--force']]) {
        const r = await run(['quantize', '--model', m, '--to', 'q8', '--out', out, ...force]);
        expect(r.code, r.stderr).toBe(1);
        expect(r.stderr).toMatch(/^OptionsError: --out .* (the same folder as|inside) --model/);
      }
    }
    expect(await snapshot(m)).toEqual(before);
  });

  it('a folder holding a model is refused without --force (quantize and fixture), replaced with it', async () => {
    const m = join(dir, 'm2');
    const out = join(dir, 'm2-out');
    await writeFixture(m, makeFixture(shape, 1));
    await writeFixture(out, makeFixture({ ...shape, hiddenSize: 16 }, 2));
    const before = await snapshot(out);
    const q = await run(['quantize', '--model', m, '--to', 'q8', '--out', out]);
    expect(q.stderr).toMatch(/^OptionsError: --out .* already holds a model \(.*config\.json.*\); pass --force/);
    const f = await run(['fixture', '--out', out, '--vocab', '300', '--hidden', '32', '--layers', '1']);
    expect(f.stderr).toMatch(/^OptionsError: --out .* already holds a model/);
    expect(await snapshot(out)).toEqual(before);
    expect((await run(['quantize', '--model', m, '--to', 'q8', '--out', out, '--force'])).code).toBe(0);
    expect((await loadModelFiles(new FolderSource(out))).quantized?.dtype).toBe('q8');
    // no temporary files are left behind
    expect((await readdir(out)).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('quantize --force over a sharded model removes the stale shard index and shards, so the result loads as written', async () => {
    const m = join(dir, 'm3');
    const out = join(dir, 'm3-out');
    await writeFixture(m, makeFixture(shape, 1));
    // an older, sharded model of another shape in the destination
    const old = makeFixture({ ...shape, hiddenSize: 16 }, 2);
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'config.json'), old.get('config.json')!);
    await writeFile(join(out, 'model-00001-of-00001.safetensors'), old.get('model.safetensors')!);
    const { parseSafetensors } = await import('../../src/model/safetensors');
    const names = [...parseSafetensors(old.get('model.safetensors')!, 'x').keys()];
    await writeFile(join(out, 'model.safetensors.index.json'), JSON.stringify({ weight_map: Object.fromEntries(names.map((n) => [n, 'model-00001-of-00001.safetensors'])) }));
    const r = await run(['quantize', '--model', m, '--to', 'q4', '--out', out, '--force']);
    expect(r.code, r.stderr).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    const files = await loadModelFiles(new FolderSource(out));
    expect(files.config.hiddenSize).toBe(32);
    expect(files.quantized?.dtype).toBe('q4');
  });

  it('vocab-counts refuses an --out that is one of its inputs', async () => {
    const m = join(dir, 'm4');
    await writeFixture(m, makeFixture(shape, 1));
    const text = join(dir, 'calib.txt');
    await writeFile(text, 'hello world');
    const before = await snapshot(m);
    for (const out of [text, join(m, 'config.json'), join(m, 'model.safetensors')]) {
      const r = await run(['vocab-counts', '--model', m, '--text', text, '--out', out]);
      expect(r.stderr).toMatch(/^OptionsError: --out .* would overwrite/);
    }
    expect(await snapshot(m)).toEqual(before);
    expect(await readFile(text, 'utf8')).toBe('hello world');
  });

  it('file-system failures are named: --out below a file', async () => {
    const file = join(dir, 'a-file');
    await writeFile(file, 'x');
    const r = await run(['fixture', '--out', join(file, 'model'), '--vocab', '300', '--hidden', '32', '--layers', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^OptionsError: --out .*a-file\/model: a part of the path is a file, not a folder \(ENOTDIR\)/);
  });
});
