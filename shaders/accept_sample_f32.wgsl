// Stochastic tree acceptance on the GPU (DESIGN section 5). CPU oracles: the distribution of a
// row is src/verify/sampler.ts targetProbs, the walk src/verify/stochastic.ts acceptStochastic;
// this kernel follows both step by step, in f32.
//
// One workgroup walks sequentially over depth; each step is parallel over the vocabulary
// (invocation lid owns entries lid, lid + WG, ...). Per visited row u (the root, then each
// accepted row):
//  1. p = the processed target distribution of row u: repetition penalty over the history
//     (committed tokens + the tokens of u's path, each distinct token once: a per-vocab mark),
//     then temperature, top-k, softmax, top-p (processRow);
//  2. the children of u are tried in node order with one uniform each: deterministic drafts
//     accept iff u < p(t), else p(t) <- 0 and p is renormalised; sampled drafts accept iff
//     u q(t) < p(t), else p <- norm(max(0, p - q)) and, without replacement, q(t) <- 0
//     renormalised; an all-zero residual leaves p as it is;
//  3. the first accepted child becomes the current row; when none is, the bonus token is drawn
//     from p by inverse CDF with one more uniform, and the walk ends.
// A visited row whose top-k column 0 is NO_ID holds a NaN or infinite logit (the target's top-k
// guard): the walk stops there with NO_ID as the bonus, which the CPU reports as a ModelError,
// rather than drawing from a distribution that is not one.
// Uniforms are raw u32 draws of the request's Rng taken ahead by the CPU, used in the CPU walk's
// order (one per tried child, then the bonus); result[2] says how many were used.
//#include common/accept_result.wgsl
//#include common/ranking.wgsl
//#include common/workgroup_reduce.wgsl
//#include common/workgroup_argmax.wgsl

override WG: u32 = 256;   // power of two
override K: u32;          // top-k width of the pass
override VOCAB: u32;
override CHUNK: u32 = (VOCAB + WG - 1u) / WG; // contiguous entries per invocation in the bonus draw

@group(0) @binding(0) var<uniform> params: AcceptParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;         // (maxRows, VOCAB)
@group(0) @binding(2) var<storage, read> topKIds: array<u32>;        // (maxRows, K) best ids per row
@group(0) @binding(3) var<storage, read> tree: array<u32>;           // (4, MAX_ROWS) see common/accept_result.wgsl
@group(0) @binding(4) var<storage, read> history: array<u32>;        // (capacity) committed tokens
@group(0) @binding(5) var<storage, read> q: array<f32>;              // (slots, VOCAB) draft distribution of each parent row
@group(0) @binding(6) var<storage, read_write> scratch: array<f32>;  // (3, VOCAB): p, q of the current row, seen marks
@group(0) @binding(7) var<storage, read_write> result: array<u32>;   // (HEADER + maxDepth + rows * K)

// scratch sections: P the current row's distribution (then its residual), QW the working copy
// of the current row's q (tokens removed when drawn without replacement), SEEN 1.0 marks the
// tokens of the history.
fn P(i: u32) -> u32 { return i; }
fn QW(i: u32) -> u32 { return VOCAB + i; }
fn SEEN(i: u32) -> u32 { return 2u * VOCAB + i; }

var<workgroup> flag: u32;          // invocation 0's accept decision, read uniformly
var<workgroup> pick: atomic<u32>;  // the bonus token (lowest claiming id)

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
    var l = logits[row * VOCAB + i];
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

// ---- the walk

// The i-th uniform of the walk in [0, 1): the top 24 bits of the raw draw (exact in f32, < 1).
fn uniformAt(i: u32) -> f32 {
  return f32(tree[TREE_UNIFORM + i] >> 8u) * (1.0 / 16777216.0);
}

// scratch QW = q[slot] normalised (the CPU's loadDistribution).
fn loadQ(lid: u32, slot: u32) {
  var s = 0.0;
  for (var i = lid; i < VOCAB; i += WG) {
    s += q[slot * VOCAB + i];
  }
  s = sumF(lid, s);
  for (var i = lid; i < VOCAB; i += WG) {
    scratch[QW(i)] = q[slot * VOCAB + i] / s;
  }
}

