// Residual add in place: a += b over the first step.rows rows.
//#include common/step.wgsl

override WG: u32 = 256;
override WIDTH: u32;  // elements per row

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read_write> a: array<f32>;  // (maxRows, WIDTH)
@group(0) @binding(2) var<storage, read> b: array<f32>;        // (maxRows, WIDTH)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i < step.rows * WIDTH) {
    a[i] = a[i] + b[i];
  }
}
