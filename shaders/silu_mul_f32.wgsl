// SwiGLU gate (Shazeer 2020, "GLU Variants Improve Transformer"): out = silu(gate) * up,
// silu(g) = g / (1 + exp(-g)). gate and up come in ONE fused buffer, the output of a single
// matmul with gate_proj and up_proj concatenated along the output axis: row r holds
// gate at [r*2I, r*2I + I) and up at [r*2I + I, r*2I + 2I).
//#include common/step.wgsl
//#include common/tanh.wgsl

override WG: u32 = 256;
override I: u32;   // intermediate size
override GELU: bool = false; // GeGLU (Gemma): gelu_tanh(gate) * up instead of silu(gate) * up

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> gateUp: array<f32>;        // (maxRows, 2*I): [gate | up]
@group(0) @binding(2) var<storage, read_write> out: array<f32>;     // (maxRows, I)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= step.rows * I) {
    return;
  }
  let r = i / I;
  let c = i % I;
  let g = gateUp[r * 2u * I + c];
  let u = gateUp[r * 2u * I + I + c];
  if (GELU) {
    // transformers' gelu_pytorch_tanh: 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3)))
    let y = 0.7978845608028654 * (g + 0.044715 * g * g * g);
    out[i] = 0.5 * g * (1.0 + tanh_exp(y)) * u;
    return;
  }
  // exp(-g) overflows to +inf for g < -88: g / inf = -0, the limit of silu.
  out[i] = g / (1.0 + exp(-g)) * u;
}
