// Argmax per row over the vocabulary: ids[r] = the lowest id holding the largest logit of row r.
// One workgroup per row; each thread scans a strided slice, then a workgroup argmax keeps the
// better pair (common/ranking.wgsl, common/workgroup_argmax.wgsl).
//#include common/step.wgsl
//#include common/ranking.wgsl

override WG: u32 = 256;   // power of two
override VOCAB: u32;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> logits: array<f32>;        // (maxRows, VOCAB)
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;     // (maxRows,)

//#include common/workgroup_argmax.wgsl

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = wid.x;
  if (r >= step.rows) {
    return;
  }
  var v = negInf();
  var id = NO_ID;
  // ascending ids within a thread: a later equal value never replaces an earlier one
  for (var i = lid; i < VOCAB; i += WG) {
    let x = logits[r * VOCAB + i];
    if (ranksBefore(x, i, v, id)) {
      v = x;
      id = i;
    }
  }
  let best = argmaxF(lid, v, id);
  if (lid == 0u) {
    // a row of NaN only leaves NO_ID: report 0 like the CPU reference, whose scan starts at 0
    ids[r] = select(best, 0u, best == NO_ID);
  }
}
