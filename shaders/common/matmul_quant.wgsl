// Shared body of the block-quantized matmul kernels (matmul_q8.wgsl, matmul_q4.wgsl): y (rows,
// OUT) = x (rows, IN) @ W^T (+ bias) (+ y), W dequantized in the kernel. Layout of a packed
// row (src/model/quantize.ts): ceil(IN/32) blocks of WPB u32 words of quants, then the blocks'
// f16 scales two per u32; dims.stride words per row. Block b covers inputs 32b .. 32b+31; the
// last block of an IN that is not a multiple of 32 is padded with zero weights, and its x
// reads are clamped to the row's last input (a finite activation times a zero weight).
// Work split: shaders/common/matmul_tile.wgsl (main = split, perColumn = dot).
// Includer declares (module-scope order is free in WGSL): const QUADS (vec4s of inputs per
// u32 word) and fn quad(word, h) -> vec4<f32>, the levels of inputs 4h .. 4h+3 of a word.
//#include common/step.wgsl

override WG: u32 = 64;             // main: threads splitting IN, a power of two >= 4 * TR; dot: columns per workgroup
override TR: u32 = 1u;             // rows per register tile: main <= 16; dot 1 or 4
override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false; // y += x @ W^T (fuses a residual add)

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // (maxRows, IN)
@group(0) @binding(2) var<storage, read> w: array<u32>;          // (OUT, STRIDE) quants then scales per row
@group(0) @binding(3) var<storage, read> bias: array<f32>;       // (OUT,); one unused element when !HAS_BIAS
@group(0) @binding(4) var<storage, read_write> y: array<f32>;    // (maxRows, yStride): columns yCol..yCol+OUT
@group(0) @binding(5) var<uniform> dims: MatmulDims;             // IN, OUT, weight stride, eps, y stride, y column
// binding 6, g (IN,): the RMSNorm weight of RMS_INPUT, in common/matmul_tile.wgsl

//#include common/matmul_tile.wgsl

const BLOCK: u32 = 32u;
const WPB: u32 = 8u / QUADS;  // quant words per block

// f16 scale of block b of the row whose scales start at word `scales`.
fn blockScale(scales: u32, b: u32) -> f32 {
  let pair = unpack2x16float(w[scales + b / 2u]);
  return select(pair.x, pair.y, (b & 1u) == 1u);
}

// Scales of block b of the 4 rows whose scales start at words `scales`.
fn columnScales(scales: vec4<u32>, b: u32) -> vec4<f32> {
  return vec4<f32>(blockScale(scales.x, b), blockScale(scales.y, b), blockScale(scales.z, b), blockScale(scales.w, b));
}

// Inputs k .. k+3 (xin) of the row starting at x[xo], indices clamped to the row (k may pass
// its end in the padded last block). Branch-free: SwiftShader runs both sides of a branch it
// cannot prove uniform, which cost more than the clamps.
fn xQuad(xo: u32, k: u32, IN: u32) -> vec4<f32> {
  let last = IN - 1u;
  return vec4<f32>(xin(xo, min(k, last)), xin(xo, min(k + 1u, last)), xin(xo, min(k + 2u, last)), xin(xo, min(k + 3u, last)));
}

// xQuad for entry perColumn (xdot: staged inputs).
fn xQuadDot(xo: u32, k: u32, IN: u32) -> vec4<f32> {
  let last = IN - 1u;
  return vec4<f32>(xdot(xo, min(k, last)), xdot(xo, min(k + 1u, last)), xdot(xo, min(k + 2u, last)), xdot(xo, min(k + 3u, last)));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let IN = dims.inDim;
  let t = splitTile(wid);
  if (t.row0 >= step.rows) {
    return;  // uniform per workgroup: rows come from a uniform, wid is uniform
  }
  let scale = splitRowScale(lid, t.row0);
  let blocks = (IN + BLOCK - 1u) / BLOCK;
  let qWords = blocks * WPB;
  var acc: array<vec4<f32>, MAX_TR>;
  // Thread = RUN consecutive quant words of each of the 4 columns per step, within one block
  // (RUN divides WPB, so runs tile the row exactly), and the block's scales once per run; the
  // dequantized weights feed all TR rows.
  for (var p0 = RUN * lid; p0 < qWords; p0 += RUN * WG) {
    let b = p0 / WPB;
    var words: array<vec4<u32>, MAX_RUN>;  // word p0 + j of the 4 columns
    for (var j = 0u; j < RUN; j++) {
      words[j] = vec4<u32>(w[t.wr.x + p0 + j], w[t.wr.y + p0 + j], w[t.wr.z + p0 + j], w[t.wr.w + p0 + j]);
    }
    let s = columnScales(t.wr + qWords, b);
    for (var j = 0u; j < RUN; j++) {
      let k0 = b * BLOCK + ((p0 + j) % WPB) * QUADS * 4u;
      for (var h = 0u; h < QUADS; h++) {
        let qa = quad(words[j].x, h) * s.x;
        let qb = quad(words[j].y, h) * s.y;
        let qc = quad(words[j].z, h) * s.z;
        let qd = quad(words[j].w, h) * s.w;
        for (var r = 0u; r < TR; r++) {
          let xv = xQuad(min(t.row0 + r, t.lastRow) * IN, k0 + 4u * h, IN);
          acc[r] += vec4<f32>(dot(qa, xv), dot(qb, xv), dot(qc, xv), dot(qd, xv));
        }
      }
    }
  }
  reduceAndStore(&acc, lid, t.row0, t.o0, scale);
}

// Entry `perColumn` (variant dot): thread = output column o, workgroup row tile wid.y; TR is 1
// or 4 with scalar / vec4 accumulators (see matmul_f16.wgsl). Each block's partial dot is
// summed from the levels and scaled once. One flat loop over the block's 8 vec4s of inputs
// (SwiftShader's JIT keeps every loop, so nested loops of 1 or 2 trips cost more than the
// work). Dispatch (ceil(OUT / WG), ceil(rows / TR)).
@compute @workgroup_size(WG)
fn perColumn(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let IN = dims.inDim;
  let o = gid.x;
  let row0 = wid.y * TR;
  dotRowScales(lid, row0);  // before the early return: it has a barrier
  if (o >= dims.outDim || row0 >= step.rows) {
    return;
  }
  let blocks = (IN + BLOCK - 1u) / BLOCK;
  let wo = o * dims.stride;
  let scales = wo + blocks * WPB;
  if (TR == 1u) {
    let xo = row0 * IN;
    var acc = 0.0;
    for (var b = 0u; b < blocks; b++) {
      var part = 0.0;
      for (var t = 0u; t < BLOCK / 4u; t++) {
        let q = quad(w[wo + b * WPB + t / QUADS], t % QUADS);
        part += dot(q, xQuadDot(xo, b * BLOCK + 4u * t, IN));
      }
      acc += part * blockScale(scales, b);
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
  for (var b = 0u; b < blocks; b++) {
    var part = vec4<f32>();
    for (var t = 0u; t < BLOCK / 4u; t++) {
      let q = quad(w[wo + b * WPB + t / QUADS], t % QUADS);
      let k = b * BLOCK + 4u * t;
      // columns = the 4 rows' inputs: q * X = the 4 rows' dot products with q
      part += q * mat4x4<f32>(xQuadDot(x0, k, IN), xQuadDot(x1, k, IN), xQuadDot(x2, k, IN), xQuadDot(x3, k, IN));
    }
    acc += part * blockScale(scales, b);
  }
  for (var r = 0u; r < 4u; r++) {
    storeOne(row0 + r, o, acc[r], dotRowScale(r));
  }
}
