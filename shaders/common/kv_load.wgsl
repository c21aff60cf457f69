// The KV cache's element storage (src/kv/cache.ts), shared by the kernels that read it and,
// through common/kv_store.wgsl, the one that writes it. A layer's cache is (slots, N_KV_HEADS *
// HEAD_DIM) values bound as u32 words `k_cache` and `v_cache` (declared by the including kernel
// with its access mode):
//   KV_F16 false: one f32 per word (its bits), KV_WORDS = N_KV_HEADS * HEAD_DIM words per slot;
//   KV_F16 true:  two f16 per word, element j of a slot in half j % 2 of word j / 2 (the low half
//                 first, as pack2x16float), KV_WORDS = ceil(N_KV_HEADS * HEAD_DIM / 2) words
//                 per slot, so an odd row width leaves the last word's high half unused.
// Reads unpack with unpack2x16float (exact: every f16 is an f32). Writes round to nearest even
// by integer arithmetic (f16_bits) rather than pack2x16float, whose rounding WGSL leaves to the
// implementation: the CPU reference (src/model/f16.ts f32ToF16Bits) rounds identically on every
// adapter.
//
// A sliding-window layer's cache may be a ring (KV_RING > 0, src/kv/cache.ts): it holds
// KV_RING slots, and the K/V of logical slot s (the position-ordered slot the kernels compute)
// lives at slot s % KV_RING. The kernels address logical slots only; the mapping is here, in
// the one place every read and write goes through.

override KV_F16: bool = false;
override KV_RING: u32 = 0u; // slots of a ring layer's cache; 0: the full cache, logical slot = slot
override KV_WORDS: u32 = select(N_KV_HEADS * HEAD_DIM, (N_KV_HEADS * HEAD_DIM + 1u) / 2u, KV_F16);

// The stored slot of logical slot `slot`.
fn kv_slot(slot: u32) -> u32 {
  return select(slot, slot % max(KV_RING, 1u), KV_RING > 0u); // max: no constant division by 0 in the unused branch
}

// Element j (0..N_KV_HEADS * HEAD_DIM - 1) of logical slot `slot` of the key cache.
fn k_at(slot: u32, j: u32) -> f32 {
  let w = kv_slot(slot) * KV_WORDS;
  if (KV_F16) { return unpack2x16float(k_cache[w + j / 2u])[j % 2u]; }
  return bitcast<f32>(k_cache[w + j]);
}

// Element j of logical slot `slot` of the value cache.
fn v_at(slot: u32, j: u32) -> f32 {
  let w = kv_slot(slot) * KV_WORDS;
  if (KV_F16) { return unpack2x16float(v_cache[w + j / 2u])[j % 2u]; }
  return bitcast<f32>(v_cache[w + j]);
}
