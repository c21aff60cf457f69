/**
 * How the command line writes what the user keeps (model folders, counts files): never in
 * place. Each file is written under a temporary name in its destination folder, flushed to disk,
 * then renamed over its final name, so a killed command leaves either the old file or the new
 * one, never a truncated one. A folder that already holds a model is replaced only with
 * --force, and never by the same command's input.
 */
import { open, mkdir, readdir, readFile, realpath, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { OptionsError } from '../errors';
import { JOURNAL, parseJournal, type Journal } from '../model/folder-journal';

/** Files that decide how a folder loads as a model (src/model/weights.ts reads them). */
const MODEL_FILE = /^(config\.json|generation_config\.json|tokenizer\.json|tokenizer_config\.json|.*\.safetensors|model\.safetensors\.index\.json)$/;

/** Temporary names: `.NAME.partial-PID`, hidden, in the destination folder (same file system, so rename is atomic). */
const PARTIAL = /^\.(.+)\.partial-(\d+)$/;

function partialName(path: string): string {
  return join(dirname(path), `.${basename(path)}.partial-${process.pid}`);
}

/** A file-system failure as an OptionsError naming the flag, the path and what went wrong. */
export function fsError(flag: string, path: string, e: unknown): OptionsError {
  const code = (e as NodeJS.ErrnoException).code;
  const why: Record<string, string> = {
    ENOTDIR: 'a part of the path is a file, not a folder',
    EISDIR: 'it is a folder, expected a file',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    ENOSPC: 'the disk is full',
    EROFS: 'the file system is read-only',
    ENOENT: 'not found',
  };
  return new OptionsError(`${flag} ${path}: ${why[code ?? ''] ?? (e as Error).message}${code ? ` (${code})` : ''}`, { cause: e });
}

/** Writes `data` under a temporary name beside `path`, flushes it, then renames it over `path`. */
async function writePartial(path: string, data: Uint8Array): Promise<string> {
  const tmp = partialName(path);
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return tmp;
}

/** One file, atomically (temporary name, flush, rename). File-system errors name `flag`. */
export async function writeFileAtomic(flag: string, path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  try {
    await mkdir(dirname(path), { recursive: true });
    if ((await stat(path).catch(() => null))?.isDirectory()) throw Object.assign(new Error('is a folder'), { code: 'EISDIR' });
    await rename(await writePartial(path, bytes), path);
  } catch (e) {
    await rm(partialName(path), { force: true });
    throw e instanceof OptionsError ? e : fsError(flag, path, e);
  }
}

/** The real path of `p`, or of its deepest existing ancestor joined with the rest. */
async function realish(p: string): Promise<string> {
  const abs = resolve(p);
  try {
    return await realpath(abs);
  } catch {
    const parent = dirname(abs);
    return parent === abs ? abs : join(await realish(parent), basename(abs));
  }
}

function isWithin(path: string, folder: string): boolean {
  return path === folder || path.startsWith(folder.endsWith(sep) ? folder : folder + sep);
}

/** Whether `out` may receive a model; throws OptionsError when it may not. */
export async function checkOutputFolder(out: string, opts: { force: boolean; input?: string; inputFlag?: string }): Promise<void> {
  const outReal = await realish(out);
  if (opts.input !== undefined && !/^https?:\/\//.test(opts.input)) {
    const inReal = await realish(opts.input);
    // Even --force never lets a command overwrite the files it is reading.
    if (isWithin(outReal, inReal)) throw new OptionsError(`--out ${out} is ${outReal === inReal ? 'the same folder as' : 'inside'} ${opts.inputFlag ?? '--model'} ${opts.input}; write the result to another folder`);
  }
  const st = await stat(out).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? null : Promise.reject(fsError('--out', out, e))));
  if (st === null) return;
  if (!st.isDirectory()) throw new OptionsError(`--out ${out} is a file; expected a folder (new or empty)`);
  const held = (await readdir(out)).filter((n) => MODEL_FILE.test(n));
  if (held.length && !opts.force) throw new OptionsError(`--out ${out} already holds a model (${held.slice(0, 4).join(', ')}); pass --force to replace it, or pick another folder`);
}

/**
 * Whether `out` may receive a file: never one of the command's inputs (`inputs`: flag -> path;
 * a folder input protects its model files), an existing file only with --force. Checked before
 * any work, so a bad --out fails at once.
 */