// Tries child token t with uniform u against p (and QW for sampled drafts); on rejection
// updates p (and QW without replacement). Returns 1 iff accepted, the same in every invocation.
fn tryChild(lid: u32, t: u32, u: f32) -> u32 {
  storageBarrier();
  let sampled = params.draft != 0u;
  if (lid == 0u) {
    let qt = select(1.0, scratch[QW(t)], sampled);
    flag = select(0u, 1u, u * qt < scratch[P(t)]); // u < min(1, p/q) without division
  }
  if (workgroupUniformLoad(&flag) == 1u) {
    return 1u;
  }
  if (!sampled) {
    // p <- norm(max(0, p - onehot(t))); if p was one-hot on t (round-off rejection) it stays
    var s = 0.0;
    for (var i = lid; i < VOCAB; i += WG) {
      s += scratch[P(i)];
    }
    s = sumF(lid, s);
    let rest = s - scratch[P(t)];
    storageBarrier();
    if (rest > 0.0) {
      for (var i = lid; i < VOCAB; i += WG) {
        scratch[P(i)] = select(scratch[P(i)] / rest, 0.0, i == t);
      }
    }
    return 0u;
  }
  // p <- norm(max(0, p - q)); an all-zero residual means p == q up to round-off: p stays
  var s = 0.0;
  for (var i = lid; i < VOCAB; i += WG) {
    s += max(0.0, scratch[P(i)] - scratch[QW(i)]);
  }
  s = sumF(lid, s);
  if (s > 0.0) {
    for (var i = lid; i < VOCAB; i += WG) {
      scratch[P(i)] = max(0.0, scratch[P(i)] - scratch[QW(i)]) / s;
    }
  }
  if (params.draft == 2u) {
    // without replacement the next child was drawn from q without t, renormalised
    var r = 0.0;
    for (var i = lid; i < VOCAB; i += WG) {
      if (i == t) {
        scratch[QW(i)] = 0.0;
      }
      r += scratch[QW(i)];
    }
    r = sumF(lid, r);
    if (r > 0.0) {
      for (var i = lid; i < VOCAB; i += WG) {
        scratch[QW(i)] = scratch[QW(i)] / r;
      }
    }
  }
  return 0u;
}

// Inverse-CDF draw from p with uniform u, as drawIndex: the first positive entry whose running
// sum exceeds u * total; round-off past the end gives the last positive entry. Invocation lid
// sums its contiguous chunk, an inclusive scan orders the chunks, and the one chunk holding
// u * total is walked by its owner.
fn drawBonus(lid: u32, u: f32) -> u32 {
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

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  // seen marks of the committed history (repetition penalty)
  if (params.penalty != 1.0) {
    for (var i = lid; i < VOCAB; i += WG) {
      scratch[SEEN(i)] = 0.0;
    }
    storageBarrier();
    for (var j = lid; j < params.history; j += WG) {
      let t = history[j];
      if (t < VOCAB) {
        scratch[SEEN(t)] = 1.0;
      }
    }
  }
  if (lid == 0u) {
    pathRows[0] = 0u;
  }
  var row = 0u;
  var count = 0u;
  var draws = 0u;
  var broken = false;
  loop {
    // read-only storage at a uniform address: the branch is uniform
    if (topKIds[row * K] == NO_ID) {
      broken = true;
      break;
    }
    storageBarrier();
    processRow(lid, row);
    var next = 0u;
    var loaded = false;
    // BFS order: row r's children are nodes >= r (rows > r), tried in node order.
    for (var i = row; i + 1u < params.rows; i++) {
      if (tree[TREE_PARENT + i] != row) {
        continue;
      }
      if (params.draft != 0u && !loaded) {
        loadQ(lid, tree[TREE_QSLOT + row]);
        loaded = true;
      }
      let accepted = tryChild(lid, tree[i], uniformAt(draws));
      draws++;
      if (accepted == 1u) {
        next = i + 1u;
        break;
      }
    }
    if (next == 0u) {
      break;
    }
    count++;
    if (lid == 0u) {
      pathRows[count] = next;
      // the accepted token joins the history of every row below it
      scratch[SEEN(tree[next - 1u])] = 1.0;
    }
    row = next;
  }
  var bonus = NO_ID;
  if (!broken) {
    bonus = drawBonus(lid, uniformAt(draws));
    draws++;
  }
  workgroupBarrier();
  writeResult(lid, count, bonus, draws);
}
