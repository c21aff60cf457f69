// RMSNorm per row: out = x / sqrt(mean(x^2) + EPS) * w (Zhang & Sennrich 2019; Llama's RMSNorm).
// One workgroup per row; threads stride over the row and reduce the sum of squares in
// workgroup memory.
//#include common/step.wgsl

override WG: u32 = 128;   // power of two
override N: u32;          // row width
override EPS: f32;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> x: array<f32>;             // (maxRows, N)
@group(0) @binding(2) var<storage, read> w: array<f32>;             // (N,)
@group(0) @binding(3) var<storage, read_write> out: array<f32>;     // (maxRows, N)

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = wid.x;
  if (r >= step.rows) {
    return;
  }
  let base = r * N;
  var ss = 0.0;
  for (var i = lid; i < N; i += WG) {
    let v = x[base + i];
    ss += v * v;
  }
  partial[lid] = ss;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      partial[lid] += partial[lid + s];
    }
    workgroupBarrier();
  }
  let scale = inverseSqrt(partial[0] / f32(N) + EPS);
  for (var i = lid; i < N; i += WG) {
    out[base + i] = x[base + i] * scale * w[i];
  }
}
