/**
 * Where model files come from (DESIGN section 2): memory (fixtures), a folder on disk (Node),
 * a URL base in the Hugging Face `resolve/main/` layout, or files picked by the user. All
 * expose the same two calls, so loading code never knows which it has.
 */
import { ModelSourceError } from '../errors.ts';
import { absoluteUrl, isNode } from '../env.ts';
import { checkFileName, type LoadProgress, type ModelSource } from './source-base.ts';
import { FolderSource } from './source-folder.ts';
import { UrlSource } from './source-url.ts';

export { checkFileName, type LoadProgress, type ModelSource } from './source-base.ts';
export { FolderSource } from './source-folder.ts';
export { UrlSource, type UrlSourceOptions } from './source-url.ts';
export { FileListSource } from './source-files.ts';

/** Files held in memory (fixtures, tests, already-downloaded bundles). */
export class MemorySource implements ModelSource {
  constructor(readonly files: Map<string, Uint8Array>, readonly id = 'memory') {}

  async read(file: string, onProgress?: (p: LoadProgress) => void): Promise<Uint8Array> {
    checkFileName(file, this.id);
    const data = this.files.get(file);
    if (!data) throw new ModelSourceError(`${this.id}: file "${file}" not found`, file, 404);
    onProgress?.({ file, loaded: data.length, total: data.length });
    return data;
  }

  async exists(file: string): Promise<boolean> {
    checkFileName(file, this.id);
    return this.files.has(file);
  }

  async readHead(file: string, bytes: number): Promise<Uint8Array> {
    checkFileName(file, this.id);
    const data = this.files.get(file);
    if (!data) throw new ModelSourceError(`${this.id}: file "${file}" not found`, file, 404);
    return data.subarray(0, bytes);
  }
}

/**
 * A model named by a string. In Node, "http(s)://..." is a URL base and anything else a folder
 * on disk; in a browser (page or worker) every string is a URL base, a relative one resolved
 * against the page ('/models/name/').
 */
export function sourceFromString(s: string): ModelSource {
  if (/^https?:\/\//i.test(s)) return new UrlSource(s);
  return isNode() ? new FolderSource(s) : new UrlSource(absoluteUrl(s));
}
