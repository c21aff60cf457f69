// Tree attention over the KV cache with grouped-query heads (DESIGN section 3, step 2).
// Query row r of head h attends to every committed slot 0..prefix-1 and to the uncommitted
// slots prefix + j for each bit j set in mask[r] (its ancestors and itself), j < rowBase + rows:
// with rowBase > 0 (a draft tree's level, src/draft/gpu-grow.ts) the rows of earlier passes at
// slots prefix..prefix+rowBase-1 are visible through the mask too. Plain decoding is
// one row with mask bit 0; a causal prefill chunk is a chain (row r has bits 0..r).
//
// Keys in logical order (DESIGN section 5: greedy output bit-identical to plain decoding). Row
// r's keys are numbered by the position they hold in its sequence: committed slots 0..prefix-1
// are keys 0..prefix-1, and the pass rows set in mask[r], ascending, are keys prefix,
// prefix + 1, ... (a parent precedes its children in the pass, so these are the root, the
// ancestors by depth, then the row itself). The online softmax tiles over these key numbers,
// never over slots: a tree row at depth d sums exactly the groups that plain decoding sums for
// the same token at position prefix + d, whose keys are the consecutive slots 0..prefix + d.
// Tiling by slot would group a deep row's ancestors by their place in the pass, and a row past
// a tile boundary that its plain twin does not cross would round differently (issue 17).
//
// One workgroup per block of RB rows and HPW query heads of one KV head: its RB * HPW query
// vectors share the barriers and, in tiles inside the committed prefix, every K and V load;
// past the prefix each row's HPW heads share its own loads (grouped-query attention, Ainslie
// et al. 2023; the rows of a tree share the committed prefix). Keys are visited in tiles of
// TILE with the online softmax of Milakov & Gimelshein, "Online normalizer calculation for
// softmax" (2018), as in FlashAttention (Dao et al. 2022): per query vector a running max m and
// sum l, the accumulator rescaled by exp(m_old - m_new) per tile, so any cache length needs
// O(QV * (TILE + HEAD_DIM)) workgroup memory. Masked keys use the finite sentinel NEG instead
// of -inf: WGSL lets implementations assume that no infinities occur.
//
// Every query vector's arithmetic is the same sequence of operations whatever its block: scores
// s = 0 + q[0] * k[0] + ... in dimension order; per tile the max, the weights exp(s - m), their
// sum in key order and acc * alpha + p * v in key order. Keys a row does not have (past its
// own, in a tile that another row of the block still fills) weigh exactly 0 and are skipped in
// the accumulator, so a row's result does not depend on the rows beside it.
//
// Sliding window (WINDOW > 0: Mistral, Gemma's local layers, ...): a row's position is its key
// count - 1 (keys are numbered by position, the row itself last), and it sees the keys k with
// k > position - WINDOW (transformers' sliding_window_overlay); older keys score NEG like keys it
// does not have. Leading tiles that no row of the block sees are skipped: a tile without a seen
// key leaves m, l and acc at their initial values, so skipping it changes nothing, and a row
// whose window covers all its keys runs exactly the arithmetic of WINDOW = 0. So a block visits
// only the tiles of its window, and a sliding layer's cache may be a ring (KV_RING,
// common/kv_load.wgsl: keys are addressed by logical slot, stored modulo the ring): the keys of
// a visited tile older than a row's window may hold newer positions' K/V there, and weigh 0.
//
// Query vector i of a workgroup is row row0 + i / HPW, head head0 + i % HPW.
// Dispatch: (N_HEADS / HPW, ceil(rows / RB)).

const TILE: u32 = 64u;
const NEG: f32 = -1.0e30;
const MAX_QV: u32 = 16u; // bound of the per-thread arrays below (checked in src/ops/attention.ts)
const NO_KEY: u32 = 0xffffffffu; // tile_slot of a key number past the row's last key

//#include common/step.wgsl
//#include common/tanh.wgsl
//#include common/kv_load.wgsl

