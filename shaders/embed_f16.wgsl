// Embedding gather from an f16 table packed two per u32, rows packed separately (src/gpu/buffers.ts):
// out[r, :] = f32(table[tokens[r], :]) * SCALE for the first step.rows rows. One thread per packed pair.
// Invariant: every token < VOCAB (see embed_f32.wgsl).
//#include common/step.wgsl

override WG: u32 = 256;
override HIDDEN: u32;
override SCALE: f32 = 1.0; // Gemma: sqrt(hidden) (rounded to f32), else 1
// A table split by rows (src/model/upload.ts RowParts): this dispatch's part holds rows
// [FIRST, FIRST + COUNT); rows whose token is elsewhere are left to the other parts' dispatches.
override FIRST: u32 = 0u;
override COUNT: u32 = 0xffffffffu;
override STRIDE: u32 = (HIDDEN + 1u) / 2u;  // u32 per packed table row

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;        // (maxRows,)
@group(0) @binding(2) var<storage, read> table: array<u32>;         // (COUNT, STRIDE) f16 pairs: table rows FIRST.. (all: VOCAB)
@group(0) @binding(3) var<storage, read_write> out: array<f32>;     // (maxRows, HIDDEN)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= step.rows * STRIDE) {
    return;
  }
  let r = i / STRIDE;
  let p = i % STRIDE;
  let t = tokens[r] - FIRST; // wraps past COUNT for a token below FIRST
  if (t >= COUNT) {
    return;
  }
  let v = unpack2x16float(table[t * STRIDE + p]) * SCALE;
  let c = 2u * p;
  out[r * HIDDEN + c] = v.x;
  // an odd HIDDEN leaves the last pair's high half as padding
  if (c + 1u < HIDDEN) {
    out[r * HIDDEN + c + 1u] = v.y;
  }
}
