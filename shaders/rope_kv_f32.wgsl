// Rotary position embedding (Hugging Face "rotate half": element i pairs with i + ROTARY_DIM/2,
// transformers `apply_rotary_pos_emb`) fused with the KV-cache write of this pass's rows.
// Partial rotary (Phi-3's partial_rotary_factor, transformers' Phi3 apply_rotary_pos_emb): only
// the first ROTARY_DIM dims of a head rotate; dims ROTARY_DIM.. pass through unchanged.
// It reads the fused projection's output row [q | k | v]: rotated query heads go to `q` (what
// attention reads), the rotated K and the V of row r to cache slot `step.prefix + step.rowBase
// + r` (DESIGN section 3: row r of a verify pass owns slot (n-1) + r; a draft tree's level d
// starts after the rows of the levels before it), a logical slot that a sliding layer's ring
// stores modulo KV_RING (common/kv_load.wgsl).
//
// The angles come from a (cos, sin) table computed once on the CPU in double precision from
// `ropeInvFreq` (Llama-3 scaling included): WGSL only bounds sin/cos error on [-pi, pi]
// (absolute 2^-11), and positions * invFreq reach thousands of radians.
//
// Entry points:
//   main:   one thread per pair t < HEAD_DIM/2 of one query head of one row (pair_of: a rotated
//           pair, or two pass-through dims), and per pair of adjacent dims (2t, 2t + 1) of one key
//           head, which it computes (each from its own rotate-half partner, the operations the
//           pair would do) and writes with V's same two dims: one word per thread in an f16
//           cache (common/kv_store.wgsl).
//           Dispatch (ceil((N_HEADS + N_KV_HEADS) * HEAD_DIM / 2 / 64), rows).
//   normed: Qwen3's and Gemma 3's q_norm / k_norm first (transformers: each head of the q and k
//           projections RMS-normalised over its HEAD_DIM, times a per-tensor weight, before RoPE):
//             x_h = x_h / sqrt(mean(x_h^2) + EPS) * w
//           one workgroup of WG per (head, row), which needs the head's sum of squares before
//           it rotates. Dispatch (N_HEADS + N_KV_HEADS, rows).

//#include common/step.wgsl

override N_HEADS: u32;
override N_KV_HEADS: u32;
override HEAD_DIM: u32; // even (rotate-half needs pairs)
override ROTARY_DIM: u32; // even, <= HEAD_DIM: the leading dims of a head that rotate
override WG: u32 = 32;  // normed: power of two
override EPS: f32 = 1e-6;

//#include common/workgroup_reduce.wgsl
//#include common/kv_store.wgsl

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> positions: array<u32>;         // (rows) RoPE position per row
@group(0) @binding(2) var<storage, read> rope_table: array<vec2<f32>>;  // (maxPositions, ROTARY_DIM/2) (cos, sin)
@group(0) @binding(3) var<storage, read> qkv: array<f32>;               // (rows, N_HEADS + 2 * N_KV_HEADS, HEAD_DIM): q heads, k heads, v heads
@group(0) @binding(4) var<storage, read_write> q: array<f32>;           // (rows, N_HEADS, HEAD_DIM) rotated queries
@group(0) @binding(5) var<storage, read_write> k_cache: array<u32>;     // (slots, KV_WORDS): (N_KV_HEADS, HEAD_DIM) f32 or f16 pairs (common/kv_load.wgsl)
@group(0) @binding(6) var<storage, read_write> v_cache: array<u32>;     // (slots, KV_WORDS)
@group(0) @binding(7) var<storage, read> qk_norm: array<f32>;           // normed only: (2, HEAD_DIM) q_norm weight, then k_norm weight

// Offset of head `head` of `row` in qkv: q heads 0..N_HEADS-1, then k heads; v head j follows
// k head j at N_KV_HEADS heads on.
fn head_at(row: u32, head: u32) -> u32 {
  return (row * (N_HEADS + 2u * N_KV_HEADS) + head) * HEAD_DIM;
}

// The two dims of a head that pair t (t < HEAD_DIM/2) covers: the rotated pair
// (t, t + ROTARY_DIM/2) while t < ROTARY_DIM/2, else two adjacent pass-through dims after
// ROTARY_DIM. The pairs cover the head once.
fn pair_of(t: u32) -> vec2<u32> {
  let rot_half = ROTARY_DIM / 2u;
  if (t < rot_half) { return vec2<u32>(t, t + rot_half); }
  let d = ROTARY_DIM + 2u * (t - rot_half);
  return vec2<u32>(d, d + 1u);
}

