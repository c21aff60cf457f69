// Softmax per row with temperature: probs = exp((x - max) / T) / sum, max-subtracted for
// stability. One workgroup per row: a max reduction, a sum reduction, then the normalised write.
// T is a uniform (SoftmaxOp.setTemperature) because it changes per request, and pipelines are
// never created in the token loop.
//#include common/step.wgsl
//#include common/neg_inf.wgsl
//#include common/workgroup_reduce.wgsl

override WG: u32 = 256;   // power of two
override VOCAB: u32;

struct SoftmaxParams {
  invTemperature: f32,  // 1 / T, T > 0
  pad0: f32,
  pad1: f32,
  pad2: f32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> params: SoftmaxParams;
@group(0) @binding(2) var<storage, read> logits: array<f32>;        // (maxRows, VOCAB)
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;   // (maxRows, VOCAB)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = wid.x;
  if (r >= step.rows) {
    return;
  }
  let base = r * VOCAB;
  var m = negInf();
  for (var i = lid; i < VOCAB; i += WG) {
    m = max(m, logits[base + i]);
  }
  let rowMax = maxF(lid, m);
  let invT = params.invTemperature;
  var sum = 0.0;
  for (var i = lid; i < VOCAB; i += WG) {
    sum += exp((logits[base + i] - rowMax) * invT);
  }
  let inv = 1.0 / sumF(lid, sum);
  for (var i = lid; i < VOCAB; i += WG) {
    probs[base + i] = exp((logits[base + i] - rowMax) * invT) * inv;
  }
}