override N_HEADS: u32;
override N_KV_HEADS: u32; // divides N_HEADS
override HEAD_DIM: u32;   // any width, odd included
override HPW: u32 = 1u;   // query heads per workgroup: divides N_HEADS / N_KV_HEADS
override RB: u32 = 1u;    // rows per workgroup; HPW * RB <= MAX_QV
override QV: u32 = HPW * RB;
override SCALE: f32 = 0.0;   // scores are q.k * SCALE; 0 means 1/sqrt(HEAD_DIM) (Gemma: query_pre_attn_scalar^-0.5)
override SOFTCAP: f32 = 0.0; // Gemma 2: a seen score s becomes SOFTCAP * tanh(s / SOFTCAP); 0 means none
override WINDOW: u32 = 0u;   // sliding window: a row at position p sees keys k > p - WINDOW; 0 means none

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> mask: array<vec4<u32>>;  // (rows) bit j => sees slot prefix + j
@group(0) @binding(2) var<storage, read> q: array<f32>;           // (rows, N_HEADS, HEAD_DIM), rotated
@group(0) @binding(3) var<storage, read> k_cache: array<u32>;     // (slots, KV_WORDS): (N_KV_HEADS, HEAD_DIM) f32 or f16 pairs (common/kv_load.wgsl)
@group(0) @binding(4) var<storage, read> v_cache: array<u32>;     // (slots, KV_WORDS)
@group(0) @binding(5) var<storage, read_write> out: array<f32>;   // (rows, N_HEADS, HEAD_DIM)

var<workgroup> q_scaled: array<f32, QV * HEAD_DIM>; // (QV, HEAD_DIM) query vectors times 1/sqrt(HEAD_DIM)
var<workgroup> acc: array<f32, QV * HEAD_DIM>;      // (QV, HEAD_DIM) unnormalised outputs; column d owned by thread d % TILE
var<workgroup> tile_p: array<f32, QV * TILE>;       // (QV, TILE) scores of the tile, then their exp weights
var<workgroup> tile_slot: array<u32, RB * TILE>;    // (RB, TILE) cache slot of each row's keys in the tile, or NO_KEY
var<workgroup> tile_max: array<f32, QV>;            // (QV) running max after the tile (thread i writes vector i)
var<workgroup> l_total: array<f32, QV>;             // (QV) final softmax denominators
var<workgroup> block_keys: u32;                     // the most keys any row of the block has
var<workgroup> block_start: u32;                    // the first key any row of the block sees, rounded down to TILE

// The uncommitted slots that row `row` sees: mask bits j < rowBase + rows (earlier draft
// levels' rows, then this pass's), the others cleared.
fn row_bits(row: u32) -> vec4<u32> {
  var bits = mask[row];
  let end = step.rowBase + step.rows;
  for (var w = 0u; w < 4u; w++) {
    let lo = w * 32u;
    if (end <= lo) { bits[w] = 0u; }
    else if (end < lo + 32u) { bits[w] &= (1u << (end - lo)) - 1u; }
  }
  return bits;
}

// The row's number of keys: the committed prefix and its visible pass rows.
fn key_count(bits: vec4<u32>) -> u32 {
  let c = countOneBits(bits);
  return step.prefix + c.x + c.y + c.z + c.w;
}

// Cache slot of key `key` (< key_count) of the row with pass bits `bits`: the key itself in the
// committed prefix, else the slot of the (key - prefix)-th set bit.
fn key_slot(bits: vec4<u32>, key: u32) -> u32 {
  if (key < step.prefix) { return key; }
  var n = key - step.prefix;
  for (var w = 0u; w < 4u; w++) {
    let c = countOneBits(bits[w]);
    if (n < c) {
      var word = bits[w];
      for (var i = 0u; i < n; i++) { word &= word - 1u; } // drop the n lowest set bits
      return step.prefix + w * 32u + countTrailingZeros(word);
    }
    n -= c;
  }
  return NO_KEY; // not reached for key < key_count(bits)
}

// The first key a row with `n` keys sees: n - WINDOW inside a sliding window, else 0.
fn first_key(n: u32) -> u32 {
  return select(0u, n - WINDOW, WINDOW > 0u && n > WINDOW);
}

// Scores of key `key` set to NEG for the query vectors whose row's window starts after it
// (first: each live row's first_key).
fn window_mask(s_in: array<f32, MAX_QV>, nr: u32, first: array<u32, MAX_QV>, key: u32) -> array<f32, MAX_QV> {
  var s = s_in;
  for (var rb = 0u; rb < nr; rb++) {
    if (key >= first[rb]) { continue; }
    for (var h = 0u; h < HPW; h++) { s[rb * HPW + h] = NEG; }
  }
  return s;
}

fn q_offset(row0: u32, head0: u32, i: u32) -> u32 {
  return ((row0 + i / HPW) * N_HEADS + head0 + i % HPW) * HEAD_DIM;
}

