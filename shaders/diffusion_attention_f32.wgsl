// Bidirectional attention of the block (diffusion) drafter over its T slots (the attention of
// src/model/diffusion-reference.ts layer(): every slot attends to every slot, no mask and no
// rotary positions; learned position embeddings were added to the input). One workgroup per
// (slot, head); softmax max and sum and the weighted sum of values run over slots in index
// order, so a slot's output does not depend on the dispatch.

override T: u32;              // slots (context + block), <= WG
override DIM: u32;
override HEADS: u32;
override WG: u32 = 64;        // power of two >= T
override HD: u32 = DIM / HEADS;

@group(0) @binding(0) var<storage, read> qkv: array<f32>;        // (T, 3 * DIM): q | k | v of each slot
@group(0) @binding(1) var<storage, read_write> out: array<f32>;  // (T, DIM)

var<workgroup> score: array<f32, WG>;  // (T) scaled q.k of this slot against every slot

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x / HEADS;
  let h = wid.x % HEADS;
  if (t >= T) {
    return;
  }
  let q = t * 3u * DIM + h * HD;
  if (lid < T) {
    let k = lid * 3u * DIM + DIM + h * HD;
    var acc = 0.0;
    for (var i = 0u; i < HD; i++) {
      acc += qkv[q + i] * qkv[k + i];
    }
    score[lid] = acc / sqrt(f32(HD));
  }
  workgroupBarrier();
  var mx = -3.0e38;
  for (var u = 0u; u < T; u++) {
    mx = max(mx, score[u]);
  }
  var sum = 0.0;
  for (var u = 0u; u < T; u++) {
    sum += exp(score[u] - mx);
  }
  for (var i = lid; i < HD; i += WG) {
    var acc = 0.0;
    for (var u = 0u; u < T; u++) {
      acc += exp(score[u] - mx) * qkv[u * 3u * DIM + 2u * DIM + h * HD + i];
    }
    out[t * DIM + h * HD + i] = acc / sum;
  }
}
