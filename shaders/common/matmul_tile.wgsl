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
// and each weight read feeds TR rows. Each step a thread loads RUN consecutive words of each of
// its 4 columns before using any: RUN 1 (variant 'split') keeps one warp's loads on the fewest
// cache lines; a longer run (variant 'split-wide': 4 words of f16/f32, a whole q8/q4 block,
// whose scale is then loaded once) puts more bytes in flight per thread, which a GPU needs to
// cover memory latency when few threads run per core. Which is faster is measured per device
// at load (src/ops/matmul-tuning.ts). Row tiles are the fastest-varying workgroup index
// (wid.x), so the workgroups that re-read one weight tile for other row tiles run next to each
// other and find it in cache. One pipeline per TR tier (1 for decode, larger for trees); the
// op picks the tier from the row count at encode time.
// IN and OUT are uniforms, not overrides, so every layer shape shares the pipelines of one
// (dtype, TR, flags) variant: compiling a pipeline per shape and tier cost seconds each on
// SwiftShader, and loop bounds from a uniform cost nothing in a memory-bound kernel.
//
// RMSNorm input (RMS_INPUT, fuses the rmsnorm before q/k/v, gate/up and the LM head): x is the
// raw residual and the input is rmsnorm(x) * g = inv_rms(row) * (x * g), so the kernels read
// x * g (xin, xin4; xQuad in matmul_quant.wgsl) and the store scales each row's dot product by
// inv_rms = 1 / sqrt(mean(x^2) + eps) before the bias: y = inv_rms * (W @ (g * x)) + bias.
// Each workgroup computes its rows' inv_rms at the start (splitRowScale, dotRowScales); the
// recomputation per workgroup reads TR rows of x, a small fraction of the weight tile it reads.
// Entry perColumn also stages its rows' x * g in workgroup memory (tileX, when TILE_IN > 0) and
// reads inputs there (xdot, xdot4): on SwiftShader an extra g load and multiply per input in
// the dot loop made the LM head about 60% slower than reading a normalised copy of x.
// Overrides, so the unfused kernels compile without any of it.
//
// Gated input (SILU_INPUT, fuses SwiGLU's silu(gate) * up into the down projection): x is the
// gate/up projection's output, (rows, 2 * IN) with row r = [gate | up], and input k of row r is
// silu(gate[r, k]) * up[r, k] (shaders/silu_mul_f32.wgsl's formula), so no (rows, IN) act buffer
// is written and read back and one dispatch per layer goes. Kernels keep addressing rows by
// their logical offset xo = row * IN; xin reads gate at 2 * xo + k and up IN further on. Entry
// perColumn stages the tile's gated inputs in tileX like RMS_INPUT's x * g, so an exp is paid per
// input per workgroup rather than per output column.
// Includer declares: override WG, TR, HAS_BIAS, ACCUMULATE; bindings step, x, dims, bias, y.

// The op's fixed sizes, written once at construction.
struct MatmulDims {
  inDim: u32,   // IN: x row width
  outDim: u32,  // OUT: y row width, weight rows
  stride: u32,  // weight words per row: IN for f32, ceil(IN/2) for f16 pairs, quantRowWords for q8/q4
  eps: f32,     // RMSNorm epsilon (RMS_INPUT)
  yStride: u32, // y row stride: OUT, or wider when this op writes columns yCol.. of a wider y (an LM head split by rows)
  yCol: u32,    // y column of output 0
}

override RMS_INPUT: bool = false;   // input = rmsnorm(x) * g instead of x
override SILU_INPUT: bool = false;  // input = silu(gate) * up of x = [gate | up]; not with RMS_INPUT

@group(0) @binding(6) var<storage, read> g: array<f32>;          // (IN,) RMSNorm weight; one unused element when !RMS_INPUT

const MAX_TR: u32 = 16u;
override RUN: u32 = 1u;  // entry main: consecutive words per column a thread loads per step, <= MAX_RUN
const MAX_RUN: u32 = 8u;
override RED: u32 = WG * TR;  // vec4 partial sums per workgroup, laid out (TR, WG)

