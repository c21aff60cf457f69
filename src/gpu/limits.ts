/**
 * Buffer sizes checked against the device's limits before anything is allocated (issue 9): a
 * model too large for the adapter fails with a GpuLimitsError that names the buffer, its size
 * and the adapter's limits, instead of a validation error from inside the upload (or a
 * half-allocated model).
 */
import { GpuLimitsError } from '../errors.ts';

/** One buffer a component will allocate. */
export interface BufferNeed {
  /** The buffer's label, e.g. "weights.model.embed_tokens.weight". */
  label: string;
  bytes: number;
  /** Bound as a storage buffer (also limited by maxStorageBufferBindingSize), else only created (maxBufferSize). */
  binding: boolean;
  /**
   * Bytes of one row when the buffer is a matrix that is split by rows into several buffers
   * whenever it exceeds one binding (splitRows: the embedding and LM head), so that only one
   * row has to fit; absent for buffers that are never split.
   */
  rowBytes?: number;
}

export type BufferLimits = Pick<GPUSupportedLimits, 'maxStorageBufferBindingSize' | 'maxBufferSize'>;

const MIB = 1024 * 1024;

function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}

/** The most bytes one storage binding can hold: its buffer is limited by both limits. */
export function bindingBytes(limits: BufferLimits): number {
  return Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
}

/**
 * Rows per part of a (rows, rowBytes) matrix split so that every part fits `limit` bytes: all
 * rows when the whole fits, else as many as fit (at least one: a row larger than the limit
 * is refused by the limit checks, partBytes).
 */
export function rowsPerPart(rows: number, rowBytes: number, limit: number): number {
  if (rows * rowBytes <= limit) return rows;
  return Math.max(1, Math.floor(limit / rowBytes));
}

/** Bytes of the largest buffer `n` becomes under `limits`: itself, or its largest row part when it is split (rowBytes). */
export function partBytes(n: BufferNeed, limits: BufferLimits): number {
  if (n.rowBytes === undefined) return n.bytes;
  return rowsPerPart(n.bytes / n.rowBytes, n.rowBytes, bindingBytes(limits)) * n.rowBytes;
}

/** Throws GpuLimitsError for the first buffer of `needs` that exceeds `limits` (a split matrix: its largest part). */
export function checkBufferLimits(needs: BufferNeed[], limits: BufferLimits): void {
  const binding = limits.maxStorageBufferBindingSize;
  const buffer = limits.maxBufferSize;
  for (const need of needs) {
    const n = { ...need, bytes: partBytes(need, limits) };
    const limit = n.binding ? Math.min(binding, buffer) : buffer;
    if (n.bytes > limit) {
      throw new GpuLimitsError(
        `buffer "${n.label}" needs ${n.bytes} bytes (${mib(n.bytes)}); this adapter allows maxStorageBufferBindingSize = ${binding} ` +
          `(${mib(binding)}) and maxBufferSize = ${buffer} (${mib(buffer)}). Nothing was allocated; use f16 weights, a shorter maxContext or a smaller model.`,
      );
    }
  }
}
