// The processed distribution of a logits row and an inverse-CDF draw from it, on one workgroup
// (CPU oracles: src/verify/sampler.ts targetProbs and sampleFrom). Shared by the acceptance walk
// (accept_sample_f32.wgsl) and the sampled draft level (draft_sample_f32.wgsl).
//
// The including kernel declares: overrides WG (a power of two), VOCAB and CHUNK (entries per
// invocation in a draw, (VOCAB + WG - 1) / WG); `params` with the fields temperature, topK, topP
// and penalty of AcceptParams (common/accept_params.wgsl); `fn rowLogit(row: u32, i: u32) -> f32`,
// the logit of token i (< VOCAB) in logits row `row`; `scratch` f32 with the sections P(i) (the
// distribution) and SEEN(i) (1.0 marks a token of the history).
// It includes common/ranking.wgsl, common/workgroup_reduce.wgsl and common/workgroup_argmax.wgsl
// before this file. Every function is called by every invocation in uniform control flow.

var<workgroup> pick: atomic<u32>;  // a draw's token (lowest claiming id)

// Order-preserving u32 key of a float: a < b iff key(a) < key(b) (IEEE sign-magnitude mapped
// to unsigned order: negative floats have every bit flipped, positive ones only the sign bit).
fn orderKey(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

fn countKeyAtLeast(lid: u32, t: u32) -> u32 {
  var n = 0u;
  for (var i = lid; i < VOCAB; i += WG) {
    n += select(0u, 1u, orderKey(scratch[P(i)]) >= t);
  }
  return sumU(lid, n);
}

// ---- the target distribution of a row (targetProbs), left normalised in scratch P.

fn processRow(lid: u32, row: u32) {
  // repetition penalty (CTRL, as transformers): a seen token's logit / penalty if positive, * penalty if negative
  var best = negInf();
  var bestId = NO_ID;
  for (var i = lid; i < VOCAB; i += WG) {
    var l = rowLogit(row, i);
    if (params.penalty != 1.0 && scratch[SEEN(i)] != 0.0) {
      l = select(l / params.penalty, l * params.penalty, l < 0.0);
    }
    if (ranksBefore(l, i, best, bestId)) {
      best = l;
      bestId = i;
    }
    scratch[P(i)] = l / select(params.temperature, 1.0, params.temperature == 0.0);
  }
  if (params.temperature == 0.0) {
    // greedy with a penalty: the one-hot of the penalised argmax (ties to the lowest id)
    let am = argmaxF(lid, best, bestId);
    for (var i = lid; i < VOCAB; i += WG) {
      scratch[P(i)] = select(0.0, 1.0, i == am);
    }
    return;
  }
  if (params.topK > 0u && params.topK < VOCAB) {
    applyTopK(lid);
  }
  // softmax (entries at -inf become exact zeros)
  var m = negInf();
  for (var i = lid; i < VOCAB; i += WG) {
    m = max(m, scratch[P(i)]);
  }
  m = maxF(lid, m);
  var s = 0.0;
  for (var i = lid; i < VOCAB; i += WG) {
    let l = scratch[P(i)];
    let e = select(exp(l - m), 0.0, l == negInf());
    scratch[P(i)] = e;
    s += e;
  }
  s = sumF(lid, s);
  for (var i = lid; i < VOCAB; i += WG) {
    scratch[P(i)] = scratch[P(i)] / s;
  }
  if (params.topP < 1.0) {
    applyTopP(lid);
  }
}

// Logits below the topK-th largest become -inf (ties with it survive): the largest key T with
// count(key >= T) >= topK is the topK-th largest value's key, found bit by bit.
fn applyTopK(lid: u32) {
  var t = 0u;
  for (var b = 31i; b >= 0i; b--) {
    let cand = t | (1u << u32(b));
    if (countKeyAtLeast(lid, cand) >= params.topK) {
      t = cand;
    }
  }
  for (var i = lid; i < VOCAB; i += WG) {
    if (orderKey(scratch[P(i)]) < t) {
      scratch[P(i)] = negInf();
    }
  }
}

fn massBitsAtLeast(lid: u32, t: u32) -> f32 {
  var s = 0.0;
  for (var i = lid; i < VOCAB; i += WG) {
    let v = scratch[P(i)];
    s += select(0.0, v, bitcast<u32>(v) >= t);
  }
  return sumF(lid, s);
}

// Nucleus filter exactly as applyTopP: in the order (p desc, id asc) a token stays while the
// mass before it is < topP. With v* = the largest present value with mass(p >= v*) >= topP,
// every value above v* stays, every value below goes, and of the tie group at v* the r-th
// lowest id (r = 0, 1, ..) stays iff mass(p > v*) + r v* < topP (r = 0 always does, since
// mass(p > v*) < topP by the choice of v*). Bits of non-negative floats are ordered as values.
fn applyTopP(lid: u32) {
  var t = 0u;
  for (var b = 30i; b >= 0i; b--) {
    let cand = t | (1u << u32(b));
    if (massBitsAtLeast(lid, cand) >= params.topP) {
      t = cand;
    }
  }
  if (t == 0u) {
    return; // the whole mass rounds below topP: every token stays
  }
  let pj = bitcast<f32>(t);
  let above = massBitsAtLeast(lid, t + 1u);
  var c = 0u;
  for (var i = lid; i < VOCAB; i += WG) {
    c += select(0u, 1u, scratch[P(i)] == pj);
  }
  let ties = sumU(lid, c);
  // keep = how many of the tie group stay: the r in [0, ties) with above + r pj < topP
  var keep = u32(clamp(ceil((params.topP - above) / pj), 1.0, f32(ties)));
  for (var n = 0u; n < 4u && keep > 1u && !(above + f32(keep - 1u) * pj < params.topP); n++) {
    keep--;
  }
  for (var n = 0u; n < 4u && keep < ties && above + f32(keep) * pj < params.topP; n++) {
    keep++;
  }
  // the tie group's ids <= last stay: last = the largest id with fewer than keep group ids below it
  var last = VOCAB;
  if (keep < ties) {
    last = 0u;
    for (var b = 31i; b >= 0i; b--) {
      let cand = last | (1u << u32(b));
      if (cand >= VOCAB) {
        continue;
      }
      var n = 0u;
      for (var i = lid; i < cand; i += WG) {
        n += select(0u, 1u, scratch[P(i)] == pj);
      }
      if (sumU(lid, n) < keep) {
        last = cand;
      }
    }
  }
  var kept = 0.0;
  for (var i = lid; i < VOCAB; i += WG) {
    let v = scratch[P(i)];
    let stays = v > pj || (v == pj && i <= last);
    scratch[P(i)] = select(0.0, v, stays);
    kept += select(0.0, v, stays);
  }
  kept = sumF(lid, kept);
  for (var i = lid; i < VOCAB; i += WG) {
    scratch[P(i)] = scratch[P(i)] / kept;
  }
}

// ---- drawing

// Inverse-CDF draw from P with uniform u, as sampleFrom (src/verify/sampler.ts) and drawIndex: the first positive entry whose running
// sum exceeds u * total; round-off past the end gives the last positive entry. Invocation lid
// sums its contiguous chunk, an inclusive scan orders the chunks, and the one chunk holding
// u * total is walked by its owner.
fn drawFrom(lid: u32, u: f32) -> u32 {
  storageBarrier();
  let start = min(lid * CHUNK, VOCAB);
  let end = min(start + CHUNK, VOCAB);
  var s = 0.0;
  var lastPos = NO_ID;
  for (var i = start; i < end; i++) {
    let v = scratch[P(i)];
    if (v > 0.0) {
      s += v;
      lastPos = i;
    }
  }
  workgroupBarrier();
  red[lid] = s;
  if (lid == 0u) {
    atomicStore(&pick, NO_ID);
  }
  workgroupBarrier();
  for (var off = 1u; off < WG; off <<= 1u) {
    var add = 0.0;
    if (lid >= off) {
      add = red[lid - off];
    }
    workgroupBarrier();
    red[lid] += add;
    workgroupBarrier();
  }
  let incl = red[lid];
  var excl = 0.0;
  if (lid > 0u) {
    excl = red[lid - 1u];
  }
  let goal = u * red[WG - 1u];
  if (s > 0.0 && excl <= goal && goal < incl) {
    var cum = excl;
    var got = lastPos;
    for (var i = start; i < end; i++) {
      let v = scratch[P(i)];
      if (v > 0.0) {
        cum += v;
        if (goal < cum) {
          got = i;
          break;
        }
      }
    }
    atomicMin(&pick, got);
  }
  // the overall last positive entry, for a draw past every chunk (round-off)
  workgroupBarrier();
  redU[lid] = select(0u, lastPos + 1u, lastPos != NO_ID);
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (lid < st) {
      redU[lid] = max(redU[lid], redU[lid + st]);
    }
    workgroupBarrier();
  }
  let picked = atomicLoad(&pick);
  return select(picked, redU[0] - 1u, picked == NO_ID);
}
