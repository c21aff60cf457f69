// After the acceptance walk of a draft tree grown on the GPU (src/draft/gpu-grow.ts): the
// commit paths of both caches, for their compaction kernels (shaders/compact_kv_f32.wgsl), as
// Compact { prefix, count, 0, 0 } then the path (MAX_ROWS u32), target first, draft second.
// The target keeps verify rows [0, a1 + 1, ..]; the draft keeps the root's slot and the slots
// where the accepted nodes ran - all but a node of the deepest level, which no pass ran (the
// CPU appends that one's K/V to the draft cache when it syncs).
//#include common/draft_grow.wgsl

const HEADER: u32 = 4u; // the walk's result header (shaders/common/accept_result.wgsl)
const PATH: u32 = 128u; // MAX_ROWS path words per cache

@group(0) @binding(0) var<uniform> params: GrowParams;
@group(0) @binding(1) var<storage, read> state: GrowState;
@group(0) @binding(2) var<storage, read> walk: array<u32>;              // (HEADER + maxDepth + ...) the walk's result
@group(0) @binding(3) var<storage, read_write> commit: array<u32>;      // (2, 4 + PATH) target, then draft

@compute @workgroup_size(1)
fn main() {
  let count = walk[0];
  let ran = min(count, params.maxDepth - 1u);
  let d = 4u + PATH;
  commit[0] = params.prefix;
  commit[1] = count + 1u;
  commit[2] = 0u;
  commit[3] = 0u;
  commit[d] = params.prefix;
  commit[d + 1u] = ran + 1u;
  commit[d + 2u] = 0u;
  commit[d + 3u] = 0u;
  commit[4u] = 0u;
  commit[d + 4u] = 0u;
  for (var j = 0u; j < count; j++) {
    let t = walk[HEADER + j];
    commit[4u + j + 1u] = t + 1u;
    if (j < ran) { commit[d + 4u + j + 1u] = state.slot[state.keptNode[t]]; }
  }
}
