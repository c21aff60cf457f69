// After the acceptance walk of a draft tree grown on the GPU (src/draft/gpu-grow.ts): the
// commit paths of both caches, for their compaction kernels (shaders/compact_kv_f32.wgsl), as
// Compact { prefix, count, 0, 0 } then the path (MAX_ROWS u32), target first, draft second.
// The target keeps verify rows [0, a1 + 1, ..]; the draft keeps the root's slot and the slots
// where the accepted nodes ran - all but a node of the deepest level, which no pass ran (the
// CPU appends that one's K/V to the draft cache when it syncs).
//
// A step encoded ahead (params.ahead = 1, src/draft/gpu-grow-ahead.ts) ran the deepest level too,
// so the draft keeps every accepted node, and this kernel writes what the next step reads of the
// accepted path, which the CPU has not read yet: its prefix (this prefix + accepted + 1) and root
// (the bonus) after the paths (NEXT, copied into GrowParams at the next step's start), the prefix
// word of every pass's Step words, and the draft's first pass input (the root at its position);
// and it advances the stream position of the request's draws past those this step used
// (draft_uniforms_u32.wgsl loads the next step's from there).
//#include common/draft_grow.wgsl

const HEADER: u32 = 4u; // the walk's result header (shaders/common/accept_result.wgsl)
const PATH: u32 = 128u; // MAX_ROWS path words per cache

@group(0) @binding(0) var<uniform> params: GrowParams;
@group(0) @binding(1) var<storage, read> state: GrowState;
@group(0) @binding(2) var<storage, read> walk: array<u32>;              // (HEADER + maxDepth + ...) the walk's result
@group(0) @binding(3) var<storage, read_write> commit: array<u32>;      // (2, 4 + PATH) target, then draft; then NEXT
@group(0) @binding(4) var<storage, read_write> steps: array<vec4<u32>>; // Step words of the step's passes (rows, prefix, rowBase, 0)
@group(0) @binding(5) var<storage, read_write> draftTokens: array<u32>; // (maxRows) the draft's pass input
@group(0) @binding(6) var<storage, read_write> draftPositions: array<u32>;

const NEXT: u32 = 2u * (4u + PATH); // the next step's (prefix, root, stream position of its uniforms)

@compute @workgroup_size(1)
fn main() {
  let count = walk[0];
  var ran = min(count, params.maxDepth - 1u);
  if (params.ahead == 1u) { ran = count; }
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
  if (params.ahead == 1u) {
    let prefix = params.prefix + count + 1u;
    let root = walk[1];
    commit[NEXT] = prefix;
    commit[NEXT + 1u] = root;
    commit[NEXT + 2u] += state.draws + walk[2]; // the uniforms the levels and the walk used
    for (var i = 0u; i < arrayLength(&steps); i++) { steps[i].y = prefix; }
    draftTokens[0] = root;
    draftPositions[0] = prefix;
  }
}
