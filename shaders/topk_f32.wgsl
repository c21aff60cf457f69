// Top-k per row (k <= 16): ids and values of the K best logits of each row, best first, in the
// order of common/ranking.wgsl (value descending, ties to the lowest id). One workgroup per row:
// each thread keeps a sorted list of the K best of its strided slice (insertion), then the WG
// lists are merged pairwise in workgroup memory, log2(WG) rounds.
//#include common/step.wgsl
//#include common/ranking.wgsl

const MAX_K: u32 = 16u;
override WG: u32 = 64;     // power of two
override K: u32;           // 1..16, <= VOCAB
override VOCAB: u32;
override LISTS: u32 = WG * K;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> logits: array<f32>;        // (maxRows, VOCAB)
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;     // (maxRows, K)
@group(0) @binding(3) var<storage, read_write> vals: array<f32>;    // (maxRows, K)

var<workgroup> listV: array<f32, LISTS>;   // (WG, K): thread t's sorted list at t*K
var<workgroup> listI: array<u32, LISTS>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = wid.x;
  if (r >= step.rows) {
    return;
  }
  var v: array<f32, MAX_K>;
  var id: array<u32, MAX_K>;
  for (var j = 0u; j < K; j++) {
    v[j] = negInf();
    id[j] = NO_ID;
  }
  for (var i = lid; i < VOCAB; i += WG) {
    let x = logits[r * VOCAB + i];
    if (ranksBefore(x, i, v[K - 1u], id[K - 1u])) {
      var j = K - 1u;
      while (j > 0u && ranksBefore(x, i, v[j - 1u], id[j - 1u])) {
        v[j] = v[j - 1u];
        id[j] = id[j - 1u];
        j--;
      }
      v[j] = x;
      id[j] = i;
    }
  }
  for (var j = 0u; j < K; j++) {
    listV[lid * K + j] = v[j];
    listI[lid * K + j] = id[j];
  }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    // Thread t < s merges lists t and t + s into list t; lists >= s are only read this round.
    if (lid < s) {
      let a0 = lid * K;
      let b0 = (lid + s) * K;
      var a = 0u;
      var b = 0u;
      for (var n = 0u; n < K; n++) {
        // K items are taken from two lists of K, so neither index passes K before the other is used
        let takeA = b >= K || (a < K && ranksBefore(listV[a0 + a], listI[a0 + a], listV[b0 + b], listI[b0 + b]));
        if (takeA) {
          v[n] = listV[a0 + a];
          id[n] = listI[a0 + a];
          a++;
        } else {
          v[n] = listV[b0 + b];
          id[n] = listI[b0 + b];
          b++;
        }
      }
      for (var n = 0u; n < K; n++) {
        listV[a0 + n] = v[n];
        listI[a0 + n] = id[n];
      }
    }
    workgroupBarrier();
  }
  if (lid < K) {
    ids[r * K + lid] = listI[lid];
    vals[r * K + lid] = listV[lid];
  }
}
