// Tree attention over the KV cache with grouped-query heads (DESIGN section 3, step 2).
// Query row r of head h attends to every committed slot 0..prefix-1 and to the uncommitted
// slots prefix + j for each bit j set in mask[r] (its ancestors and itself), j < rowBase + rows:
// with rowBase > 0 (a draft tree's level, src/draft/gpu-grow.ts) the rows of earlier passes at
// slots prefix..prefix+rowBase-1 are visible through the mask too. Plain decoding is
// one row with mask bit 0; a causal prefill chunk is a chain (row r has bits 0..r).
//
// One workgroup per block of RB rows and HPW query heads of one KV head: its RB * HPW query
// vectors share every K and V element loaded (grouped-query attention, Ainslie et al. 2023,
// shares K/V across a head group; the rows of a tree share the committed prefix), and the
// workgroup's barriers are paid once for all of them. Slots are visited in tiles of TILE with
// the online softmax of Milakov & Gimelshein, "Online normalizer calculation for softmax"
// (2018), as in FlashAttention (Dao et al. 2022): per query vector a running max m and sum l,
// the accumulator rescaled by exp(m_old - m_new) per tile, so any cache length needs
// O(QV * (TILE + HEAD_DIM)) workgroup memory. Masked slots use the finite sentinel NEG instead
// of -inf: WGSL lets implementations assume that no infinities occur.
//
// Query vector i of a workgroup is row row0 + i / HPW, head head0 + i % HPW.
// Dispatch: (N_HEADS / HPW, ceil(rows / RB)).

const TILE: u32 = 64u;
const NEG: f32 = -1.0e30;
const MAX_QV: u32 = 16u; // bound of the per-thread arrays below (checked in src/ops/attention.ts)

//#include common/step.wgsl
//#include common/tanh.wgsl

override N_HEADS: u32;
override N_KV_HEADS: u32; // divides N_HEADS
override HEAD_DIM: u32;   // any width, odd included
override HPW: u32 = 1u;   // query heads per workgroup: divides N_HEADS / N_KV_HEADS
override RB: u32 = 1u;    // rows per workgroup; HPW * RB <= MAX_QV
override QV: u32 = HPW * RB;
override SCALE: f32 = 0.0;   // scores are q.k * SCALE; 0 means 1/sqrt(HEAD_DIM) (Gemma: query_pre_attn_scalar^-0.5)
override SOFTCAP: f32 = 0.0; // Gemma 2: a seen score s becomes SOFTCAP * tanh(s / SOFTCAP); 0 means none

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> mask: array<vec4<u32>>;  // (rows) bit j => sees slot prefix + j
@group(0) @binding(2) var<storage, read> q: array<f32>;           // (rows, N_HEADS, HEAD_DIM), rotated
@group(0) @binding(3) var<storage, read> k_cache: array<f32>;     // (slots, N_KV_HEADS, HEAD_DIM)
@group(0) @binding(4) var<storage, read> v_cache: array<f32>;     // (slots, N_KV_HEADS, HEAD_DIM)
@group(0) @binding(5) var<storage, read_write> out: array<f32>;   // (rows, N_HEADS, HEAD_DIM)

var<workgroup> q_scaled: array<f32, QV * HEAD_DIM>; // (QV, HEAD_DIM) query vectors times 1/sqrt(HEAD_DIM)
var<workgroup> acc: array<f32, QV * HEAD_DIM>;      // (QV, HEAD_DIM) unnormalised outputs; column d owned by thread d % TILE
var<workgroup> tile_p: array<f32, QV * TILE>;       // (QV, TILE) scores of the tile, then their exp weights
var<workgroup> tile_max: array<f32, QV>;            // (QV) running max after the tile (thread i writes vector i)
var<workgroup> l_total: array<f32, QV>;             // (QV) final softmax denominators
var<workgroup> block_end: u32;                      // 1 + the last slot any row of the block sees

// prefix + 1 + the highest pass row in the row's mask: slots after it are invisible, so a
// causal chunk's row r scans prefix + r + 1 slots instead of prefix + rows.
fn last_visible_end(row: u32) -> u32 {
  var n = 0u;
  for (var w = 0u; w < 4u; w++) {
    let word = mask[row][w];
    if (word != 0u) { n = w * 32u + 32u - countLeadingZeros(word); }
  }
  return step.prefix + min(n, step.rowBase + step.rows);
}

fn visible(row: u32, slot: u32) -> bool {
  if (slot < step.prefix) { return true; }
  let j = slot - step.prefix;
  if (j >= step.rowBase + step.rows) { return false; }
  return ((mask[row][j >> 5u] >> (j & 31u)) & 1u) == 1u;
}

fn q_offset(row0: u32, head0: u32, i: u32) -> u32 {
  return ((row0 + i / HPW) * N_HEADS + head0 + i % HPW) * HEAD_DIM;
}

