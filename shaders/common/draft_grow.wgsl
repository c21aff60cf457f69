// Shared by the kernels that grow a draft tree on the GPU (src/draft/gpu-grow.ts; the CPU
// oracle is src/draft/tree-select.ts): the step's parameters and the growing tree's state.
//
// Slots: the root runs at slot prefix (draft pass 1, one row); the nodes of depth d run in
// pass d + 1 as its rows 0..W-1 at slots prefix + 1 + W * (d - 1) + i, i = the node's index
// among the nodes added at its level. A node's mask bit is its slot offset (slot - prefix), so
// level d's rows see the root and their ancestors of earlier levels in the draft's own cache.

struct GrowParams {
  width: u32,       // W: frontier nodes per level and children offered per node (<= MAX_W)
  budget: u32,      // nodes the finished tree may keep (EAGLE-2's reranking)
  maxDepth: u32,    // levels grown (passes run: maxDepth; the last level's nodes are never run)
  prefix: u32,      // n - 1: the root's position and the first uncommitted slot of both caches
  root: u32,        // the root token
  targetRows: u32,  // rows of the verify pass: 1 + the most nodes the tree can keep; the rest is padding
  trimmed: u32,     // 1: LM-head row i of the draft is token kept[i] (VocabTrim)
  ahead: u32,       // 1: a step encoded ahead (src/draft/gpu-grow-ahead.ts): the deepest level ran in a
                    // pass of its own, and the commit kernel writes the next step's state (draft_commit_u32.wgsl)
}

const MAX_NODES: u32 = 128u;
const MAX_W: u32 = 16u;
const NONE: u32 = 0xffffffffu; // the root as a parent, and a padding row's parent in the walk's tree

struct GrowState {
  kept: u32,                          // nodes of the finished tree (m)
  count: u32,                         // nodes grown so far
  frontierCount: u32,                 // nodes added by the last level (the next pass's real rows)
  level: u32,                         // the next level to select (1 = the root's children)
  treeToken: array<u32, MAX_NODES>,   // (m) finished tree: token of node t (BFS order)
  treeParent: array<i32, MAX_NODES>,  // (m) finished tree: parent node of node t, -1 = the root
  frontier: array<u32, MAX_W>,        // (frontierCount) grown node indices, NONE = the root
  keptNode: array<u32, MAX_NODES>,    // (m) grown node index of finished node t
  token: array<u32, MAX_NODES>,       // (count) grown nodes: token id
  parent: array<u32, MAX_NODES>,      // (count) parent node index, NONE = the root
  depth: array<u32, MAX_NODES>,       // (count) depth, root = 0
  logp: array<f32, MAX_NODES>,        // (count) cumulative log-probability under the draft
  slot: array<u32, MAX_NODES>,        // (count) slot offset from prefix where the node runs
  mask: array<vec4<u32>, MAX_NODES>,  // (count) slot-offset bits of the node, its ancestors and the root
  draws: u32,                         // uniforms the sampled levels used (draft_sample_f32.wgsl)
  uniforms: array<u32, 256>,          // raw u32 draws of the request's Rng taken ahead: the levels', then the walk's
}

// Bit `j` of a four-word mask.
fn maskBit(j: u32) -> vec4<u32> {
  var m = vec4<u32>(0u);
  m[j >> 5u] = 1u << (j & 31u);
  return m;
}
