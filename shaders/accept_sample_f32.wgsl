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
//#include common/target_probs.wgsl

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
fn rowLogit(row: u32, i: u32) -> f32 { return logits[row * VOCAB + i]; }

var<workgroup> flag: u32;          // invocation 0's accept decision, read uniformly

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
    bonus = drawFrom(lid, uniformAt(draws));
    draws++;
  }
  workgroupBarrier();
  writeResult(lid, count, bonus, draws);
}
