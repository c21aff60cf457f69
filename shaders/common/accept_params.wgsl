// The acceptance walk's parameters (src/verify/gpu-walk.ts writeParams), also read by the sampled
// draft level (draft_sample_f32.wgsl), which draws from the request's distribution family.

struct AcceptParams {
  rows: u32,         // verify rows: the root + the tree's nodes (1..MAX_ROWS)
  maxDepth: u32,     // depth of the deepest node: an accepted path holds at most this many nodes
  allRows: u32,      // 1: gather every row's top-k in row order; 0: the path rows' in path order
  draft: u32,        // 0 deterministic (one-hot q), 1 sampled with replacement, 2 without
  history: u32,      // committed tokens in `history` (repetition penalty; 0 when it is off)
  topK: u32,         // top-k filter, 0 = off
  temperature: f32,  // > 0; 0 (with a penalty) gives the one-hot argmax
  topP: f32,         // nucleus filter in (0, 1], 1 = off
  penalty: f32,      // repetition penalty, 1 = off
  pad0: u32,
  pad1: u32,
  pad2: u32,
}