var<workgroup> red: array<vec4<f32>, RED>;
// Entry perColumn: inv_rms of the tile's rows (TR <= 4). Entry main keeps its row's in a
// register instead: red already fills the 16 KiB of workgroup memory at WG 64, TR 16.
var<workgroup> tileInvRms: array<f32, 4>;
// Entry perColumn, RMS_INPUT or SILU_INPUT: IN when the tile's inputs (TR, IN), x * g or
// silu(gate) * up, are staged in tileX (the op sets it where TR * IN fits in workgroup memory,
// src/ops/matmul.ts), else 0 (compute them per input).
override TILE_IN: u32 = 0u;
var<workgroup> tileX: array<f32, TR * max(TILE_IN, 1u)>;  // (TR, IN) inputs of rows row0..
var<private> tileBase: u32;                               // logical x offset of row row0 (dotRowScales)

// silu(v) * u. exp(-v) overflows to +inf for v < -88: v / inf = -0, the limit of silu.
fn gated(v: f32, u: f32) -> f32 {
  return v / (1.0 + exp(-v)) * u;
}

// Input k of the row at logical offset xo (row * IN): x, x * g with RMS_INPUT (inv_rms comes at
// the store), or silu(gate) * up with SILU_INPUT.
fn xin(xo: u32, k: u32) -> f32 {
  if (SILU_INPUT) {
    let i = 2u * xo + k;
    return gated(x[i], x[i + dims.inDim]);
  }
  if (RMS_INPUT) {
    return x[xo + k] * g[k];
  }
  return x[xo + k];
}

// Input k of the four rows at logical offsets x0, x1, x2, x3 (see xin).
fn xin4(x0: u32, x1: u32, x2: u32, x3: u32, k: u32) -> vec4<f32> {
  if (SILU_INPUT) {
    return vec4<f32>(xin(x0, k), xin(x1, k), xin(x2, k), xin(x3, k));
  }
  let v = vec4<f32>(x[x0 + k], x[x1 + k], x[x2 + k], x[x3 + k]);
  if (RMS_INPUT) {
    return v * g[k];
  }
  return v;
}

// Entry main, RMS_INPUT: inv_rms of row row0 + lid / 4, the row this thread stores in
// reduceAndStore (1 without RMS_INPUT). The WG threads split each row's sum of squares as they
// split the dot products, reduced in red. Called by every thread of the workgroup (barriers).
fn splitRowScale(lid: u32, row0: u32) -> f32 {
  if (!RMS_INPUT) {
    return 1.0;
  }
  let IN = dims.inDim;
  let lastRow = step.rows - 1u;  // rows past the end repeat the last row; never stored
  for (var r = 0u; r < TR; r++) {
    let xo = min(row0 + r, lastRow) * IN;
    var ss = 0.0;
    for (var k = lid; k < IN; k += WG) {
      let v = x[xo + k];
      ss += v * v;
    }
    red[r * WG + lid] = vec4<f32>(ss);
  }
  sumRed(lid);
  let scale = inverseSqrt(red[min(lid / 4u, TR - 1u) * WG].x / f32(IN) + dims.eps);
  workgroupBarrier();  // every thread has read red before reduceAndStore writes it
  return scale;
}

// Entry perColumn, RMS_INPUT or SILU_INPUT: tileInvRms[r] = inv_rms of row row0 + r (RMS_INPUT),
// and tileX. One thread per row sums its squares alone: no reduction, so a single barrier
// (SwiftShader pays per barrier, see above) and TR * IN reads per workgroup against the
// WG * TR * IN of its dot products. Called by every thread of the workgroup before any early return.
fn dotRowScales(lid: u32, row0: u32) {
  if (!RMS_INPUT && !SILU_INPUT) {
    return;
  }
  let IN = dims.inDim;
  let lastRow = step.rows - 1u;  // rows past the end repeat the last row; never stored
  if (RMS_INPUT) {
    for (var r = lid; r < TR; r += WG) {
      let xo = min(row0 + r, lastRow) * IN;
      var ss = 0.0;
      for (var k = 0u; k < IN; k++) {
        let v = x[xo + k];
        ss += v * v;
      }
      tileInvRms[r] = inverseSqrt(ss / f32(IN) + dims.eps);
    }
  }
  if (TILE_IN > 0u) {
    tileBase = row0 * IN;
    for (var i = lid; i < TR * IN; i += WG) {
      let r = i / IN;
      let k = i - r * IN;
      tileX[i] = xin(min(row0 + r, lastRow) * IN, k);
    }
  }
  workgroupBarrier();
}

