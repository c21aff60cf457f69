// A level's bookkeeping, shared by the greedy and the sampled level kernels (draft_level_f32.wgsl,
// draft_sample_f32.wgsl): the including kernel declares `state` (GrowState, common/draft_grow.wgsl)
// and the draft's pass inputs `tokens`, `positions` and `mask` (bindings). Invocation 0 calls these.

// Grown node `node`: its token, parent f (NONE = the root), depth, cumulative log-probability and
// the slot offset where it runs, which is also its mask bit (added to its parent's bits).
fn addNode(node: u32, token: u32, f: u32, depth: u32, logp: f32, slot: u32) {
  state.token[node] = token;
  state.parent[node] = f;
  state.depth[node] = depth;
  state.logp[node] = logp;
  state.slot[node] = slot;
  var inherited = maskBit(0u); // the root's bit
  if (f != NONE) { inherited = state.mask[f]; }
  state.mask[node] = inherited | maskBit(slot);
}

// Ends level `level`, whose nodes start .. start + added - 1 run at slot offsets rowBase + a: they
// become the frontier, and the next pass's W rows are written in place: the new frontier, then
// padding rows (token 0 at the root's position `prefix`, seeing only their own slot).
fn finishLevel(start: u32, added: u32, level: u32, rowBase: u32, W: u32, prefix: u32) {
  for (var a = 0u; a < added; a++) { state.frontier[a] = start + a; }
  state.count = start + added;
  state.frontierCount = added;
  state.level = level + 1u;
  for (var r = 0u; r < W; r++) {
    tokens[r] = 0u;
    positions[r] = prefix;
    mask[r] = maskBit(rowBase + r);
    if (r < added) {
      tokens[r] = state.token[start + r];
      positions[r] = prefix + level;
      mask[r] = state.mask[start + r];
    }
  }
}