// Writes pair t of query head `head` of `row`, values (a, b) at dims pair_of(t), to q, rotated
// when it is a rotated pair.
fn rotate_query(row: u32, head: u32, t: u32, a: f32, b: f32) {
  let rot_half = ROTARY_DIM / 2u;
  let e = pair_of(t);
  var ra = a;
  var rb = b;
  if (t < rot_half) {
    let cs = rope_table[positions[row] * rot_half + t];
    ra = a * cs.x - b * cs.y;
    rb = b * cs.x + a * cs.y;
  }
  let dst = (row * N_HEADS + head) * HEAD_DIM;
  q[dst + e.x] = ra;
  q[dst + e.y] = rb;
}

// The dims whose values (a, b) dim j of a head takes after RoPE: its rotate-half pair
// (j % (ROTARY_DIM/2), that + ROTARY_DIM/2) while j < ROTARY_DIM, else j itself (pass-through).
fn inputs_of(j: u32) -> vec2<u32> {
  let rot_half = ROTARY_DIM / 2u;
  if (j >= ROTARY_DIM) { return vec2<u32>(j, j); }
  return vec2<u32>(j % rot_half, j % rot_half + rot_half);
}

// Dim j of a head of `row` after RoPE from its inputs (a, b) = the values at inputs_of(j): the
// very operations rotate_query does for that dim.
fn rotated(row: u32, j: u32, a: f32, b: f32) -> f32 {
  let rot_half = ROTARY_DIM / 2u;
  if (j >= ROTARY_DIM) { return a; }
  let cs = rope_table[positions[row] * rot_half + j % rot_half];
  if (j < rot_half) { return a * cs.x - b * cs.y; }
  return b * cs.x + a * cs.y;
}

// Writes dims (2t, 2t + 1) of key head `head` of `row` to the row's cache slot: K as given
// (ka, kb), V copied from the row's value head.
fn write_kv(row: u32, head: u32, t: u32, ka: f32, kb: f32) {
  let v_src = head_at(row, head) + N_KV_HEADS * HEAD_DIM;
  kv_store_pair(step.prefix + step.rowBase + row, (head - N_HEADS) * HEAD_DIM + 2u * t, ka, kb, qkv[v_src + 2u * t], qkv[v_src + 2u * t + 1u]);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let half_dim = HEAD_DIM / 2u;
  let row = gid.y;
  let head = gid.x / half_dim;   // 0..N_HEADS-1 query heads, then N_KV_HEADS key heads
  let t = gid.x % half_dim;
  if (row >= step.rows || head >= N_HEADS + N_KV_HEADS) { return; }
  let src = head_at(row, head);
  if (head < N_HEADS) {
    let e = pair_of(t);
    rotate_query(row, head, t, qkv[src + e.x], qkv[src + e.y]);
    return;
  }
  let ia = inputs_of(2u * t);
  let ib = inputs_of(2u * t + 1u);
  write_kv(row, head, t,
    rotated(row, 2u * t, qkv[src + ia.x], qkv[src + ia.y]),
    rotated(row, 2u * t + 1u, qkv[src + ib.x], qkv[src + ib.y]));
}

@compute @workgroup_size(WG)
fn normed(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let half_dim = HEAD_DIM / 2u;
  let head = wid.x;
  let row = wid.y;
  if (row >= step.rows) { return; }
  let src = head_at(row, head);
  var ss = 0.0;
  for (var i = lid; i < HEAD_DIM; i += WG) {
    let x = qkv[src + i];
    ss += x * x;
  }
  let scale = inverseSqrt(sumF(lid, ss) / f32(HEAD_DIM) + EPS);
  let w = select(HEAD_DIM, 0u, head < N_HEADS); // q_norm or k_norm
  for (var t = lid; t < half_dim; t += WG) {
    if (head < N_HEADS) {
      let e = pair_of(t);
      rotate_query(row, head, t, normed_at(src, w, e.x, scale), normed_at(src, w, e.y, scale));
      continue;
    }
    let ia = inputs_of(2u * t);
    let ib = inputs_of(2u * t + 1u);
    write_kv(row, head, t,
      rotated(row, 2u * t, normed_at(src, w, ia.x, scale), normed_at(src, w, ia.y, scale)),
      rotated(row, 2u * t + 1u, normed_at(src, w, ib.x, scale), normed_at(src, w, ib.y, scale)));
  }
}

// Dim e of the head at `src`, RMS-normalised (`scale`) and weighted by q_norm or k_norm (at w).
fn normed_at(src: u32, w: u32, e: u32, scale: f32) -> f32 {
  return qkv[src + e] * scale * qk_norm[w + e];
}
