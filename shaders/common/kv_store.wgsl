// Writing the KV cache's elements in the layout of common/kv_load.wgsl (the including kernel
// binds k_cache and v_cache read_write).

//#include common/kv_load.wgsl

// f32 -> IEEE half bits, round to nearest even (src/model/f16.ts f32ToF16Bits, line for line).
fn f16_bits(x: f32) -> u32 {
  let u = bitcast<u32>(x);
  let sign = (u >> 16u) & 0x8000u;
  let ex = i32((u >> 23u) & 0xffu);
  var mant = u & 0x7fffffu;
  if (ex == 255) { return sign | 0x7c00u | select(0u, 0x200u, mant != 0u); }
  let e = ex - 112; // f16 biased exponent
  if (e >= 31) { return sign | 0x7c00u; }
  if (e <= 0) { // f16 subnormal or zero
    if (e < -10) { return sign; }
    mant |= 0x800000u;
    let shift = u32(14 - e);
    var hs = mant >> shift;
    let rem = mant & ((1u << shift) - 1u);
    let halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (hs & 1u) != 0u)) { hs += 1u; }
    return sign | hs;
  }
  var h = (u32(e) << 10u) | (mant >> 13u);
  let rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) != 0u)) { h += 1u; } // a carry into the exponent is correct
  return sign | h;
}

// Writes elements j and j + 1 (j even) of logical slot `slot`: K (ka, kb) and V (va, vb).
fn kv_store_pair(slot: u32, j: u32, ka: f32, kb: f32, va: f32, vb: f32) {
  let base = kv_slot(slot) * KV_WORDS;
  if (KV_F16) {
    let w = base + j / 2u;
    k_cache[w] = f16_bits(ka) | (f16_bits(kb) << 16u);
    v_cache[w] = f16_bits(va) | (f16_bits(vb) << 16u);
    return;
  }
  let w = base + j;
  k_cache[w] = bitcast<u32>(ka);
  k_cache[w + 1u] = bitcast<u32>(kb);
  v_cache[w] = bitcast<u32>(va);
  v_cache[w + 1u] = bitcast<u32>(vb);
}
