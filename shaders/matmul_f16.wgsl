// y (rows, OUT) = x (rows, IN) @ W^T (+ bias) (+ y), W f16 packed two per u32, each row packed
// separately with stride ceil(IN/2) (src/gpu/buffers.ts). unpack2x16float needs no shader-f16.
// Work split and reduction: shaders/common/matmul_tile.wgsl. Entry main dispatches
// (ceil(rows / TR), ceil(OUT / 4)); entry perColumn (variant 'dot') is at the end.
//#include common/step.wgsl

override WG: u32 = 64;             // main: threads splitting IN, a power of two >= 4 * TR; dot: columns per workgroup
override TR: u32 = 1u;             // rows per register tile: main <= 16; dot 1 or 4
override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false; // y += x @ W^T (fuses a residual add)

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // (maxRows, IN)
@group(0) @binding(2) var<storage, read> w: array<u32>;          // (OUT, STRIDE) f16 pairs
@group(0) @binding(3) var<storage, read> bias: array<f32>;       // (OUT,); one unused element when !HAS_BIAS
@group(0) @binding(4) var<storage, read_write> y: array<f32>;    // (maxRows, yStride): columns yCol..yCol+OUT
@group(0) @binding(5) var<uniform> dims: MatmulDims;             // IN, OUT, weight stride, eps, y stride, y column
// binding 6, g (IN,): the RMSNorm weight of RMS_INPUT, in common/matmul_tile.wgsl

//#include common/matmul_tile.wgsl

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let STRIDE = dims.stride;
  let t = splitTile(wid);
  if (t.row0 >= step.rows) {
    return;  // uniform per workgroup: rows come from a uniform, wid is uniform
  }
  let scale = splitRowScale(lid, t.row0);
  var acc: array<vec4<f32>, MAX_TR>;
  // RUN consecutive words (2 * RUN inputs) per step; past the row's end (the last run of a
  // stride that is not a multiple of RUN) the row's last word is loaded again and skipped.
  for (var p0 = RUN * lid; p0 < STRIDE; p0 += RUN * WG) {
    var words: array<vec4<u32>, MAX_RUN>;  // word p0 + j of the 4 columns
    for (var j = 0u; j < RUN; j++) {
      let p = min(p0 + j, STRIDE - 1u);
      words[j] = vec4<u32>(w[t.wr.x + p], w[t.wr.y + p], w[t.wr.z + p], w[t.wr.w + p]);
    }
    for (var j = 0u; j < RUN; j++) {
      if (p0 + j < STRIDE) {
        accumulatePair(&acc, words[j], 2u * (p0 + j), t);
      }
    }
  }
  reduceAndStore(&acc, lid, t.row0, t.o0, scale);
}

// acc[r] += tile t's TR rows' inputs k and k + 1 times the 4 columns' f16 pairs `words` (their
// weights of inputs k and k + 1).
fn accumulatePair(acc: ptr<function, array<vec4<f32>, MAX_TR>>, words: vec4<u32>, k: u32, t: SplitTile) {
  let IN = dims.inDim;
  let a = unpack2x16float(words.x);
  let b = unpack2x16float(words.y);
  let c = unpack2x16float(words.z);
  let d = unpack2x16float(words.w);
  let lo = vec4<f32>(a.x, b.x, c.x, d.x);  // weights of input k
  let hi = vec4<f32>(a.y, b.y, c.y, d.y);  // weights of input k + 1 (zero padding past an odd IN)
  let hasHi = k + 1u < IN;
  for (var r = 0u; r < TR; r++) {
    let xo = min(t.row0 + r, t.lastRow) * IN;
    // Past an odd IN the x read may fall outside the row (robust access keeps it in the
    // buffer); select drops it rather than relying on 0 * padding, which a NaN/inf would break.
    (*acc)[r] += xin(xo, k) * lo + select(0.0, xin(xo, k + 1u), hasHi) * hi;
  }
}

// Entry `perColumn` (variant dot; see common/matmul_tile.wgsl): thread = output column o, workgroup row tile wid.y.
// TR is 1 or 4 here, and the accumulators are scalars or vec4s rather than an array: indexed
// function arrays stay in memory on SwiftShader's JIT, which halved the speed of this loop.
// Dispatch (ceil(OUT / WG), ceil(rows / TR)).
@compute @workgroup_size(WG)
fn perColumn(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let IN = dims.inDim;
  let o = gid.x;
  let row0 = wid.y * TR;
  dotRowScales(lid, row0);  // before the early return: it has a barrier
  if (o >= dims.outDim || row0 >= step.rows) {
    return;
  }
  let wo = o * dims.stride;
  // Inputs in pairs; an odd IN ends with a lone input whose pair weight is zero padding.
  let pairs = IN / 2u;
  if (TR == 1u) {
    let xo = row0 * IN;
    var acc = 0.0;
    for (var p = 0u; p < pairs; p++) {
      acc += dot(vec2<f32>(xdot(xo, 2u * p), xdot(xo, 2u * p + 1u)), unpack2x16float(w[wo + p]));
    }
    if (pairs * 2u < IN) {
      acc += xdot(xo, IN - 1u) * unpack2x16float(w[wo + pairs]).x;
    }
    storeOne(row0, o, acc, dotRowScale(0u));
    return;
  }
  let last = step.rows - 1u;  // rows past the end repeat the last row; never stored
  let x0 = row0 * IN;
  let x1 = min(row0 + 1u, last) * IN;
  let x2 = min(row0 + 2u, last) * IN;
  let x3 = min(row0 + 3u, last) * IN;
  var acc = vec4<f32>();
  for (var p = 0u; p < pairs; p++) {
    let wv = unpack2x16float(w[wo + p]);
    let k = 2u * p;
    acc += xdot4(x0, x1, x2, x3, k) * wv.x + xdot4(x0, x1, x2, x3, k + 1u) * wv.y;
  }
  if (pairs * 2u < IN) {
    let k = IN - 1u;
    acc += xdot4(x0, x1, x2, x3, k) * unpack2x16float(w[wo + pairs]).x;
  }
  for (var r = 0u; r < 4u; r++) {
    storeOne(row0 + r, o, acc[r], dotRowScale(r));
  }
}
