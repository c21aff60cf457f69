// y (rows, OUT) = x (rows, IN) @ W^T (+ bias) (+ y), W f32 (OUT, IN). Work split and reduction:
// shaders/common/matmul_tile.wgsl. Entry main dispatches
// (ceil(rows / TR), ceil(OUT / 4)); entry perColumn (variant 'dot') is at the end.
//#include common/step.wgsl

override WG: u32 = 64;             // main: threads splitting IN, a power of two >= 4 * TR; dot: columns per workgroup
override TR: u32 = 1u;             // rows per register tile: main <= 16; dot 1 or 4
override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false; // y += x @ W^T (fuses a residual add)

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // (maxRows, IN)
@group(0) @binding(2) var<storage, read> w: array<f32>;          // (OUT, IN)
@group(0) @binding(3) var<storage, read> bias: array<f32>;       // (OUT,); one unused element when !HAS_BIAS
@group(0) @binding(4) var<storage, read_write> y: array<f32>;    // (maxRows, yStride): columns yCol..yCol+OUT
@group(0) @binding(5) var<uniform> dims: MatmulDims;             // IN, OUT, weight stride, eps, y stride, y column
// binding 6, g (IN,): the RMSNorm weight of RMS_INPUT, in common/matmul_tile.wgsl

//#include common/matmul_tile.wgsl

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let IN = dims.inDim;
  let t = splitTile(wid);
  if (t.row0 >= step.rows) {
    return;  // uniform per workgroup: rows come from a uniform, wid is uniform
  }
  let scale = splitRowScale(lid, t.row0);
  var acc: array<vec4<f32>, MAX_TR>;
  // RUN consecutive inputs per step; past the row's end (the last run of an IN that is not a
  // multiple of RUN) the row's last weight is loaded again and skipped.
  for (var k0 = RUN * lid; k0 < IN; k0 += RUN * WG) {
    var wv: array<vec4<f32>, MAX_RUN>;  // weights of input k0 + j in the 4 columns
    for (var j = 0u; j < RUN; j++) {
      let k = min(k0 + j, IN - 1u);
      wv[j] = vec4<f32>(w[t.wr.x + k], w[t.wr.y + k], w[t.wr.z + k], w[t.wr.w + k]);
    }
    for (var j = 0u; j < RUN; j++) {
      let k = k0 + j;
      if (k < IN) {
        for (var r = 0u; r < TR; r++) {
          acc[r] += xin(min(t.row0 + r, t.lastRow) * IN, k) * wv[j];
        }
      }
    }
  }
  reduceAndStore(&acc, lid, t.row0, t.o0, scale);
}

// Entry `perColumn` (variant dot; see common/matmul_tile.wgsl): thread = output column o, workgroup row tile wid.y.
// TR is 1 or 4 here, and the accumulators are a scalar or a vec4 rather than an array: indexed
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
  let wo = o * IN;
  if (TR == 1u) {
    let xo = row0 * IN;
    var acc = 0.0;
    for (var k = 0u; k < IN; k++) {
      acc += xdot(xo, k) * w[wo + k];
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
  for (var k = 0u; k < IN; k++) {
    acc += xdot4(x0, x1, x2, x3, k) * w[wo + k];
  }
  for (var r = 0u; r < 4u; r++) {
    storeOne(row0 + r, o, acc[r], dotRowScale(r));
  }
}
