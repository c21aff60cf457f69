// The uniforms of a sampled draft step encoded ahead (src/draft/gpu-grow-ahead.ts), at the start
// of its command buffer: the request's raw draws from the stream position where the steps before
// it stopped (the commit kernel of the last step advanced it by the draws that step used,
// draft_commit_u32.wgsl), out of a ring the CPU fills ahead (stream position p at p mod its
// length), into GrowState.uniforms; no draw used yet. A step read before the next gets the same
// draws written by the CPU, so both use the request's stream in the same order.
//#include common/draft_grow.wgsl

const NEXT: u32 = 2u * (4u + 128u); // the next step's (prefix, root, stream position) in the commit buffer

@group(0) @binding(0) var<storage, read> commit: array<u32>;
@group(0) @binding(1) var<storage, read> pool: array<u32>;              // the ring of raw draws
@group(0) @binding(2) var<storage, read_write> state: GrowState;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) i: u32) {
  let start = commit[NEXT + 2u];
  state.uniforms[i] = pool[(start + i) % arrayLength(&pool)];
  if (i == 0u) { state.draws = 0u; }
}
