// One Hydra head over the frontier of a tree level (Ankner et al. 2024, Hydra; the forward of
// src/model/heads-reference.ts, trained by tools/fixtures/train_heads.py). Frontier node f has
// a parent slot p in the previous level and a rank r among p's children: its token is the
// r-th best of p (prevIds, mapped through vocabIds unless this is level 1, whose only node is
// the root with the bonus token), and its state is
//   s = sp + W2 silu(W1 [rms(sp); rms(e)]),  sp = prevStates[p], e = embed[token],
//   rms(v) = v / sqrt(mean(v^2) + 1e-6).
// The LM head over the trimmed vocabulary and the top-k of s run as the level's next two
// dispatches (MatmulOp, TopKOp). One workgroup per frontier node; each sum runs in a fixed order.

override WG: u32 = 256;       // power of two
override HIDDEN: u32;
override FFN: u32;
override EMB_F16: bool;       // the embedding table is f16 packed two per u32 (rows packed separately), else f32
override STRIDE: u32 = select(HIDDEN, (HIDDEN + 1u) / 2u, EMB_F16);  // u32 per table row
override IN: u32 = 2u * HIDDEN;

const RMS_EPS: f32 = 1e-6;

struct HeadParams {
  count: u32,     // frontier nodes of this level
  kPrev: u32,     // width of a prevIds row
  mapIds: u32,    // 1: prevIds index vocabIds (trimmed ids); 0: they are token ids (level 1)
  head: u32,      // which head's weights (0-based)
}

@group(0) @binding(0) var<uniform> params: HeadParams;
@group(0) @binding(1) var<storage, read> frontier: array<u32>;      // (count, 2) parent slot, rank
@group(0) @binding(2) var<storage, read> prevStates: array<f32>;    // (prevCount, HIDDEN)
@group(0) @binding(3) var<storage, read> prevIds: array<u32>;       // (prevCount, kPrev)
@group(0) @binding(4) var<storage, read> vocabIds: array<u32>;      // (trim,) token id of each trimmed index
@group(0) @binding(5) var<storage, read> table: array<u32>;         // (vocab, STRIDE) embedding: f32 bits or f16 pairs
@group(0) @binding(6) var<storage, read> weights: array<f32>;       // (heads, FFN * IN + HIDDEN * FFN): W1 (FFN, IN) then W2 (HIDDEN, FFN)
@group(0) @binding(7) var<storage, read_write> states: array<f32>;  // (count, HIDDEN)

//#include common/workgroup_reduce.wgsl

var<workgroup> a: array<f32, IN>;    // [rms(sp); rms(e)]
var<workgroup> u: array<f32, FFN>;   // silu(W1 a)

fn embedAt(token: u32, i: u32) -> f32 {
  if (EMB_F16) {
    let pair = unpack2x16float(table[token * STRIDE + i / 2u]);
    return select(pair.x, pair.y, (i & 1u) == 1u);
  }
  return bitcast<f32>(table[token * STRIDE + i]);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let f = wid.x;
  if (f >= params.count) {
    return;
  }
  let p = frontier[2u * f];
  var token = prevIds[p * params.kPrev + frontier[2u * f + 1u]];
  if (params.mapIds == 1u) {
    token = vocabIds[token];
  }
  var ss = 0.0;
  var se = 0.0;
  for (var i = lid; i < HIDDEN; i += WG) {
    let s = prevStates[p * HIDDEN + i];
    let e = embedAt(token, i);
    a[i] = s;
    a[HIDDEN + i] = e;
    ss += s * s;
    se += e * e;
  }
  let rs = inverseSqrt(sumF(lid, ss) / f32(HIDDEN) + RMS_EPS);
  let re = inverseSqrt(sumF(lid, se) / f32(HIDDEN) + RMS_EPS);
  for (var i = lid; i < HIDDEN; i += WG) {
    a[i] *= rs;
    a[HIDDEN + i] *= re;
  }
  workgroupBarrier();
  let w1 = params.head * (FFN * IN + HIDDEN * FFN);
  for (var j = lid; j < FFN; j += WG) {
    var acc = 0.0;
    for (var k = 0u; k < IN; k++) {
      acc += weights[w1 + j * IN + k] * a[k];
    }
    u[j] = acc / (1.0 + exp(-acc));
  }
  workgroupBarrier();
  let w2 = w1 + FFN * IN;
  for (var i = lid; i < HIDDEN; i += WG) {
    var acc = 0.0;
    for (var j = 0u; j < FFN; j++) {
      acc += weights[w2 + i * FFN + j] * u[j];
    }
    states[f * HIDDEN + i] = prevStates[p * HIDDEN + i] + acc;
  }
}
