// Tree attention over the KV cache with grouped-query heads (DESIGN section 3, step 2).
// Query row r of head h attends to every committed slot 0..prefix-1 and to the pass's own
// slots prefix + j for each bit j set in mask[r] (its ancestors and itself). Plain decoding is
// one row with mask bit 0; a causal prefill chunk is a chain (row r has bits 0..r).
//
// One workgroup per (row, HPW query heads that share one KV head): each K and V element loaded
// serves all HPW heads (grouped-query attention, Ainslie et al. 2023, shares K/V across a
// group). Slots are visited in tiles of TILE with the online softmax of Milakov & Gimelshein,
// "Online normalizer calculation for softmax" (2018), as in FlashAttention (Dao et al. 2022):
// per head a running max m and sum l, the accumulator rescaled by exp(m_old - m_new) per tile,
// so any cache length needs O(HPW * (TILE + HEAD_DIM)) workgroup memory.
// Masked slots use the finite sentinel NEG instead of -inf: WGSL lets implementations assume
// that no infinities occur.
//
// Dispatch: (N_HEADS / HPW, rows).

const TILE: u32 = 64u;
const NEG: f32 = -1.0e30;
const MAX_HPW: u32 = 16u; // bound of the per-thread arrays below (checked in src/ops/attention.ts)

//#include common/step.wgsl

override N_HEADS: u32;
override N_KV_HEADS: u32; // divides N_HEADS
override HEAD_DIM: u32;   // any width, odd included
override HPW: u32 = 1u;   // query heads per workgroup: divides N_HEADS / N_KV_HEADS, <= MAX_HPW

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> mask: array<vec4<u32>>;  // (rows) bit j => sees slot prefix + j
@group(0) @binding(2) var<storage, read> q: array<f32>;           // (rows, N_HEADS, HEAD_DIM), rotated
@group(0) @binding(3) var<storage, read> k_cache: array<f32>;     // (slots, N_KV_HEADS, HEAD_DIM)
@group(0) @binding(4) var<storage, read> v_cache: array<f32>;     // (slots, N_KV_HEADS, HEAD_DIM)
@group(0) @binding(5) var<storage, read_write> out: array<f32>;   // (rows, N_HEADS, HEAD_DIM)

var<workgroup> q_scaled: array<f32, HPW * HEAD_DIM>; // (HPW, HEAD_DIM) this row's heads times 1/sqrt(HEAD_DIM)
var<workgroup> acc: array<f32, HPW * HEAD_DIM>;      // (HPW, HEAD_DIM) unnormalised output; column d owned by thread d % TILE
var<workgroup> tile_p: array<f32, HPW * TILE>;       // (HPW, TILE) scores of the tile, then their exp weights
var<workgroup> tile_max: array<f32, HPW>;            // (HPW) running max after the tile (thread h writes head h)
var<workgroup> l_total: array<f32, HPW>;             // (HPW) final softmax denominators
var<workgroup> row_end: u32;                         // 1 + the last slot this row sees

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

// Scores of one slot for the HPW heads (NEG when invisible): one pass over the key row.
fn scores(row: u32, slot: u32, kv_head: u32) -> array<f32, MAX_HPW> {
  var s: array<f32, MAX_HPW>;
  if (!visible(row, slot)) {
    for (var h = 0u; h < HPW; h++) { s[h] = NEG; }
    return s;
  }
  for (var h = 0u; h < HPW; h++) { s[h] = 0.0; }
  let base = (slot * N_KV_HEADS + kv_head) * HEAD_DIM;
  for (var d = 0u; d < HEAD_DIM; d++) {
    let kd = k_cache[base + d];
    for (var h = 0u; h < HPW; h++) { s[h] += q_scaled[h * HEAD_DIM + d] * kd; }
  }
  return s;
}