// Thread t writes the slot of key start + t of each live row of the block to tile_slot (NO_KEY
// past the tile's count or the row's last key).
fn resolve_keys(row0: u32, nr: u32, start: u32, count: u32, t: u32) {
  let key = start + t;
  for (var rb = 0u; rb < nr; rb++) {
    let bits = row_bits(row0 + rb);
    tile_slot[rb * TILE + t] = select(NO_KEY, key_slot(bits, key), t < count && key < key_count(bits));
  }
}

// Gemma 2's attention soft-capping of seen scores, s -> SOFTCAP * tanh(s / SOFTCAP) (SOFTCAP 0:
// none), the same operations on both score paths; an unseen entry (about NEG) stays far below
// every real score.
fn softcap(s_in: array<f32, MAX_QV>, nq: u32) -> array<f32, MAX_QV> {
  var s = s_in;
  if (SOFTCAP > 0.0) {
    for (var i = 0u; i < nq; i++) {
      if (s[i] > 0.5 * NEG) { s[i] = SOFTCAP * tanh_exp(s[i] / SOFTCAP); }
    }
  }
  return s;
}

// Scores of key `slot` of a tile inside the committed prefix, where every row's key is its slot:
// one K load serves every query vector. The same operations, in the same order, as scores().
fn prefix_scores(nq: u32, slot: u32, kv_head: u32) -> array<f32, MAX_QV> {
  var s: array<f32, MAX_QV>;
  for (var i = 0u; i < nq; i++) { s[i] = 0.0; }
  let base = kv_head * HEAD_DIM;
  for (var d = 0u; d < HEAD_DIM; d++) {
    let kd = k_at(slot, base + d);
    for (var i = 0u; i < nq; i++) { s[i] += q_scaled[i * HEAD_DIM + d] * kd; }
  }
  return softcap(s, nq);
}

// Scores of this thread's key of the tile for the nq live query vectors (NEG where the row has
// no such key; tile_slot holds the keys' slots). The HPW heads of a row share each K load.
fn scores(nr: u32, t: u32, kv_head: u32) -> array<f32, MAX_QV> {
  var s: array<f32, MAX_QV>;
  var slot_of: array<u32, MAX_QV>; // (nr) each row's key's slot (0 where it has none)
  var any_key = false;
  for (var rb = 0u; rb < nr; rb++) {
    let slot = tile_slot[rb * TILE + t];
    let has = slot != NO_KEY;
    for (var h = 0u; h < HPW; h++) { s[rb * HPW + h] = select(NEG, 0.0, has); }
    slot_of[rb] = select(0u, slot, has);
    any_key = any_key || has;
  }
  if (!any_key) { return s; }
  for (var d = 0u; d < HEAD_DIM; d++) {
    for (var rb = 0u; rb < nr; rb++) {
      let kd = k_at(slot_of[rb], kv_head * HEAD_DIM + d);
      for (var h = 0u; h < HPW; h++) {
        let i = rb * HPW + h;
        s[i] += q_scaled[i * HEAD_DIM + d] * kd;
      }
    }
  }
  return softcap(s, nr * HPW); // an entry without a key is NEG + a dot product, still far below any real score
}

// acc[i][d] = acc[i][d] * alpha[i] + sum over the tile's keys, in key order, of p[i][s] * v[s][d];
// a row's HPW heads share each V load, and keys the row does not have are skipped.
fn accumulate(t: u32, nr: u32, count: u32, kv_head: u32, alpha: array<f32, MAX_QV>) {
  let nq = nr * HPW;
  for (var d = t; d < HEAD_DIM; d += TILE) {
    var a: array<f32, MAX_QV>;
    for (var i = 0u; i < nq; i++) { a[i] = acc[i * HEAD_DIM + d] * alpha[i]; }
    for (var s = 0u; s < count; s++) {
      for (var rb = 0u; rb < nr; rb++) {
        let slot = tile_slot[rb * TILE + s];
        if (slot == NO_KEY) { continue; }
        let vd = v_at(slot, kv_head * HEAD_DIM + d);
        for (var h = 0u; h < HPW; h++) {
          let i = rb * HPW + h;
          a[i] += tile_p[i * TILE + s] * vd;
        }
      }
    }
    for (var i = 0u; i < nq; i++) { acc[i * HEAD_DIM + d] = a[i]; }
  }
}

