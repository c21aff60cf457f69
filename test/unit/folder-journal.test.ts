/**
 * A model folder write killed between its renames (issue 20): the commit journal makes the folder
 * read as the new model, complete, through FolderSource; a reader that ignores the journal finds
 * the old model or no config.json, never a mix; the next write rolls the journal forward. Each
 * crash point of the commit is reproduced by carrying out only its first k steps.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeFixture, writeFixture, type FixtureShape } from '../../src/model/fixture';
import { FolderSource } from '../../src/model/source';
import { loadModelFiles } from '../../src/model/weights';
import { parseSafetensors } from '../../src/model/safetensors';
import { JOURNAL, type Journal } from '../../src/model/folder-journal';
import { applyJournal, recoverModelFolder, writeModelFolder } from '../../src/cli/output-files';
import { ModelSourceError, OptionsError } from '../../src/errors';

const shape: FixtureShape = { modelType: 'llama', vocabSize: 300, hiddenSize: 32, intermediateSize: 48, numLayers: 1, numHeads: 2, numKvHeads: 1, dtype: 'f16' };
const oldModel = makeFixture({ ...shape, hiddenSize: 16 }, 2);
const newModel = makeFixture(shape, 3);
const SHARD = 'model-00001-of-00001.safetensors';
const INDEX = 'model.safetensors.index.json';

/** A process id that no process holds: a child that has exited. */
const deadPid = spawnSync(process.execPath, ['-e', '0']).pid!;

async function visible(dir: string): Promise<Map<string, Buffer>> {
  const m = new Map<string, Buffer>();
  for (const name of (await readdir(dir)).sort()) if (!name.startsWith('.')) m.set(name, await readFile(join(dir, name)));
  return m;
}

function equal(a: Map<string, Uint8Array>, b: Map<string, Uint8Array>): boolean {
  return a.size === b.size && [...a].every(([n, v]) => b.has(n) && Buffer.from(v).equals(Buffer.from(b.get(n)!)));
}

/** An older sharded model (index, shard, config) in `dir`, as another tool would have written it. */
async function writeOldSharded(dir: string): Promise<Map<string, Buffer>> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), oldModel.get('config.json')!);
  await writeFile(join(dir, SHARD), oldModel.get('model.safetensors')!);
  const names = [...parseSafetensors(oldModel.get('model.safetensors')!, 'x').keys()];
  await writeFile(join(dir, INDEX), JSON.stringify({ weight_map: Object.fromEntries(names.map((n) => [n, SHARD])) }));
  await writeFile(join(dir, 'notes.txt'), 'the user’s own file');
  return visible(dir);
}

/** What a writer killed right after committing leaves: complete temporary files and the journal. */
async function commitKilled(dir: string, pid: number): Promise<Journal> {
  const order = [...newModel.keys()].sort((a, b) => Number(a === 'config.json') - Number(b === 'config.json'));
  const journal: Journal = { pid, remove: [INDEX, SHARD], rename: order.map((n) => [`.${n}.partial-${pid}`, n]) };
  for (const [tmp, name] of journal.rename) await writeFile(join(dir, tmp), newModel.get(name)!);
  await writeFile(join(dir, JOURNAL), JSON.stringify(journal));
  return journal;
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'treespec-journal-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('model folder commit journal', () => {
  it('killed after any step of the commit: FolderSource reads the new model; other readers never a mix; the next write completes it', async () => {
    const steps = 1 + 2 + newModel.size + 2; // config out, 2 stale, renames, sync, journal out
    for (let k = 0; k <= steps; k++) {
      const dir = join(root, `k${k}`);
      const old = await writeOldSharded(dir);
      const journal = await commitKilled(dir, deadPid);
      await applyJournal(dir, journal, k);
      const want = new Map([...newModel, ['notes.txt', old.get('notes.txt')!]]);

      const src = new FolderSource(dir);
      for (const [name, bytes] of newModel) expect(Buffer.from(await src.read(name)).equals(Buffer.from(bytes)), `step ${k}: ${name}`).toBe(true);
      expect(await src.exists(INDEX), `step ${k}: stale index`).toBe(false);
      expect(await src.exists(SHARD)).toBe(false);
      const files = await loadModelFiles(src);
      expect(files.config.hiddenSize).toBe(32);

      const raw = await visible(dir);
      const rawState = equal(raw, old) ? 'old' : equal(raw, want) ? 'new' : raw.has('config.json') ? 'mixed' : 'no config';
      expect(rawState, `step ${k}: ${[...raw.keys()]}`).not.toBe('mixed');

      await recoverModelFolder(dir);
      expect(equal(await visible(dir), want), `step ${k} rolled forward`).toBe(true);
      expect((await readdir(dir)).filter((n) => n.startsWith('.'))).toEqual([]);
    }
  });

  it('a write over a killed one finishes the killed commit first, then writes its own', async () => {
    const dir = join(root, 'again');
    await writeOldSharded(dir);
    await applyJournal(dir, await commitKilled(dir, deadPid), 3);
    const third = makeFixture({ ...shape, hiddenSize: 24 }, 4);
    await writeModelFolder(dir, third);
    expect(equal(await visible(dir), new Map([...third, ['notes.txt', Buffer.from('the user’s own file')]]))).toBe(true);
    expect((await readdir(dir)).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('a live writer\'s journal is not rolled forward by another process; a malformed one is named', async () => {
    const dir = join(root, 'live');
    const old = await writeOldSharded(dir);
    await commitKilled(dir, process.ppid);
    await expect(recoverModelFolder(dir)).rejects.toThrow(new RegExp(`another treespec command \\(process ${process.ppid}\\) is writing`));
    await expect(writeModelFolder(dir, newModel)).rejects.toBeInstanceOf(OptionsError);
    const raw = await visible(dir);
    expect(equal(raw, old)).toBe(true);

    const bad = join(root, 'bad');
    await writeFixture(bad, newModel);
    await writeFile(join(bad, JOURNAL), '{"pid": 1, "remove": ["../x"], "rename": []}');
    const err = await new FolderSource(bad).read('config.json').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelSourceError);
    expect((err as Error).message).toMatch(/\.treespec-commit does not hold .* plain file names/);
    await expect(recoverModelFolder(bad)).rejects.toThrow(/--out .*\.treespec-commit does not hold/);
  });
});
