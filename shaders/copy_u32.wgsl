// Plain copy dst = src in 16-byte words: the practical bandwidth limit that tools/bench-kernels.ts
// compares the mat-vec kernels against (issue 10), and a generic device-side copy.
// Dispatch: (x, y) workgroups with x*y*WG >= number of vec4s; the index is linear over (y, x)
// so copies larger than 65535 workgroups fit in one dispatch.

override WG: u32 = 256;

@group(0) @binding(0) var<storage, read> src: array<vec4<u32>>;        // (n4,)
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<u32>>;  // (n4,) n4 = arrayLength(&dst)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i < arrayLength(&dst)) {
    dst[i] = src[i];
  }
}
