// Rotary position embedding (Hugging Face "rotate half": element i pairs with i + headDim/2,
// transformers `apply_rotary_pos_emb`) fused with the KV-cache write of this pass's rows.
// Query heads are rotated in place; the rotated K and the V of row r go to cache slot
// `step.prefix + step.rowBase + r` (DESIGN section 3: row r of a verify pass owns slot (n-1) + r;
// a draft tree's level d starts after the rows of the levels before it).
//
// The angles come from a (cos, sin) table computed once on the CPU in double precision from
// `ropeInvFreq` (Llama-3 scaling included): WGSL only bounds sin/cos error on [-pi, pi]
// (absolute 2^-11), and positions * invFreq reach thousands of radians.
//
// Dispatch: (ceil((N_HEADS + N_KV_HEADS) * HEAD_DIM / 2 / 64), rows). One thread per rotated
// pair (i, i + HEAD_DIM/2) of one head of one row; threads of KV heads also copy V.

//#include common/step.wgsl

override N_HEADS: u32;
override N_KV_HEADS: u32;
override HEAD_DIM: u32; // even (rotate-half needs pairs)

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> positions: array<u32>;         // (rows) RoPE position per row
@group(0) @binding(2) var<storage, read> rope_table: array<vec2<f32>>;  // (maxPositions, HEAD_DIM/2) (cos, sin)
@group(0) @binding(3) var<storage, read_write> q: array<f32>;           // (rows, N_HEADS, HEAD_DIM), rotated in place
@group(0) @binding(4) var<storage, read> k: array<f32>;                 // (rows, N_KV_HEADS, HEAD_DIM)
@group(0) @binding(5) var<storage, read> v: array<f32>;                 // (rows, N_KV_HEADS, HEAD_DIM)
@group(0) @binding(6) var<storage, read_write> k_cache: array<f32>;     // (slots, N_KV_HEADS, HEAD_DIM)
@group(0) @binding(7) var<storage, read_write> v_cache: array<f32>;     // (slots, N_KV_HEADS, HEAD_DIM)

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let half_dim = HEAD_DIM / 2u;
  let row = gid.y;
  let head = gid.x / half_dim;   // 0..N_HEADS-1 query heads, then N_KV_HEADS key heads
  let i = gid.x % half_dim;
  if (row >= step.rows || head >= N_HEADS + N_KV_HEADS) { return; }

  let cs = rope_table[positions[row] * half_dim + i];
  if (head < N_HEADS) {
    let base = (row * N_HEADS + head) * HEAD_DIM;
    let a = q[base + i];
    let b = q[base + i + half_dim];
    q[base + i] = a * cs.x - b * cs.y;
    q[base + i + half_dim] = b * cs.x + a * cs.y;
    return;
  }
  let kv_head = head - N_HEADS;
  let src = (row * N_KV_HEADS + kv_head) * HEAD_DIM;
  let dst = ((step.prefix + step.rowBase + row) * N_KV_HEADS + kv_head) * HEAD_DIM;
  let a = k[src + i];
  let b = k[src + i + half_dim];
  k_cache[dst + i] = a * cs.x - b * cs.y;
  k_cache[dst + i + half_dim] = b * cs.x + a * cs.y;
  v_cache[dst + i] = v[src + i];
  v_cache[dst + i + half_dim] = v[src + i + half_dim];
}
