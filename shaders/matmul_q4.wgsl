// y (rows, OUT) = x (rows, IN) @ W^T (+ bias) (+ y), W int4 in blocks of 32 inputs with an f16
// scale per block (src/model/quantize.ts, llama.cpp Q4_0 levels): 8 levels per u32 stored as
// level + 8; byte i of word j holds input 8j + i (low nibble) and 8j + 4 + i (high nibble).
// Overrides, bindings and kernel bodies (entries main and perColumn): shaders/common/matmul_quant.wgsl.
//#include common/matmul_quant.wgsl

const QUADS: u32 = 2u;

// Levels of inputs 4h .. 4h+3 of the word: low nibbles (h = 0) or high nibbles (h = 1) of its
// bytes, masked in place and widened by unpack4x8unorm (no shifts: variable vector shifts are
// scalarized on SwiftShader; select, not if: a branch on h runs both sides there).
// n * (1/255) * 255 is n within an ulp.
fn quad(word: u32, h: u32) -> vec4<f32> {
  let high = h == 1u;
  return unpack4x8unorm(word & select(0x0f0f0f0fu, 0xf0f0f0f0u, high)) * select(255.0, 255.0 / 16.0, high) - 8.0;
}
