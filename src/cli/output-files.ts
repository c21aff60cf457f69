/**
 * How the command line writes what the user keeps (model folders, counts files): never in
 * place. Each file is written under a temporary name in its destination folder, flushed to disk,
 * then renamed over its final name, so a killed command leaves either the old file or the new
 * one, never a truncated one. A folder that already holds a model is replaced only with
 * --force, and never by the same command's input.
 */
import { open, mkdir, readdir, realpath, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { OptionsError } from '../errors';

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

/** Removes temporary files that killed runs left in `dir` (a live writer's files are kept). */
async function removeDeadPartials(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const m = PARTIAL.exec(name);
    if (!m) continue;
    const pid = Number(m[2]);
    let alive = pid === process.pid;
    try {
      if (!alive) alive = process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive) await rm(join(dir, name), { force: true });
  }
}

/**
 * Writes a model folder: every file goes to a temporary name and is flushed first; then model
 * files of an older model that the new one lacks (a shard index above all, which would make the
 * folder load the old shards) are removed, and the new files are renamed into place, config.json
 * last. A kill before the renames leaves the old folder as it was (plus hidden temporary files,
 * removed by the next write); the renames themselves take microseconds.
 */
export async function writeModelFolder(out: string, files: Map<string, Uint8Array>): Promise<void> {
  const written: [string, string][] = [];
  try {
    await mkdir(out, { recursive: true });
    await removeDeadPartials(out);
    const order = [...files.keys()].sort((a, b) => Number(a === 'config.json') - Number(b === 'config.json'));
    for (const name of order) written.push([await writePartial(join(out, name), files.get(name)!), join(out, name)]);
    const stale = (await readdir(out)).filter((n) => MODEL_FILE.test(n) && !files.has(n));
    // The index first: while it exists it decides which weights load.
    stale.sort((a, b) => Number(b.endsWith('.index.json')) - Number(a.endsWith('.index.json')));
    for (const name of stale) await rm(join(out, name), { force: true });
    for (const [tmp, path] of written) await rename(tmp, path);
  } catch (e) {
    for (const [tmp] of written) await rm(tmp, { force: true });
    throw fsError('--out', out, e);
  }
}
