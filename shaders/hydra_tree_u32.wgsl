// The verify inputs of a Hydra step encoded ahead (src/draft/hydra-ahead.ts): the tree the last
// step's heads drafted on the GPU, written where the target's pass and the acceptance walk read
// it, before the CPU has read that step. What depends on the steps before (the prefix and the
// root, `next`, written by shaders/hydra_commit_u32.wgsl; the drafted ids) comes from the GPU;
// what depends only on the tree's shape (each node's word in `drafted` and its depth, the mask,
// the walk's parent rows) the CPU writes. Row 0 is the root, row i + 1 node i:
//   tokens[0] = root, tokens[i + 1] = vocabIds[drafted[plan.word[i]]]
//   positions[r] = prefix + depth(r), walk tree tokens[i] = tokens[i + 1], Step = (rows, prefix, 0, 0)

override WG: u32 = 64;

const MAX_ROWS: u32 = 128u;

@group(0) @binding(0) var<storage, read> plan: array<u32>;             // (4 + 2 * MAX_ROWS) rows, 0, 0, 0, then (word, depth) per node
@group(0) @binding(1) var<storage, read> next: array<u32>;             // (4) prefix, root, 0, 0
@group(0) @binding(2) var<storage, read> drafted: array<u32>;          // (levels, frontier, k) trimmed ids of the last drafting, back to back
@group(0) @binding(3) var<storage, read> vocabIds: array<u32>;         // (trim) token id of each trimmed index
@group(0) @binding(4) var<storage, read_write> tokens: array<u32>;     // (maxRows) the target's pass input
@group(0) @binding(5) var<storage, read_write> positions: array<u32>;  // (maxRows)
@group(0) @binding(6) var<storage, read_write> walkTree: array<u32>;   // (4, MAX_ROWS) tokens section first (common/accept_result.wgsl)
@group(0) @binding(7) var<storage, read_write> step: array<u32>;       // (4) the verify pass's Step words

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  let rows = plan[0];
  let prefix = next[0];
  for (var r = lid; r < rows; r += WG) {
    if (r == 0u) {
      tokens[0] = next[1];
      positions[0] = prefix;
    } else {
      let i = r - 1u;
      let token = vocabIds[drafted[plan[4u + 2u * i]]];
      tokens[r] = token;
      positions[r] = prefix + plan[5u + 2u * i];
      walkTree[i] = token;
    }
  }
  if (lid == 0u) {
    step[0] = rows;
    step[1] = prefix;
    step[2] = 0u;
    step[3] = 0u;
  }
}
