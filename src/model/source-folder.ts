/**
 * A model folder on disk (Node). `node:fs` is imported dynamically, marked for Vite and webpack
 * to leave alone, so browser bundles that include this module never resolve it; outside Node
 * every read fails with one clear error. A write interrupted between its renames leaves a commit
 * journal (folder-journal.ts); reads go through it, so they see the new model complete.
 */
import { ModelSourceError } from '../errors.ts';
import { isNode } from '../env.ts';
import { checkFileName, type LoadProgress, type ModelSource } from './source-base.ts';
import { committedName, JOURNAL, parseJournal } from './folder-journal.ts';

type Fs = typeof import('node:fs/promises');

let fsPromise: Promise<Fs> | null = null;
function nodeFs(dir: string): Promise<Fs> {
  if (!isNode()) {
    const hint = 'in a browser, name the model by its URL (Engine.load("/models/name/")) or pass the user\'s files (FileListSource)';
    throw new ModelSourceError(`${dir}: a folder on disk is a model source only in Node; ${hint}`, dir);
  }
  const name = 'node:fs/promises';
  fsPromise ??= import(/* @vite-ignore */ /* webpackIgnore: true */ name) as Promise<Fs>;
  return fsPromise;
}

export class FolderSource implements ModelSource {
  readonly id: string;

  constructor(readonly dir: string) {
    this.id = dir;
  }

  private path(file: string): string {
    checkFileName(file, this.id);
    return `${this.dir.replace(/\/+$/, '')}/${file}`;
  }

  /**
   * Reads `file` as committed: through a pending commit journal when there is one. A writer
   * still renaming may move a temporary file away between the check and the read; then the
   * final name holds it, and the read is tried there once.
   */
  private async committed<T>(file: string, readAt: (path: string) => Promise<T>): Promise<T> {
    const fs = await nodeFs(this.dir);
    const text = await fs.readFile(this.path(JOURNAL), 'utf8').catch(() => null);
    if (text === null) return readAt(this.path(file));
    let journal;
    try {
      journal = parseJournal(text);
    } catch (e) {
      throw new ModelSourceError(`${this.id}: ${(e as Error).message}; the folder's last write was interrupted and its journal cannot be read`, JOURNAL, null, { cause: e });
    }
    const exists = (name: string) => fs.stat(this.path(name)).then((s) => s.isFile(), () => false);
    const name = await committedName(journal, file, exists);
    if (name === null) throw Object.assign(new Error(`${file} is removed by the pending commit`), { code: 'ENOENT' });
    try {
      return await readAt(this.path(name));
    } catch (e) {
      if (name === file || (e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      return readAt(this.path(file));
    }
  }

  async read(file: string, onProgress?: (p: LoadProgress) => void): Promise<Uint8Array> {
    this.path(file);
    const fs = await nodeFs(this.dir);
    try {
      const buf = await this.committed(file, (path) => fs.readFile(path));
      // A Node Buffer may be a view into a shared pool; copy into an exact-size Uint8Array only if so.
      const data = buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength ? new Uint8Array(buf.buffer) : new Uint8Array(buf);
      onProgress?.({ file, loaded: data.length, total: data.length });
      return data;
    } catch (e) {
      if (e instanceof ModelSourceError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'not found' : `could not be read (${(e as Error).message})`;
      throw new ModelSourceError(`${this.id}: file "${file}" ${why}`, file, null, { cause: e });
    }
  }

  async readHead(file: string, bytes: number): Promise<Uint8Array> {
    this.path(file);
    const fs = await nodeFs(this.dir);
    try {
      const handle = await this.committed(file, (path) => fs.open(path, 'r'));
      try {
        const out = new Uint8Array(bytes); // (bytes)
        const { bytesRead } = await handle.read(out, 0, bytes, 0);
        return out.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
    } catch (e) {
      if (e instanceof ModelSourceError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'not found' : `could not be read (${(e as Error).message})`;
      throw new ModelSourceError(`${this.id}: file "${file}" ${why}`, file, null, { cause: e });
    }
  }

  async exists(file: string): Promise<boolean> {
    this.path(file);
    const fs = await nodeFs(this.dir);
    try {
      return await this.committed(file, async (path) => (await fs.stat(path)).isFile());
    } catch {
      return false;
    }
  }
}
