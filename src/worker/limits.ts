/**
 * Pre-flight check before weights reach the GPU: every weight is uploaded as one buffer bound
 * as storage, so the largest tensor must fit the adapter's maxStorageBufferBindingSize and
 * maxBufferSize. Failing here gives the user a GpuLimitsError that names the tensor and the
 * limit, instead of a validation error from deep inside the upload.
 */
import { GpuLimitsError } from '../errors';
import type { WeightDtype } from '../engine/options';
import type { ModelFiles } from '../model/weights';

export interface BufferLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

const MB = 1024 * 1024;

/** Bytes a weight takes on the GPU: f32, or f16 packed two per u32 (an odd count pads one half). */
export function gpuWeightBytes(elements: number, dtype: WeightDtype): number {
  return dtype === 'f32' ? elements * 4 : Math.ceil(elements / 2) * 4;
}

/** Throws GpuLimitsError when the model's largest weight does not fit one buffer binding of this adapter. */
export function checkWeightsFit(tensors: ModelFiles['tensors'] | Map<string, { shape: number[] }>, dtype: WeightDtype, limits: BufferLimits): void {
  let largest = { name: '', shape: [] as number[], bytes: 0 };
  for (const [name, t] of tensors) {
    const bytes = gpuWeightBytes(t.shape.reduce((a, b) => a * b, 1), dtype);
    if (bytes > largest.bytes) largest = { name, shape: t.shape, bytes };
  }
  const limit = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  if (largest.bytes > limit) {
    const hint = dtype === 'f32' ? ' Loading with f16 weights halves it.' : ' A smaller model is needed on this GPU.';
    throw new GpuLimitsError(
      `the weight ${largest.name} (${largest.shape.join(' x ')}, ${dtype}) takes ${(largest.bytes / MB).toFixed(1)} MB, ` +
        `more than this adapter's largest buffer binding of ${(limit / MB).toFixed(1)} MB.${hint}`,
    );
  }
}
