// Per-head RMSNorm in place, Qwen3's q_norm / k_norm (transformers Qwen3Attention: each head of
// the q and k projections is normalised over its HEAD_DIM before RoPE):
//   x_h = x_h / sqrt(mean(x_h^2) + EPS) * w        (w: (HEAD_DIM) per tensor, shared by heads)
// One workgroup per (head, row): heads 0..N_HEADS-1 are q's, then N_KV_HEADS of k. In place is
// safe: each invocation writes only the elements it read, after the reduction's barriers.
//
// Dispatch: (N_HEADS + N_KV_HEADS, rows).

//#include common/step.wgsl

override WG: u32 = 32;      // power of two
override N_HEADS: u32;
override N_KV_HEADS: u32;
override HEAD_DIM: u32;
override EPS: f32;

//#include common/workgroup_reduce.wgsl

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read_write> q: array<f32>;   // (rows, N_HEADS, HEAD_DIM), normalised in place
@group(0) @binding(2) var<storage, read_write> k: array<f32>;   // (rows, N_KV_HEADS, HEAD_DIM), normalised in place
@group(0) @binding(3) var<storage, read> q_norm: array<f32>;    // (HEAD_DIM)
@group(0) @binding(4) var<storage, read> k_norm: array<f32>;    // (HEAD_DIM)

fn load(head: u32, row: u32, i: u32) -> f32 {
  if (head < N_HEADS) {
    return q[(row * N_HEADS + head) * HEAD_DIM + i];
  }
  return k[(row * N_KV_HEADS + head - N_HEADS) * HEAD_DIM + i];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let head = wid.x;
  let row = wid.y;
  if (row >= step.rows) {
    return;
  }
  var ss = 0.0;
  for (var i = lid; i < HEAD_DIM; i += WG) {
    let v = load(head, row, i);
    ss += v * v;
  }
  let scale = inverseSqrt(sumF(lid, ss) / f32(HEAD_DIM) + EPS);
  for (var i = lid; i < HEAD_DIM; i += WG) {
    let v = load(head, row, i) * scale;
    if (head < N_HEADS) {
      q[(row * N_HEADS + head) * HEAD_DIM + i] = v * q_norm[i];
    } else {
      k[(row * N_KV_HEADS + head - N_HEADS) * HEAD_DIM + i] = v * k_norm[i];
    }
  }
}
