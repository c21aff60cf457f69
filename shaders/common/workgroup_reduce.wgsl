// Workgroup reductions over one value per invocation (sum, max, u32 sum; argmax in
// common/workgroup_argmax.wgsl), for kernels where one workgroup works on a whole vector. The
// including kernel declares `override WG` (a power of two). Every invocation must call them in
// uniform control flow; each returns the same value to all. The leading barrier keeps a
// reduction's writes after every read of the previous one's result.

var<workgroup> red: array<f32, WG>;
var<workgroup> redU: array<u32, WG>;

fn sumF(lid: u32, x: f32) -> f32 {
  return reduceF(lid, x, false);
}

fn maxF(lid: u32, x: f32) -> f32 {
  return reduceF(lid, x, true);
}

// Sum (or max) of x over the workgroup.
fn reduceF(lid: u32, x: f32, isMax: bool) -> f32 {
  workgroupBarrier();
  red[lid] = x;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red[lid] = select(red[lid] + red[lid + s], max(red[lid], red[lid + s]), isMax);
    }
    workgroupBarrier();
  }
  return workgroupUniformLoad(&red[0]);
}

fn sumU(lid: u32, x: u32) -> u32 {
  workgroupBarrier();
  redU[lid] = x;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      redU[lid] += redU[lid + s];
    }
    workgroupBarrier();
  }
  return workgroupUniformLoad(&redU[0]);
}
