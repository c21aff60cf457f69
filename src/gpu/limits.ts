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
}

export type BufferLimits = Pick<GPUSupportedLimits, 'maxStorageBufferBindingSize' | 'maxBufferSize'>;

const MIB = 1024 * 1024;

function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}

/** Throws GpuLimitsError for the first buffer of `needs` that exceeds `limits`. */
export function checkBufferLimits(needs: BufferNeed[], limits: BufferLimits): void {
  const binding = limits.maxStorageBufferBindingSize;
  const buffer = limits.maxBufferSize;
  for (const n of needs) {
    const limit = n.binding ? Math.min(binding, buffer) : buffer;
    if (n.bytes > limit) {
      throw new GpuLimitsError(
        `buffer "${n.label}" needs ${n.bytes} bytes (${mib(n.bytes)}); this adapter allows maxStorageBufferBindingSize = ${binding} ` +
          `(${mib(binding)}) and maxBufferSize = ${buffer} (${mib(buffer)}). Nothing was allocated; use f16 weights, a shorter maxContext or a smaller model.`,
      );
    }
  }
}
