// Per-pass parameters shared by every kernel of one forward pass. The forward driver writes
// this uniform once per forward call (StepUniform in src/gpu/step.ts) before the single submit,
// so every dispatch of that submit sees the same values.
//  rows:   rows in this pass (1..128): tokens of a prefill chunk or nodes of a draft tree.
//  prefix: committed KV-cache slots that every row sees (attention only).
//  rowBase: row r writes its K/V to slot prefix + rowBase + r (0 for every pass but the levels
//           of a draft tree grown on the GPU, which keep earlier levels' rows at slots
//           prefix..prefix+rowBase-1); mask bit j always names slot prefix + j.
struct Step {
  rows: u32,
  prefix: u32,
  rowBase: u32,
  pad1: u32,
}
