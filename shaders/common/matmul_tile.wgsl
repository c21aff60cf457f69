// Shared part of the matmul kernels (matmul_f32.wgsl, matmul_f16.wgsl, common/matmul_quant.wgsl): y (rows, OUT) =
// x (rows, IN) @ W^T (+ bias) (+ y when ACCUMULATE), W in Hugging Face's (out, in) layout.
//
// Two entry points per kernel file, picked per adapter (src/ops/matmul.ts):
//  main: split-K (below), for GPUs.
//  perColumn (variant 'dot'): one thread per output column and row tile, looping over all of
//        IN with no workgroup memory and no barriers. For SwiftShader, which runs invocations
//        on CPU threads where a barrier costs a fiber switch per invocation: on a 576 -> 1536
//        mat-vec here a split-K kernel ran about 7x slower than a per-column one. Adjacent
//        threads read weight rows IN apart, so on a GPU its reads are not coalesced.
//
// Work split of main (why): a decode or tree-verify pass is bound by reading W once, so each
// workgroup owns 4 output columns (one vec4) and a tile of TR rows held in registers; the WG threads of
// the workgroup split the IN axis, so consecutive threads read consecutive weights (coalesced)
// and each weight read feeds TR rows. Row tiles are the fastest-varying workgroup index
// (wid.x), so the workgroups that re-read one weight tile for other row tiles run next to each
// other and find it in cache. One pipeline per TR tier (1 for decode, larger for trees); the
// op picks the tier from the row count at encode time.
// IN and OUT are uniforms, not overrides, so every layer shape shares the pipelines of one
// (dtype, TR, flags) variant: compiling a pipeline per shape and tier cost seconds each on
// SwiftShader, and loop bounds from a uniform cost nothing in a memory-bound kernel.
// Includer declares: override WG, TR, HAS_BIAS, ACCUMULATE; bindings step, dims, bias, y.

// The op's fixed sizes, written once at construction.
struct MatmulDims {
  inDim: u32,   // IN: x row width
  outDim: u32,  // OUT: y row width, weight rows
  stride: u32,  // weight words per row: IN for f32, ceil(IN/2) for f16 pairs, quantRowWords for q8/q4
  pad: u32,
}

const MAX_TR: u32 = 16u;
override RED: u32 = WG * TR;  // vec4 partial sums per workgroup, laid out (TR, WG)

var<workgroup> red: array<vec4<f32>, RED>;

// Sums the per-thread partials acc[0..TR) over the workgroup and writes the (TR, 4) tile at
// (row0, o0). Called by every thread of the workgroup (it has barriers).
fn reduceAndStore(acc: ptr<function, array<vec4<f32>, MAX_TR>>, lid: u32, row0: u32, o0: u32) {
  for (var r = 0u; r < TR; r++) {
    red[r * WG + lid] = (*acc)[r];
  }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      for (var r = 0u; r < TR; r++) {
        red[r * WG + lid] += red[r * WG + lid + s];
      }
    }
    workgroupBarrier();
  }
  if (lid < TR * 4u) {
    storeOne(row0 + lid / 4u, o0 + lid % 4u, red[(lid / 4u) * WG][lid % 4u]);
  }
}

// y[row, o] = v (+ bias[o]) (+ y[row, o]); skips rows and columns past the end.
fn storeOne(row: u32, o: u32, v: f32) {
  if (row < step.rows && o < dims.outDim) {
    var out = v;
    if (HAS_BIAS) {
      out += bias[o];
    }
    if (ACCUMULATE) {
      out += y[row * dims.outDim + o];
    }
    y[row * dims.outDim + o] = out;
  }
}
