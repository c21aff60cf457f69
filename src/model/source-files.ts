/**
 * Files picked or dropped by the user in a browser (File objects). A picked folder gives
 * `webkitRelativePath` = "folder/config.json"; files are keyed by their path below that folder,
 * and also by bare name, so both a folder pick and a multi-file pick work.
 */
import { ModelSourceError } from '../errors.ts';
import { checkFileName, type LoadProgress, type ModelSource } from './source-base.ts';

export class FileListSource implements ModelSource {
  readonly id: string;
  private readonly byName = new Map<string, File>();

  constructor(files: Iterable<File>, id = 'selected files') {
    this.id = id;
    for (const f of files) {
      const rel = (f as File & { webkitRelativePath?: string }).webkitRelativePath;
      if (rel && rel.includes('/')) this.byName.set(rel.slice(rel.indexOf('/') + 1), f);
      if (!this.byName.has(f.name)) this.byName.set(f.name, f);
    }
  }

  async read(file: string, onProgress?: (p: LoadProgress) => void): Promise<Uint8Array> {
    checkFileName(file, this.id);
    const f = this.byName.get(file);
    if (!f) throw new ModelSourceError(`${this.id}: file "${file}" was not among the selected files`, file);
    const out = new Uint8Array(f.size); // (size) bytes
    const reader = f.stream().getReader();
    let loaded = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (loaded + value.length > out.length) throw new Error(`file grew beyond its size ${f.size} while reading`);
        out.set(value, loaded);
        loaded += value.length;
        onProgress?.({ file, loaded, total: f.size });
      }
    } catch (e) {
      throw new ModelSourceError(`${this.id}: file "${file}" could not be read (${(e as Error).message})`, file, null, { cause: e });
    }
    if (loaded !== f.size) throw new ModelSourceError(`${this.id}: file "${file}" gave ${loaded} of ${f.size} bytes`, file);
    return out;
  }

  async exists(file: string): Promise<boolean> {
    checkFileName(file, this.id);
    return this.byName.has(file);
  }
}
