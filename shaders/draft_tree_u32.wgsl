// The finished draft tree (src/draft/gpu-grow.ts; CPU oracle: rerank in src/draft/tree-select.ts):
// EAGLE-2's reranking keeps the `budget` best grown nodes by cumulative log-probability (ties:
// shallower first, then earlier grown), in grown (BFS) order with parents renumbered - a parent
// never ranks after its child, so the kept nodes form a tree. Written straight into the target's
// verify inputs (row 0 = the root, row t + 1 = node t, positions prefix + depth, ancestor masks
// by row) and into the acceptance walk's tree (shaders/common/accept_result.wgsl sections), and
// kept in the state for the readback. For a sampled tree (draft_sample_f32.wgsl: every grown
// node is kept, count <= budget) each row's q slot is its slot offset, and the walk's uniforms
// are the ones after those the levels used. Rows m + 1 .. targetRows - 1 are padding: the root's token
// at its position, seeing only themselves, with a parent no row has (never accepted).
//
// One workgroup; invocation 0 works (at most 128 nodes).
//#include common/draft_grow.wgsl

// the walk's tree sections (MAX_ROWS each): tokens, parent rows, q slots, uniforms
const WALK_PARENT: u32 = 128u;
const WALK_QSLOT: u32 = 256u;
const WALK_UNIFORM: u32 = 384u;

@group(0) @binding(0) var<uniform> params: GrowParams;
@group(0) @binding(1) var<storage, read_write> state: GrowState;
@group(0) @binding(2) var<storage, read_write> tokens: array<u32>;      // (maxRows) the target's pass input
@group(0) @binding(3) var<storage, read_write> positions: array<u32>;   // (maxRows)
@group(0) @binding(4) var<storage, read_write> mask: array<vec4<u32>>;  // (maxRows) row bits
@group(0) @binding(5) var<storage, read_write> walkTree: array<u32>;    // (4, MAX_ROWS) the walk's tree

// Whether grown node a ranks before grown node b.
fn ranksBefore(a: u32, b: u32) -> bool {
  let la = state.logp[a];
  let lb = state.logp[b];
  if (la != lb) { return la > lb; }
  let da = state.depth[a];
  let db = state.depth[b];
  if (da != db) { return da < db; }
  return a < b;
}

@compute @workgroup_size(1)
fn main() {
  let n = state.count;
  var newIndex = array<i32, MAX_NODES>();
  var m = 0u;
  for (var i = 0u; i < n; i++) {
    var rank = 0u;
    if (n > params.budget) {
      for (var j = 0u; j < n; j++) { if (ranksBefore(j, i)) { rank++; } }
    }
    newIndex[i] = -1;
    if (rank < params.budget) {
      newIndex[i] = i32(m);
      state.keptNode[m] = i;
      m++;
    }
  }
  tokens[0] = params.root;
  positions[0] = params.prefix;
  mask[0] = maskBit(0u);
  for (var t = 0u; t < m; t++) {
    let i = state.keptNode[t];
    let p = state.parent[i];
    var parent = -1;
    if (p != NONE) { parent = newIndex[p]; }
    state.treeToken[t] = state.token[i];
    state.treeParent[t] = parent;
    tokens[t + 1u] = state.token[i];
    positions[t + 1u] = params.prefix + state.depth[i];
    mask[t + 1u] = mask[u32(parent + 1)] | maskBit(t + 1u);
    walkTree[t] = state.token[i];
    walkTree[WALK_PARENT + t] = u32(parent + 1);
    walkTree[WALK_QSLOT + t + 1u] = state.slot[i];
  }
  walkTree[WALK_QSLOT] = 0u; // the root's q slot
  for (var r = 0u; r < params.targetRows; r++) { walkTree[WALK_UNIFORM + r] = state.uniforms[state.draws + r]; }
  for (var r = m + 1u; r < params.targetRows; r++) {
    tokens[r] = params.root;
    positions[r] = params.prefix;
    mask[r] = maskBit(r);
    walkTree[r - 1u] = 0u;
    walkTree[WALK_PARENT + r - 1u] = NONE;
  }
  state.kept = m;
}
