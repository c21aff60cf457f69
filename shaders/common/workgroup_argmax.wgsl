// Workgroup argmax over one (value, id) pair per invocation, in common/ranking.wgsl's order;
// same contract as common/workgroup_reduce.wgsl, whose arrays it uses.
//#include common/ranking.wgsl
//#include common/workgroup_reduce.wgsl

// Argmax of (value, id) pairs in common/ranking.wgsl's order (ties to the lowest id).
fn argmaxF(lid: u32, v: f32, id: u32) -> u32 {
  workgroupBarrier();
  red[lid] = v;
  redU[lid] = id;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s && ranksBefore(red[lid + s], redU[lid + s], red[lid], redU[lid])) {
      red[lid] = red[lid + s];
      redU[lid] = redU[lid + s];
    }
    workgroupBarrier();
  }
  return workgroupUniformLoad(&redU[0]);
}