// acc[h][d] = acc[h][d] * alpha[h] + sum_s p[h][s] * v[s][d]; each V element is loaded once.
fn accumulate(t: u32, start: u32, count: u32, kv_head: u32, alpha: array<f32, MAX_HPW>) {
  for (var d = t; d < HEAD_DIM; d += TILE) {
    var a: array<f32, MAX_HPW>;
    for (var h = 0u; h < HPW; h++) { a[h] = acc[h * HEAD_DIM + d] * alpha[h]; }
    for (var s = 0u; s < count; s++) {
      let vd = v_cache[((start + s) * N_KV_HEADS + kv_head) * HEAD_DIM + d];
      for (var h = 0u; h < HPW; h++) { a[h] += tile_p[h * TILE + s] * vd; }
    }
    for (var h = 0u; h < HPW; h++) { acc[h * HEAD_DIM + d] = a[h]; }
  }
}

@compute @workgroup_size(TILE)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let head0 = wg.x * HPW;
  let row = wg.y;
  if (row >= step.rows) { return; } // uniform over the workgroup
  let kv_head = head0 / (N_HEADS / N_KV_HEADS);
  let q_base = (row * N_HEADS + head0) * HEAD_DIM; // the HPW heads are contiguous
  let scale = 1.0 / sqrt(f32(HEAD_DIM));
  for (var i = t; i < HPW * HEAD_DIM; i += TILE) {
    q_scaled[i] = q[q_base + i] * scale;
    acc[i] = 0.0;
  }
  if (t == 0u) { row_end = last_visible_end(row); }
  // Also the barrier after the writes above; the loop bound must be uniform for the barriers in it.
  let n_slots = workgroupUniformLoad(&row_end);

  var m: array<f32, MAX_HPW>; // running max per head (same values in every thread)
  for (var h = 0u; h < HPW; h++) { m[h] = NEG; }
  var l = 0.0;                // running sum of exp(score - m) of head t, kept by thread t < HPW
  for (var start = 0u; start < n_slots; start += TILE) {
    let count = min(TILE, n_slots - start);
    var s_own: array<f32, MAX_HPW>;
    for (var h = 0u; h < HPW; h++) { s_own[h] = NEG; }
    if (t < count) { s_own = scores(row, start + t, kv_head); }
    for (var h = 0u; h < HPW; h++) { tile_p[h * TILE + t] = s_own[h]; }
    workgroupBarrier();
    // Thread h reduces head h: SwiftShader runs lanes in small SIMD groups, so a scan by
    // every thread would cost TILE times the work for the same result.
    if (t < HPW) {
      var mx = m[t];
      for (var s = 0u; s < count; s++) { mx = max(mx, tile_p[t * TILE + s]); }
      tile_max[t] = mx;
    }
    workgroupBarrier();
    var alpha: array<f32, MAX_HPW>;
    for (var h = 0u; h < HPW; h++) {
      let m_new = tile_max[h];
      tile_p[h * TILE + t] = select(0.0, exp(s_own[h] - m_new), s_own[h] > NEG);
      alpha[h] = exp(m[h] - m_new); // 0 when m was the sentinel, 1 when the max did not move
      m[h] = m_new;
    }
    workgroupBarrier();
    if (t < HPW) {
      var tile_sum = 0.0;
      for (var s = 0u; s < count; s++) { tile_sum += tile_p[t * TILE + s]; }
      l = l * alpha[t] + tile_sum;
    }
    accumulate(t, start, count, kv_head, alpha);
    workgroupBarrier(); // weights and maxima read before the next tile overwrites them
  }
  if (t < HPW) { l_total[t] = l; }
  workgroupBarrier();

  // Every well-formed row sees at least itself; a row that sees nothing yields zeros.
  for (var i = t; i < HPW * HEAD_DIM; i += TILE) {
    let lh = l_total[i / HEAD_DIM];
    out[q_base + i] = acc[i] * select(0.0, 1.0 / lh, lh > 0.0);
  }
}
