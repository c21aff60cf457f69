// One level of a SAMPLED draft tree grown on the GPU (src/draft/gpu-grow.ts; the CPU oracle is
// sampleLevel in src/draft/tree-select.ts, the rule of ModelDrafter under sampling). After the
// draft pass over the frontier rows:
//  1. how many children each frontier node gets is fixed before any draw, from values already
//     known (a child dropped for its own value would bias the draws): count = min(W, budget -
//     nodes so far) children, one per frontier node in order of cumulative log q (stable), the
//     surplus to the best one;
//  2. for each frontier node in that order with children: q = the request's distribution
//     (src/verify/sampler.ts targetProbs: repetition penalty over the committed tokens and the
//     node's path, temperature, top-k, top-p) of its draft logits row over the target's
//     vocabulary, written to the walk's q slot of the node (its slot offset; the root's is 0),
//     where shaders/accept_sample_f32.wgsl reads it, so recursive rejection sampling stays
//     lossless (DESIGN section 5). Under VocabTrim (grow.trimmed) row entry j is the logit of
//     token kept[j]: the row is first spread over the vocabulary with -inf at every token the head
//     does not keep (q = 0 there, as ModelDrafter.propose() builds it; the walk's residual
//     max(p - q, 0) reads q of every token), so penalty marks, top-k and top-p ties and the draws
//     all run in token order;
//  3. its children are drawn WITHOUT replacement from q (inverse CDF, one uniform each, the drawn
//     token zeroed before the next draw); a q with no mass left ends the node's draws without
//     using a uniform. Each child's cumulative log q is its parent's + log q(t).
// The added nodes become the next frontier and the next pass's inputs, as in draft_level_f32.wgsl.
// Uniforms are the raw u32 draws in state.uniforms taken ahead by the CPU; state.draws counts
// those used, and the tree kernel hands the walk the ones after them.
//
// One workgroup; each step is parallel over the vocabulary (VOCAB; the spread over the ROWS
// entries of a trimmed row), invocation 0 does the bookkeeping.
//#include common/draft_grow.wgsl
//#include common/draft_level.wgsl
//#include common/accept_params.wgsl
//#include common/ranking.wgsl
//#include common/workgroup_reduce.wgsl
//#include common/workgroup_argmax.wgsl
//#include common/target_probs.wgsl

override WG: u32 = 256;   // power of two
override VOCAB: u32;      // the target's vocabulary: the width of q, of the scratch sections and the range of a token id
override ROWS: u32;       // the draft's logits row width: VOCAB, or the N LM-head rows kept under VocabTrim
override CHUNK: u32 = (VOCAB + WG - 1u) / WG;

@group(0) @binding(0) var<uniform> grow: GrowParams;
@group(0) @binding(1) var<uniform> params: AcceptParams;               // the request's sampling options (the walk's)
@group(0) @binding(2) var<storage, read> logits: array<f32>;           // (rows, ROWS) the last draft pass
@group(0) @binding(3) var<storage, read> history: array<u32>;          // (params.history) committed tokens
@group(0) @binding(4) var<storage, read_write> state: GrowState;
@group(0) @binding(5) var<storage, read_write> tokens: array<u32>;     // (maxRows) the draft's pass input
@group(0) @binding(6) var<storage, read_write> positions: array<u32>;  // (maxRows)
@group(0) @binding(7) var<storage, read_write> mask: array<vec4<u32>>; // (maxRows) slot-offset bits
@group(0) @binding(8) var<storage, read_write> q: array<f32>;          // (slots, VOCAB) the walk's q of each parent row
@group(0) @binding(9) var<storage, read_write> scratch: array<f32>;    // (3, VOCAB) the walk's scratch: P, SPREAD, SEEN
@group(0) @binding(10) var<storage, read> kept: array<u32>;            // (ROWS) token of each LM-head row (trimmed), else unused

// scratch sections: P the distribution; SPREAD a trimmed row over the vocabulary (the walk's
// working q, which it reloads from the q buffer at every row it visits); SEEN the history marks.
fn P(i: u32) -> u32 { return i; }
fn SPREAD(i: u32) -> u32 { return VOCAB + i; }
fn SEEN(i: u32) -> u32 { return 2u * VOCAB + i; }

// Token i's logit in frontier row `row`: the row itself, or its spread (spreadRow) when trimmed.
fn rowLogit(row: u32, i: u32) -> f32 {
  if (grow.trimmed == 1u) { return scratch[SPREAD(i)]; }
  return logits[row * ROWS + i];
}

