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

/**
 * The cache a load gets when its options name none: the KV cache follows the weights. f32
 * weights keep an f32 cache (the exact path, compared with the f32 CPU reference); f16, q8 and
 * q4 weights (stored-quantized ones included) get an f16 cache, half the memory, since their
 * weights already carry more rounding than f16 K and V add.
 */
export function defaultKvDtype(weights: 'f32' | 'f16' | 'q8' | 'q4'): KvDtype {
  return weights === 'f32' ? 'f32' : 'f16';
}

/**
 * The override constants of a layer's cache storage: none for a full f32 cache, so its pipelines
 * are the same as before f16 and rings existed; KV_RING for a sliding-window layer's ring of
 * `ring` slots (logical slot s stored at s % ring, shaders/common/kv_load.wgsl).
 */
export function kvConstants(dtype: KvDtype = 'f32', ring = 0): Record<string, number> {
  return { ...(dtype === 'f16' ? { KV_F16: 1 } : {}), ...(ring > 0 ? { KV_RING: ring } : {}) };
}