export async function checkOutputFile(out: string, force: boolean, inputs: [flag: string, path: string][]): Promise<void> {
  const outReal = await realish(out);
  const st = await stat(out).catch(() => null);
  if (st?.isDirectory()) throw new OptionsError(`--out ${out} is a folder; expected a file name`);
  for (const [flag, path] of inputs) {
    if (/^https?:\/\//.test(path)) continue;
    const inReal = await realish(path);
    const isDir = (await stat(path).catch(() => null))?.isDirectory();
    const hit = isDir ? dirname(outReal) === inReal && MODEL_FILE.test(basename(outReal)) : outReal === inReal;
    if (hit) throw new OptionsError(`--out ${out} would overwrite ${isDir ? 'a model file of ' : ''}${flag} ${path}; write the result elsewhere`);
  }
  if (st && !force) throw new OptionsError(`--out ${out} already exists; pass --force to replace it, or pick another name`);
}

/** Whether process `pid` is alive (this process counts as alive). */
function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    return process.kill(pid, 0);
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes temporary files that killed runs left in `dir` (a live writer's files are kept). */
async function removeDeadPartials(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const m = PARTIAL.exec(name);
    if (m && !alive(Number(m[2]))) await rm(join(dir, name), { force: true });
  }
}

/** Flushes a folder's entries (the renames in it) to disk. */
async function syncFolder(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Carries out a commit journal (src/model/folder-journal.ts): the old config.json goes first, so
 * that until the last rename a reader that ignores the journal finds no model rather than a mix;
 * then the stale files (index first), then the renames, config.json last. Each step may already be
 * done (a rolled-forward journal of a killed writer), so missing files are skipped.
 */
export async function applyJournal(dir: string, journal: Journal, steps = Infinity): Promise<void> {
  const gone = (e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e));
  const configTmp = journal.rename.find(([, final]) => final === 'config.json')?.[0];
  // Only while the new config.json is still under its temporary name: once renamed, it is the new one.
  const uncommitOld = async () => {
    if (configTmp && (await stat(join(dir, configTmp)).catch(() => null))) await rm(join(dir, 'config.json'), { force: true });
  };
  const ops: (() => Promise<unknown>)[] = [
    uncommitOld,
    ...journal.remove.map((name) => () => rm(join(dir, name), { force: true })),
    ...journal.rename.map(([tmp, final]) => () => rename(join(dir, tmp), join(dir, final)).catch(gone)),
    () => syncFolder(dir),
    () => rm(join(dir, JOURNAL), { force: true }),
  ];
  for (const op of ops.slice(0, steps)) await op();
}

/**
 * Finishes what a killed writer left in `dir`: rolls its committed journal forward and removes
 * its temporary files. A journal of a live writer is refused, naming the writer.
 */
export async function recoverModelFolder(dir: string): Promise<void> {
  const text = await readFile(join(dir, JOURNAL), 'utf8').catch(() => null);
  if (text !== null) {
    let journal: Journal;
    try {
      journal = parseJournal(text);
    } catch (e) {
      throw new OptionsError(`--out ${dir}: ${(e as Error).message}; remove it by hand if no treespec command is writing this folder`, { cause: e });
    }
    if (journal.pid !== process.pid && alive(journal.pid)) throw new OptionsError(`--out ${dir}: another treespec command (process ${journal.pid}) is writing this folder; wait for it`);
    await applyJournal(dir, journal);
  }
  await removeDeadPartials(dir);
}

/**
 * Writes a model folder: every file goes to a temporary name and is flushed first. Then a journal
 * naming the stale model files of an older model that the new one lacks (a shard index above all,
 * which would make the folder load the old shards) and the renames is committed with one atomic
 * rename, and carried out (applyJournal). A kill before the journal leaves the old folder as it
 * was (plus hidden temporary files); a kill after it leaves the new model, read through the
 * journal by FolderSource and completed by the next write.
 */
export async function writeModelFolder(out: string, files: Map<string, Uint8Array>): Promise<void> {
  const written: [string, string][] = [];
  try {
    await mkdir(out, { recursive: true });
    await recoverModelFolder(out);
    const order = [...files.keys()].sort((a, b) => Number(a === 'config.json') - Number(b === 'config.json'));
    for (const name of order) written.push([await writePartial(join(out, name), files.get(name)!), name]);
    const stale = (await readdir(out)).filter((n) => MODEL_FILE.test(n) && !files.has(n));
    // The index first: while it exists it decides which weights load.
    stale.sort((a, b) => Number(b.endsWith('.index.json')) - Number(a.endsWith('.index.json')));
    const journal: Journal = { pid: process.pid, remove: stale, rename: written.map(([tmp, name]) => [basename(tmp), name]) };
    await syncFolder(out);
    await rename(await writePartial(join(out, JOURNAL), new TextEncoder().encode(JSON.stringify(journal))), join(out, JOURNAL));
    written.length = 0;
    await applyJournal(out, journal);
  } catch (e) {
    for (const [tmp] of written) await rm(tmp, { force: true });
    throw e instanceof OptionsError ? e : fsError('--out', out, e);
  }
}
