// Argmax per row over the vocabulary: ids[r * K] = the lowest id holding the largest logit of
// row r (common/ranking.wgsl's order, which is top-k's: this is column 0 of topk_f32.wgsl).
// One workgroup per row; each thread scans a strided slice, then a workgroup argmax keeps the
// better pair (common/workgroup_argmax.wgsl).
// K > 1 writes into a (maxRows, K) top-k id layout: column 0 the argmax, columns 1..K-1 NO_ID
// (not computed). A target pass whose walk needs only the argmax runs this instead of the
// top-k: one dispatch, where the top-k over a GPU's slices of a large vocabulary takes two.
// With GUARD, a NaN or infinite logit enters as (+inf, NO_ID), exactly as in topk_f32.wgsl's
// GUARD, so a row holding one has NO_ID in column 0 ("no token") on either path.
//#include common/step.wgsl
//#include common/ranking.wgsl
//#include common/non_finite.wgsl

override WG: u32 = 256;   // power of two
override VOCAB: u32;
override K: u32 = 1;      // row stride of ids
override GUARD: bool = false;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> logits: array<f32>;        // (maxRows, VOCAB)
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;     // (maxRows, K)

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
    var x = logits[r * VOCAB + i];
    var xi = i;
    if (GUARD && isNonFinite(x)) {
      x = -negInf();
      xi = NO_ID;
    }
    if (ranksBefore(x, xi, v, id)) {
      v = x;
      id = xi;
    }
  }
  let best = argmaxF(lid, v, id);
  if (lid == 0u) {
    // Unguarded, a row of NaN only leaves NO_ID: report 0 like the CPU reference, whose scan
    // starts at 0. Guarded, NO_ID is the answer.
    ids[r * K] = select(best, 0u, best == NO_ID && !GUARD);
  }
  if (lid > 0u && lid < K) {
    ids[r * K + lid] = NO_ID;
  }
}