// Entry perColumn: the scale of tile row r (dotRowScales), 1 without RMS_INPUT.
fn dotRowScale(r: u32) -> f32 {
  if (RMS_INPUT) {
    return tileInvRms[r];
  }
  return 1.0;
}

// Entry perColumn: input k of the tile row starting at x[xo] (xin, from tileX when staged).
fn xdot(xo: u32, k: u32) -> f32 {
  if (TILE_IN > 0u) {
    return tileX[xo - tileBase + k];
  }
  return xin(xo, k);
}

// Entry perColumn: input k of four tile rows (xin4, from tileX when staged).
fn xdot4(x0: u32, x1: u32, x2: u32, x3: u32, k: u32) -> vec4<f32> {
  if (TILE_IN > 0u) {
    let t = k - tileBase;
    return vec4<f32>(tileX[x0 + t], tileX[x1 + t], tileX[x2 + t], tileX[x3 + t]);
  }
  return xin4(x0, x1, x2, x3, k);
}

// red[r * WG] = sum of red[r * WG .. r * WG + WG) for each tile row r, after every thread has
// written its partials. Called by every thread of the workgroup (it has barriers).
fn sumRed(lid: u32) {
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      for (var r = 0u; r < TR; r++) {
        red[r * WG + lid] += red[r * WG + lid + s];
      }
    }
    workgroupBarrier();
  }
}

// Split entries: the workgroup's tile, TR rows (wid.x) by 4 output columns (wid.y).
struct SplitTile {
  row0: u32,     // first row; rows past step.rows repeat the last row, never stored
  lastRow: u32,  // step.rows - 1
  o0: u32,       // first column
  wr: vec4<u32>, // word offsets of the 4 columns' weight rows; columns past the end are
                 // clamped to valid ones: they compute garbage that is never stored
}

fn splitTile(wid: vec3<u32>) -> SplitTile {
  let o0 = wid.y * 4u;
  let cols = min(vec4<u32>(o0, o0 + 1u, o0 + 2u, o0 + 3u), vec4<u32>(dims.outDim - 1u));
  return SplitTile(wid.x * TR, step.rows - 1u, o0, cols * dims.stride);
}

// Sums the per-thread partials acc[0..TR) over the workgroup and writes the (TR, 4) tile at
// (row0, o0), scaled by this thread's row scale (splitRowScale). Called by every thread of the
// workgroup (it has barriers).
fn reduceAndStore(acc: ptr<function, array<vec4<f32>, MAX_TR>>, lid: u32, row0: u32, o0: u32, scale: f32) {
  for (var r = 0u; r < TR; r++) {
    red[r * WG + lid] = (*acc)[r];
  }
  sumRed(lid);
  if (lid < TR * 4u) {
    storeOne(row0 + lid / 4u, o0 + lid % 4u, red[(lid / 4u) * WG][lid % 4u], scale);
  }
}

// y[row, yCol + o] = v (* scale with RMS_INPUT) (+ bias[o]) (+ y[row, yCol + o]); skips rows and columns past the end.
fn storeOne(row: u32, o: u32, v: f32, scale: f32) {
  if (row < step.rows && o < dims.outDim) {
    var out = v;
    if (RMS_INPUT) {
      out *= scale;
    }
    if (HAS_BIAS) {
      out += bias[o];
    }
    let at = row * dims.yStride + dims.yCol + o;
    if (ACCUMULATE) {
      out += y[at];
    }
    y[at] = out;
  }
}