// Scores of one slot for the nq live query vectors (NEG where the row does not see the slot):
// one pass over the key row serves them all.
fn scores(row0: u32, nq: u32, slot: u32, kv_head: u32) -> array<f32, MAX_QV> {
  var s: array<f32, MAX_QV>;
  var any_visible = false;
  for (var i = 0u; i < nq; i++) {
    let vis = visible(row0 + i / HPW, slot);
    s[i] = select(NEG, 0.0, vis);
    any_visible = any_visible || vis;
  }
  if (!any_visible) { return s; }
  let base = (slot * N_KV_HEADS + kv_head) * HEAD_DIM;
  for (var d = 0u; d < HEAD_DIM; d++) {
    let kd = k_cache[base + d];
    for (var i = 0u; i < nq; i++) { s[i] += q_scaled[i * HEAD_DIM + d] * kd; }
  }
  if (SOFTCAP > 0.0) {
    // seen scores only: an invisible entry must stay far below every real one
    for (var i = 0u; i < nq; i++) {
      if (s[i] > 0.5 * NEG) { s[i] = SOFTCAP * tanh_exp(s[i] / SOFTCAP); }
    }
  }
  return s; // an invisible entry is NEG + a dot product, still far below any real score
}

// acc[i][d] = acc[i][d] * alpha[i] + sum_s p[i][s] * v[s][d]; each V element is loaded once.
fn accumulate(t: u32, nq: u32, start: u32, count: u32, kv_head: u32, alpha: array<f32, MAX_QV>) {
  for (var d = t; d < HEAD_DIM; d += TILE) {
    var a: array<f32, MAX_QV>;
    for (var i = 0u; i < nq; i++) { a[i] = acc[i * HEAD_DIM + d] * alpha[i]; }
    for (var s = 0u; s < count; s++) {
      let vd = v_cache[((start + s) * N_KV_HEADS + kv_head) * HEAD_DIM + d];
      for (var i = 0u; i < nq; i++) { a[i] += tile_p[i * TILE + s] * vd; }
    }
    for (var i = 0u; i < nq; i++) { acc[i * HEAD_DIM + d] = a[i]; }
  }
}

@compute @workgroup_size(TILE)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let head0 = wg.x * HPW;
  let row0 = wg.y * RB;
  if (row0 >= step.rows) { return; } // uniform over the workgroup
  let nq = min(RB, step.rows - row0) * HPW; // live query vectors (uniform)
  let kv_head = head0 / (N_HEADS / N_KV_HEADS);
  let scale = select(SCALE, 1.0 / sqrt(f32(HEAD_DIM)), SCALE == 0.0);
  for (var e = t; e < nq * HEAD_DIM; e += TILE) {
    q_scaled[e] = q[q_offset(row0, head0, e / HEAD_DIM) + e % HEAD_DIM] * scale;
    acc[e] = 0.0;
  }
  if (t == 0u) {
    var end = 0u;
    for (var rb = 0u; rb < nq / HPW; rb++) { end = max(end, last_visible_end(row0 + rb)); }
    block_end = end;
  }
  // Also the barrier after the writes above; the loop bound must be uniform for the barriers in it.
  let n_slots = workgroupUniformLoad(&block_end);

  var m: array<f32, MAX_QV>; // running max per query vector (same values in every thread)
  for (var i = 0u; i < nq; i++) { m[i] = NEG; }
  var l = 0.0;               // running sum of exp(score - m) of vector t, kept by thread t < nq
  for (var start = 0u; start < n_slots; start += TILE) {
    let count = min(TILE, n_slots - start);
    var s_own: array<f32, MAX_QV>;
    for (var i = 0u; i < nq; i++) { s_own[i] = NEG; }
    if (t < count) { s_own = scores(row0, nq, start + t, kv_head); }
    for (var i = 0u; i < nq; i++) { tile_p[i * TILE + t] = s_own[i]; }
    workgroupBarrier();
    // Thread i reduces vector i: SwiftShader runs lanes in small SIMD groups, so a scan by
    // every thread would cost TILE times the work for the same result.
    if (t < nq) {
      var mx = m[t];
      for (var s = 0u; s < count; s++) { mx = max(mx, tile_p[t * TILE + s]); }
      tile_max[t] = mx;
    }
    workgroupBarrier();
    var alpha: array<f32, MAX_QV>;
    for (var i = 0u; i < nq; i++) {
      let m_new = tile_max[i];
      // Scores of masked slots sit near NEG, below half of it; real scores never do.
      tile_p[i * TILE + t] = select(0.0, exp(s_own[i] - m_new), s_own[i] > 0.5 * NEG);
      alpha[i] = exp(m[i] - m_new); // 0 when m was the sentinel, 1 when the max did not move
      m[i] = m_new;
    }
    workgroupBarrier();
    if (t < nq) {
      var tile_sum = 0.0;
      for (var s = 0u; s < count; s++) { tile_sum += tile_p[t * TILE + s]; }
      l = l * alpha[t] + tile_sum;
    }
    accumulate(t, nq, start, count, kv_head, alpha);
    workgroupBarrier(); // weights and maxima read before the next tile overwrites them
  }
  if (t < nq) { l_total[t] = l; }
  workgroupBarrier();

  // Every well-formed row sees at least itself; a row that sees nothing yields zeros.
  for (var e = t; e < nq * HEAD_DIM; e += TILE) {
    let li = l_total[e / HEAD_DIM];
    out[q_offset(row0, head0, e / HEAD_DIM) + e % HEAD_DIM] = acc[e] * select(0.0, 1.0 / li, li > 0.0);
  }
}