// accumulate() for a tile inside the committed prefix (TILE keys, slots start..start+TILE-1, all
// of them every row's): one V load serves every query vector. The same operations, in the same
// order, as accumulate().
fn accumulate_prefix(t: u32, nq: u32, start: u32, kv_head: u32, alpha: array<f32, MAX_QV>) {
  for (var d = t; d < HEAD_DIM; d += TILE) {
    var a: array<f32, MAX_QV>;
    for (var i = 0u; i < nq; i++) { a[i] = acc[i * HEAD_DIM + d] * alpha[i]; }
    for (var s = 0u; s < TILE; s++) {
      let vd = v_at(start + s, kv_head * HEAD_DIM + d);
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
  let nr = min(RB, step.rows - row0); // live rows (uniform)
  let nq = nr * HPW;                  // live query vectors (uniform)
  let kv_head = head0 / (N_HEADS / N_KV_HEADS);
  let scale = select(SCALE, 1.0 / sqrt(f32(HEAD_DIM)), SCALE == 0.0);
  for (var e = t; e < nq * HEAD_DIM; e += TILE) {
    q_scaled[e] = q[q_offset(row0, head0, e / HEAD_DIM) + e % HEAD_DIM] * scale;
    acc[e] = 0.0;
  }
  var first: array<u32, MAX_QV>; // (nr) each live row's first seen key (sliding window)
  for (var rb = 0u; rb < nr; rb++) { first[rb] = first_key(key_count(row_bits(row0 + rb))); }
  if (t == 0u) {
    var most = 0u;
    var least = 0xffffffffu;
    for (var rb = 0u; rb < nr; rb++) {
      most = max(most, key_count(row_bits(row0 + rb)));
      least = min(least, first[rb]);
    }
    block_keys = most;
    block_start = least - least % TILE;
  }
  // Also the barrier after the writes above; the loop bounds must be uniform for the barriers in it.
  let n_keys = workgroupUniformLoad(&block_keys);
  let key0 = workgroupUniformLoad(&block_start);

  var m: array<f32, MAX_QV>; // running max per query vector (same values in every thread)
  for (var i = 0u; i < nq; i++) { m[i] = NEG; }
  var l = 0.0;               // running sum of exp(score - m) of vector t, kept by thread t < nq
  for (var start = key0; start < n_keys; start += TILE) {
    let count = min(TILE, n_keys - start);
    // A tile inside the committed prefix holds the same keys for every row (key = slot) and
    // shares each K/V load across the block; past it, each row resolves its own keys. Both
    // paths do the same operations in the same order, so a row's result does not depend on
    // which one a tile takes.
    let in_prefix = start + TILE <= step.prefix; // uniform
    var s_own: array<f32, MAX_QV>;
    if (in_prefix) {
      s_own = prefix_scores(nq, start + t, kv_head);
    } else {
      resolve_keys(row0, nr, start, count, t); // thread t resolves key start + t of every row
      s_own = scores(nr, t, kv_head);
    }
    if (WINDOW > 0u) { s_own = window_mask(s_own, nr, first, start + t); }
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
      // Scores without a key sit near NEG, below half of it; real scores never do.
      tile_p[i * TILE + t] = select(0.0, exp(s_own[i] - m_new), s_own[i] > 0.5 * NEG);
      // 0 when m was the sentinel; exactly 1 when the max did not move (also for a row that has
      // no key in this tile, a tile its plain twin never runs), not exp(0) to some ULPs.
      alpha[i] = select(exp(m[i] - m_new), 1.0, m_new == m[i]);
      m[i] = m_new;
    }
    workgroupBarrier();
    if (t < nq) {
      var tile_sum = 0.0;
      for (var s = 0u; s < count; s++) { tile_sum += tile_p[t * TILE + s]; }
      l = l * alpha[t] + tile_sum;
    }
    if (in_prefix) { accumulate_prefix(t, nq, start, kv_head, alpha); } else { accumulate(t, nr, count, kv_head, alpha); }
    workgroupBarrier(); // weights, slots and maxima read before the next tile overwrites them
  }
  if (t < nq) { l_total[t] = l; }
  workgroupBarrier();

  // Every well-formed row sees at least itself; a row that sees nothing yields zeros.
  for (var e = t; e < nq * HEAD_DIM; e += TILE) {
    let li = l_total[e / HEAD_DIM];
    out[q_offset(row0, head0, e / HEAD_DIM) + e % HEAD_DIM] = acc[e] * select(0.0, 1.0 / li, li > 0.0);
  }
}
