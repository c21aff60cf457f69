/** The ModelSource contract and the file-name check every source applies. */
import { ModelSourceError } from '../errors.ts';

export interface LoadProgress {
  /** File name relative to the source. */
  file: string;
  /** Bytes obtained so far. */
  loaded: number;
  /** Expected bytes, or null when the size is not known in advance. */
  total: number | null;
}

export interface ModelSource {
  /** Human-readable identity (folder path, URL base, "memory"). */
  readonly id: string;
  /** The whole file. Throws ModelSourceError when missing or unreadable. */
  read(file: string, onProgress?: (p: LoadProgress) => void): Promise<Uint8Array>;
  /** Whether the file exists (no download of its body). */
  exists(file: string): Promise<boolean>;
  /**
   * The file's first `bytes` bytes (all of it when shorter), without reading the rest: a
   * safetensors header before its weights (`treespec inspect`). Optional: a source without it
   * is read whole by the callers that need a head.
   */
  readHead?(file: string, bytes: number): Promise<Uint8Array>;
}

/**
 * Refuses file names that could escape the source (a hostile shard index naming
 * "../../secret"): relative, '/'-separated, no empty, "." or ".." segments, no backslashes.
 */
export function checkFileName(file: string, sourceId: string): void {
  const segments = file.split('/');
  const bad = file.length === 0 || file.includes('\\') || file.includes('\0') || segments.some((s) => s === '' || s === '.' || s === '..');
  if (bad) throw new ModelSourceError(`${sourceId}: file name ${JSON.stringify(file)} is not a plain relative path`, file);
}
