// Tree attention over the KV cache with grouped-query heads (DESIGN section 3, step 2).
// Query row r of head h attends to every committed slot 0..prefix-1 and to the pass's own
// slots prefix + j for each bit j set in mask[r] (its ancestors and itself). Plain decoding is
// one row with mask bit 0; a causal prefill chunk is a chain (row r has bits 0..r).
//
// One workgroup per (head, row). Slots are visited in tiles of TILE with the online softmax
// of Milakov & Gimelshein, "Online normalizer calculation for softmax" (2018), as in
// FlashAttention (Dao et al. 2022): a running max m and sum l, and the accumulator rescaled by
// exp(m_old - m_new) per tile, so any cache length needs O(TILE + HEAD_DIM) workgroup memory.
// Masked slots use the finite sentinel NEG instead of -inf: WGSL lets implementations assume
// that no infinities occur.
//
// Dispatch: (N_HEADS, rows).

const TILE: u32 = 64u;
const NEG: f32 = -1.0e30;

//#include common/step.wgsl

override N_HEADS: u32;
override N_KV_HEADS: u32; // divides N_HEADS
override HEAD_DIM: u32;   // any width, odd included

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> mask: array<vec4<u32>>;  // (rows) bit j => sees slot prefix + j
@group(0) @binding(2) var<storage, read> q: array<f32>;           // (rows, N_HEADS, HEAD_DIM), rotated
@group(0) @binding(3) var<storage, read> k_cache: array<f32>;     // (slots, N_KV_HEADS, HEAD_DIM)
@group(0) @binding(4) var<storage, read> v_cache: array<f32>;     // (slots, N_KV_HEADS, HEAD_DIM)
@group(0) @binding(5) var<storage, read_write> out: array<f32>;   // (rows, N_HEADS, HEAD_DIM)

var<workgroup> q_scaled: array<f32, HEAD_DIM>; // this row's query head times 1/sqrt(HEAD_DIM)
var<workgroup> acc: array<f32, HEAD_DIM>;      // unnormalised output; element d owned by thread d % TILE
var<workgroup> tile_p: array<f32, TILE>;       // scores of the current tile, then their exp weights
var<workgroup> row_end: u32;                   // 1 + the last slot this row sees
var<workgroup> tile_max: f32;                  // running max after the current tile (thread 0 writes)
var<workgroup> l_total: f32;                   // final softmax denominator (thread 0 writes)

// prefix + 1 + the highest pass row in the row's mask: slots after it are invisible, so a
// causal chunk's row r scans prefix + r + 1 slots instead of prefix + rows.
fn last_visible_end(row: u32) -> u32 {
  var n = 0u;
  for (var w = 0u; w < 4u; w++) {
    let word = mask[row][w];
    if (word != 0u) { n = w * 32u + 32u - countLeadingZeros(word); }
  }
  return step.prefix + min(n, step.rows);
}

fn visible(row: u32, slot: u32) -> bool {
  if (slot < step.prefix) { return true; }
  let j = slot - step.prefix;
  if (j >= step.rows) { return false; }
  return ((mask[row][j >> 5u] >> (j & 31u)) & 1u) == 1u;
}

fn score(row: u32, slot: u32, kv_head: u32) -> f32 {
  if (!visible(row, slot)) { return NEG; }
  let base = (slot * N_KV_HEADS + kv_head) * HEAD_DIM;
  var dot = 0.0;
  for (var d = 0u; d < HEAD_DIM; d++) { dot += q_scaled[d] * k_cache[base + d]; }
  return dot;
}

// Adds the tile's weighted values to acc[d] after rescaling it by alpha.
fn accumulate(t: u32, start: u32, count: u32, kv_head: u32, alpha: f32) {
  for (var d = t; d < HEAD_DIM; d += TILE) {
    var a = acc[d] * alpha;
    for (var s = 0u; s < count; s++) {
      let p = tile_p[s];
      if (p != 0.0) { a += p * v_cache[((start + s) * N_KV_HEADS + kv_head) * HEAD_DIM + d]; }
    }
    acc[d] = a;
  }
}

@compute @workgroup_size(TILE)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let head = wg.x;
  let row = wg.y;
  if (row >= step.rows) { return; } // uniform over the workgroup
  let kv_head = head / (N_HEADS / N_KV_HEADS);
  let q_base = (row * N_HEADS + head) * HEAD_DIM;
  let scale = 1.0 / sqrt(f32(HEAD_DIM));
  for (var d = t; d < HEAD_DIM; d += TILE) {
    q_scaled[d] = q[q_base + d] * scale;
    acc[d] = 0.0;
  }
  if (t == 0u) { row_end = last_visible_end(row); }
  // Also the barrier after the writes above; the loop bound must be uniform for the barriers in it.
  let n_slots = workgroupUniformLoad(&row_end);
  var m = NEG;  // running max of visible scores (same value in every thread)
  var l = 0.0;  // running sum of exp(score - m), kept by thread 0
  for (var start = 0u; start < n_slots; start += TILE) {
    let count = min(TILE, n_slots - start);
    var s_own = NEG;
    if (t < count) { s_own = score(row, start + t, kv_head); }
    tile_p[t] = s_own;
    workgroupBarrier();
    // One thread reduces the tile: SwiftShader runs lanes in small SIMD groups, so a scan by
    // every thread would cost TILE times the work for the same result.
    if (t == 0u) {
      var mx = m;
      for (var s = 0u; s < count; s++) { mx = max(mx, tile_p[s]); }
      tile_max = mx;
    }
    workgroupBarrier();
    let m_new = tile_max;
    tile_p[t] = select(0.0, exp(s_own - m_new), s_own > NEG);
    workgroupBarrier();
    let alpha = exp(m - m_new); // 0 when m was the sentinel, 1 when the max did not move
    if (t == 0u) {
      var tile_sum = 0.0;
      for (var s = 0u; s < count; s++) { tile_sum += tile_p[s]; }
      l = l * alpha + tile_sum;
    }
    accumulate(t, start, count, kv_head, alpha);
    m = m_new;
    workgroupBarrier(); // weights and tile_max read before the next tile overwrites them
  }
  if (t == 0u) { l_total = l; }
  let l_all = workgroupUniformLoad(&l_total);

  // Every well-formed row sees at least itself; a row that sees nothing yields zeros.
  let inv = select(0.0, 1.0 / l_all, l_all > 0.0);
  for (var d = t; d < HEAD_DIM; d += TILE) { out[q_base + d] = acc[d] * inv; }
}