// SPREAD = trimmed row `row` over the vocabulary: token kept[j] gets entry j, every other token -inf.
fn spreadRow(lid: u32, row: u32) {
  for (var i = lid; i < VOCAB; i += WG) { scratch[SPREAD(i)] = negInf(); }
  storageBarrier();
  for (var j = lid; j < ROWS; j += WG) { scratch[SPREAD(kept[j])] = logits[row * ROWS + j]; }
}

var<workgroup> frontierRows: u32;
var<workgroup> order: array<u32, MAX_W>; // frontier indices, best cumulative log q first
var<workgroup> kids: array<u32, MAX_W>;  // children allotted to order[r]
var<workgroup> drawn: u32;               // uniforms used so far
var<workgroup> got: u32;                 // the last draw's token, read uniformly

// The u-th uniform in [0, 1): the top 24 bits of the raw draw, as the walk's uniformAt.
fn uniformAt(u: u32) -> f32 {
  return f32(state.uniforms[u] >> 8u) * (1.0 / 16777216.0);
}

fn baseLogp(f: u32) -> f32 {
  if (f == NONE) { return 0.0; }
  return state.logp[f];
}

// The walk's q slot of node f's row: its slot offset (the root's is 0).
fn qSlot(f: u32) -> u32 {
  if (f == NONE) { return 0u; }
  return state.slot[f];
}

// Invocation 0: the frontier in order of cumulative log q (insertion sort, stable) and the
// children of each, fixed before drawing.
fn allot(fc: u32) {
  for (var i = 0u; i < fc; i++) {
    let lp = baseLogp(state.frontier[i]);
    var at = i;
    while (at > 0u && lp > baseLogp(state.frontier[order[at - 1u]])) {
      order[at] = order[at - 1u];
      at--;
    }
    order[at] = i;
  }
  let count = min(grow.width, select(0u, grow.budget - state.count, grow.budget > state.count));
  for (var r = 0u; r < fc; r++) { kids[r] = select(0u, 1u, r < count); }
  if (fc > 0u && count > fc) { kids[0] += count - fc; }
}

// SEEN marks the committed tokens and the tokens of node f's path (the history of its row).
fn markHistory(lid: u32, f: u32) {
  for (var i = lid; i < VOCAB; i += WG) { scratch[SEEN(i)] = 0.0; }
  storageBarrier();
  for (var j = lid; j < params.history; j += WG) {
    let t = history[j];
    if (t < VOCAB) { scratch[SEEN(t)] = 1.0; }
  }
  if (lid == 0u) {
    for (var u = f; u != NONE; u = state.parent[u]) { scratch[SEEN(state.token[u])] = 1.0; }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) {
    frontierRows = state.frontierCount;
    drawn = state.draws;
    allot(state.frontierCount);
  }
  let fc = workgroupUniformLoad(&frontierRows);
  let W = grow.width;
  let level = state.level;
  let start = state.count;
  let rowBase = 1u + W * (level - 1u); // slot offset of this level's nodes (and of the next pass's row 0)
  var added = 0u;
  for (var r = 0u; r < fc; r++) {
    let n = workgroupUniformLoad(&kids[r]);
    if (n == 0u) { continue; }
    let i = workgroupUniformLoad(&order[r]); // the node's frontier index = its row in the pass
    let f = state.frontier[i];
    if (params.penalty != 1.0) { markHistory(lid, f); }
    if (grow.trimmed == 1u) { spreadRow(lid, i); }
    storageBarrier();
    processRow(lid, i);
    storageBarrier();
    let slot = qSlot(f);
    for (var j = lid; j < VOCAB; j += WG) { q[slot * VOCAB + j] = scratch[P(j)]; }
    for (var c = 0u; c < n; c++) {
      let t = drawFrom(lid, uniformAt(workgroupUniformLoad(&drawn)));
      if (lid == 0u) { got = t; }
      if (workgroupUniformLoad(&got) == NO_ID) { break; } // no mass left: no uniform used
      if (lid == 0u) {
        addNode(start + added, t, f, level, baseLogp(f) + log(scratch[P(t)]), rowBase + added);
        scratch[P(t)] = 0.0;
        drawn++;
      }
      added++;
    }
  }
  if (lid == 0u) {
    state.draws = drawn;
    finishLevel(start, added, level, rowBase, W, grow.prefix);
  }
}
