// One level of a greedy draft tree grown on the GPU (src/draft/gpu-grow.ts; the CPU oracle is
// greedyLevel in src/draft/tree-select.ts, the rule of EAGLE-2, Li et al. 2024): after the draft
// pass over the frontier rows, each frontier node offers its W most likely children (the pass's
// top-k, ties to the lowest id) with cumulative log-probability base + logit - logsumexp(row);
// a candidate enters only if it beats the budget-th best node grown so far; the level keeps the
// W best candidates (a stable order: ties keep frontier order, then child rank), which become
// the next frontier, and writes the next pass's inputs (tokens, positions, masks) in place.
// Rows past the frontier are padding: token 0 at the root's position, seeing only their own slot.
//
// One workgroup: WG threads reduce each frontier row's logsumexp, thread 0 selects.
//#include common/draft_grow.wgsl
//#include common/neg_inf.wgsl
//#include common/draft_level.wgsl

override WG: u32 = 256;
override K: u32;      // top-k width of the draft pass (>= W)
override V: u32;      // width of a draft logits row (the vocabulary, or the kept rows of VocabTrim)

@group(0) @binding(0) var<uniform> params: GrowParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;            // (rows, V) the last draft pass
@group(0) @binding(2) var<storage, read> topKIds: array<u32>;           // (rows, K) best ids per row
@group(0) @binding(3) var<storage, read> topKValues: array<f32>;        // (rows, K) their logits
@group(0) @binding(4) var<storage, read> kept: array<u32>;              // (V) token of each LM-head row (trimmed), else unused
@group(0) @binding(5) var<storage, read_write> state: GrowState;
@group(0) @binding(6) var<storage, read_write> tokens: array<u32>;      // (maxRows) the draft's pass input
@group(0) @binding(7) var<storage, read_write> positions: array<u32>;   // (maxRows)
@group(0) @binding(8) var<storage, read_write> mask: array<vec4<u32>>;  // (maxRows) slot-offset bits

//#include common/workgroup_reduce.wgsl

var<workgroup> lse: array<f32, MAX_W>;              // logsumexp of each frontier row
var<workgroup> frontierRows: u32;
var<workgroup> candLogp: array<f32, MAX_W * MAX_W>; // candidates, best first
var<workgroup> candId: array<u32, MAX_W * MAX_W>;   // LM-head row of the candidate
var<workgroup> candFrom: array<u32, MAX_W * MAX_W>; // frontier index of its parent

fn rowLogSumExp(lid: u32, r: u32) -> f32 {
  var mx = negInf();
  for (var j = lid; j < V; j += WG) { mx = max(mx, logits[r * V + j]); }
  let m = maxF(lid, mx);
  var s = 0.0;
  for (var j = lid; j < V; j += WG) { s += exp(logits[r * V + j] - m); }
  return m + log(sumF(lid, s));
}

// The budget-th best cumulative log-probability of the nodes so far (-inf while fewer).
fn floorLogp() -> f32 {
  let n = state.count;
  if (n < params.budget) { return negInf(); }
  var best = array<f32, MAX_NODES>();
  for (var i = 0u; i < n; i++) { best[i] = state.logp[i]; }
  // partial selection sort: positions 0..budget-1 hold the best values, descending
  for (var a = 0u; a < params.budget; a++) {
    var at = a;
    for (var i = a + 1u; i < n; i++) { if (best[i] > best[at]) { at = i; } }
    let t = best[a];
    best[a] = best[at];
    best[at] = t;
  }
  return best[params.budget - 1u];
}

// Candidates above the floor, stably sorted by log-probability (insertion: ties stay in push order).
fn collect(W: u32) -> u32 {
  let floor = floorLogp();
  var n = 0u;
  for (var i = 0u; i < frontierRows; i++) {
    let f = state.frontier[i];
    var base = 0.0;
    if (f != NONE) { base = state.logp[f]; }
    for (var c = 0u; c < W; c++) {
      let id = topKIds[i * K + c];
      if (id >= V) { continue; }
      let lp = base + topKValues[i * K + c] - lse[i];
      if (!(lp > floor)) { continue; }
      var at = n;
      while (at > 0u && lp > candLogp[at - 1u]) {
        candLogp[at] = candLogp[at - 1u];
        candId[at] = candId[at - 1u];
        candFrom[at] = candFrom[at - 1u];
        at--;
      }
      candLogp[at] = lp;
      candId[at] = id;
      candFrom[at] = i;
      n++;
    }
  }
  return n;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) { frontierRows = state.frontierCount; }
  let fc = workgroupUniformLoad(&frontierRows);
  for (var i = 0u; i < fc; i++) {
    let v = rowLogSumExp(lid, i);
    if (lid == 0u) { lse[i] = v; }
  }
  if (lid != 0u) { return; }
  let W = params.width;
  let level = state.level;
  let added = min(W, collect(W)); // room: the pass after a level holds W rows
  let start = state.count;
  let rowBase = 1u + W * (level - 1u); // slot offset of this level's nodes (and of the next pass's row 0)
  for (var a = 0u; a < added; a++) {
    let id = candId[a];
    addNode(start + a, select(id, kept[id], params.trimmed == 1u), state.frontier[candFrom[a]], level, candLogp[a], rowBase + a);
  }
  finishLevel(start, added, level, rowBase, W, params.prefix);
}
