/**
 * How the KV cache stores its elements (shaders/common/kv_load.wgsl), for the kernels that write,
 * read and move them (rope.ts, attention.ts, compact.ts) and the cache that owns them
 * (src/kv/cache.ts).
 */

/**
 * 'f32', or 'f16': two per u32 word like f16 weights, half the memory, K and V rounded to
 * nearest even when written (the CPU reference's f16 cache rounds the same way,
 * src/model/reference.ts).
 */
export type KvDtype = 'f32' | 'f16';

export function isKvDtype(v: unknown): v is KvDtype {
  return v === 'f32' || v === 'f16';
}

/** The override constants of a cache's storage: none for f32, so its pipelines are the same as before f16 existed. */
export function kvConstants(dtype: KvDtype = 'f32'): Record<string, number> {
  return dtype === 'f16' ? { KV_F16: 1 } : {};
}
