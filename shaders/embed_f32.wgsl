// Embedding gather: out[r, :] = table[tokens[r], :] * SCALE for the first step.rows rows.
// Invariant: every token < VOCAB (ids come from the tokenizer or from argmax/top-k over VOCAB);
// WebGPU's robust buffer access keeps a bad id from reading outside the table.
//#include common/step.wgsl

override WG: u32 = 256;
override HIDDEN: u32;
override SCALE: f32 = 1.0; // Gemma: sqrt(hidden) (rounded to f32), else 1
// A table split by rows (src/model/upload.ts RowParts): this dispatch's part holds rows
// [FIRST, FIRST + COUNT); rows whose token is elsewhere are left to the other parts' dispatches.
override FIRST: u32 = 0u;
override COUNT: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;        // (maxRows,)
@group(0) @binding(2) var<storage, read> table: array<f32>;         // (COUNT, HIDDEN): table rows FIRST.. (all: VOCAB)
@group(0) @binding(3) var<storage, read_write> out: array<f32>;     // (maxRows, HIDDEN)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= step.rows * HIDDEN) {
    return;
  }
  let r = i / HIDDEN;
  let c = i % HIDDEN;
  let t = tokens[r] - FIRST; // wraps past COUNT for a token below FIRST
  if (t >= COUNT) {
    return;
  }
  out[i] = table[t * HIDDEN + c] * SCALE;
}
