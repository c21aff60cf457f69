// Top-k per row (k <= 16): ids and values of the K best logits of each row, best first, in the
// order of common/ranking.wgsl (value descending, ties to the lowest id). Two stages, so that
// one row's vocabulary is spread over many workgroups instead of one:
//  main  (stage 1): one workgroup per (slice, row) finds the K best of its slice of SLICE_LEN
//                   logits. Each thread keeps a sorted list of the K best of its strided part
//                   (insertion), then the WG lists are merged pairwise, log2(WG) rounds.
//  merge (stage 2): one workgroup per row merges the row's SLICES sorted lists, one per thread,
//                   with the same pairwise rounds.
// With SLICES = 1 stage 1 alone gives the answer and TopKOp binds the outputs to it directly.
// Ties across slices resolve as within one: every list carries ids and is ordered by
// ranksBefore, and merging sorted lists by that total order keeps the K first of their union.
// With GUARD, a NaN or infinite logit enters the lists as (+inf, NO_ID), which ranks before
// every real pair, so a row holding one has NO_ID in column 0: the acceptance walks read that
// as "no token" (a named ModelError on the CPU), never the argmax of the finite rest. No pass or
// readback is added: the scan already reads every logit.
//#include common/step.wgsl
//#include common/ranking.wgsl
//#include common/non_finite.wgsl

const MAX_K: u32 = 16u;
override WG: u32 = 64;     // power of two, >= SLICES (stage 2 loads one list per thread)
override K: u32;           // 1..16, <= VOCAB
override VOCAB: u32;
override SLICES: u32 = 1;  // slices per row, 1..WG
override SLICE_LEN: u32 = (VOCAB + SLICES - 1u) / SLICES;  // logits per slice (the last may be shorter)
override LISTS: u32 = WG * K;
override GUARD: bool = false; // mark rows holding a non-finite logit (see the header)

@group(0) @binding(0) var<uniform> step: Step;

// Stage 1 (main). With SLICES = 1 the slice lists are the outputs, (maxRows, K).
@group(0) @binding(1) var<storage, read> logits: array<f32>;             // (maxRows, VOCAB)
@group(0) @binding(2) var<storage, read_write> sliceIds: array<u32>;     // (maxRows, SLICES, K)
@group(0) @binding(3) var<storage, read_write> sliceVals: array<f32>;    // (maxRows, SLICES, K)

// Stage 2 (merge): the same scratch read back, and the outputs. Each entry point uses only its
// own group, so the binding numbers may repeat.
@group(0) @binding(1) var<storage, read> candIds: array<u32>;            // (maxRows, SLICES, K)
@group(0) @binding(2) var<storage, read> candVals: array<f32>;           // (maxRows, SLICES, K)
@group(0) @binding(3) var<storage, read_write> ids: array<u32>;          // (maxRows, K)
@group(0) @binding(4) var<storage, read_write> vals: array<f32>;         // (maxRows, K)

var<workgroup> listV: array<f32, LISTS>;   // (WG, K): thread t's sorted list at t*K
var<workgroup> listI: array<u32, LISTS>;

// Merges the sorted lists at a0 and b0 of listV/listI into the K first of both, written at a0.
fn mergeTwoLists(a0: u32, b0: u32) {
  var v: array<f32, MAX_K>;
  var id: array<u32, MAX_K>;
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

// Reduces lists 0..count-1 (count a power of two, <= WG) to list 0, log2(count) rounds.
// Called by the whole workgroup with a uniform count, after the lists are written.
fn mergeLists(lid: u32, count: u32) {
  workgroupBarrier();
  for (var s = count / 2u; s > 0u; s >>= 1u) {
    // Thread t < s merges lists t and t + s into list t; lists >= s are only read this round.
    if (lid < s) {
      mergeTwoLists(lid * K, (lid + s) * K);
    }
    workgroupBarrier();
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let slice = wid.x;
  let r = wid.y;
  if (r >= step.rows) {
    return;
  }
  var v: array<f32, MAX_K>;
  var id: array<u32, MAX_K>;
  for (var j = 0u; j < K; j++) {
    v[j] = negInf();
    id[j] = NO_ID;
  }
  // Slots from `filled` on are empty, so an insertion walks up from there rather than shifting
  // empty slots: the first K items of a list, a large share of a 32-item slice part.
  var filled = 0u;
  let end = min((slice + 1u) * SLICE_LEN, VOCAB);
  for (var i = slice * SLICE_LEN + lid; i < end; i += WG) {
    var x = logits[r * VOCAB + i];
    var xi = i;
    if (GUARD && isNonFinite(x)) {
      x = -negInf();
      xi = NO_ID;
    }
    if (ranksBefore(x, xi, v[K - 1u], id[K - 1u])) {
      var j = min(filled, K - 1u);
      filled++;
      while (j > 0u && ranksBefore(x, xi, v[j - 1u], id[j - 1u])) {
        v[j] = v[j - 1u];
        id[j] = id[j - 1u];
        j--;
      }
      v[j] = x;
      id[j] = xi;
    }
  }
  for (var j = 0u; j < K; j++) {
    listV[lid * K + j] = v[j];
    listI[lid * K + j] = id[j];
  }
  mergeLists(lid, WG);
  if (lid < K) {
    let o = (r * SLICES + slice) * K + lid;
    sliceIds[o] = listI[lid];
    sliceVals[o] = listV[lid];
  }
}

@compute @workgroup_size(WG)
fn merge(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = wid.x;
  if (r >= step.rows) {
    return;
  }
  // Thread t holds slice t's list; threads past SLICES hold empty lists, which rank last.
  for (var j = 0u; j < K; j++) {
    if (lid < SLICES) {
      listV[lid * K + j] = candVals[(r * SLICES + lid) * K + j];
      listI[lid * K + j] = candIds[(r * SLICES + lid) * K + j];
    } else {
      listV[lid * K + j] = negInf();
      listI[lid * K + j] = NO_ID;
    }
  }
  var count = 1u;
  while (count < SLICES) {
    count <<= 1u;
  }
  mergeLists(lid, count);
  if (lid < K) {
    ids[r * K + lid] = listI[lid];
    vals[r * K + lid] = listV[lid];
  }
}
