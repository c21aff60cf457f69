// After the acceptance walk of a Hydra step encoded ahead (src/draft/hydra-ahead.ts): the
// target's commit path for its compaction kernel (shaders/compact_kv_u32.wgsl), as
// Compact { prefix, count, 0, 0 } then the path (MAX_ROWS u32: verify rows 0, a1 + 1, ..), and
// what the next step reads of the accepted path, which the CPU has not read yet: its prefix
// (this prefix + accepted + 1) and root (the bonus), in `next` (shaders/hydra_tree_u32.wgsl).

const HEADER: u32 = 4u; // the walk's result header (shaders/common/accept_result.wgsl)

@group(0) @binding(0) var<storage, read> walk: array<u32>;           // (HEADER + depth + ...) the walk's result
@group(0) @binding(1) var<storage, read_write> next: array<u32>;     // (4) prefix, root, 0, 0
@group(0) @binding(2) var<storage, read_write> commit: array<u32>;   // (4 + MAX_ROWS) Compact, then the path

@compute @workgroup_size(1)
fn main() {
  let count = walk[0];
  let prefix = next[0];
  commit[0] = prefix;
  commit[1] = count + 1u;
  commit[2] = 0u;
  commit[3] = 0u;
  commit[4] = 0u;
  for (var j = 0u; j < count; j++) {
    commit[5u + j] = walk[HEADER + j] + 1u;
  }
  next[0] = prefix + count + 1u;
  next[1] = walk[1];
}
