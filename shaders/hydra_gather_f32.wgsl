// Hydra drafting, level 0 (src/draft/hydra-gpu.ts): the state the first head reads is the
// target's final-norm hidden state at the last accepted verify row, and the token it reads is
// the step's bonus token (the next root). Both come from the acceptance walk's result
// (common/accept_result.wgsl: [0] accepted count, [1] bonus, [HEADER + j] accepted node j), so
// the next tree is drafted without the CPU seeing the walk first. One workgroup.
//   state = x[row] / sqrt(mean(x[row]^2) + EPS) * norm,  row = 0 (root) or last accepted node + 1

override WG: u32 = 256;   // power of two
override HIDDEN: u32;
override EPS: f32;        // the target's rms_norm_eps

const HEADER: u32 = 4u;

@group(0) @binding(0) var<storage, read> result: array<u32>;        // the walk's result (accept_result.wgsl)
@group(0) @binding(1) var<storage, read> x: array<f32>;             // (maxRows, HIDDEN) residual after the last layer
@group(0) @binding(2) var<storage, read> norm: array<f32>;          // (HIDDEN,) final norm weight
@group(0) @binding(3) var<storage, read_write> state: array<f32>;   // (1, HIDDEN) level-0 state
@group(0) @binding(4) var<storage, read_write> ids: array<u32>;     // (1,) level-0 token: the bonus

//#include common/workgroup_reduce.wgsl

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  let count = result[0];
  let row = select(0u, result[HEADER + count - 1u] + 1u, count > 0u);
  let base = row * HIDDEN;
  var ss = 0.0;
  for (var i = lid; i < HIDDEN; i += WG) {
    let v = x[base + i];
    ss += v * v;
  }
  let scale = inverseSqrt(sumF(lid, ss) / f32(HIDDEN) + EPS);
  for (var i = lid; i < HIDDEN; i += WG) {
    state[i] = x[base + i] * scale * norm[i];
  }
  if (lid == 0u) {
    ids[0] = result[1];
  }
}
