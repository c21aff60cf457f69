// Logit soft-capping in place (Gemma 2's final_logit_softcapping, transformers
// Gemma2ForCausalLM): x = CAP * tanh(x / CAP) for the first step.rows rows.
//#include common/step.wgsl
//#include common/tanh.wgsl

override WG: u32 = 256;
override WIDTH: u32;  // elements per row
override CAP: f32;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;  // (maxRows, WIDTH)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i < step.rows * WIDTH) {
    x[i] = CAP * tanh_exp(x[i] / CAP);
  }
}
