// y (rows, OUT) = x (rows, IN) @ W^T (+ bias) (+ y), W int8 in blocks of 32 inputs with an f16
// scale per block (src/model/quantize.ts): 4 levels per u32, byte i = input 4j + i of word j.
// Overrides, bindings and kernel bodies (entries main and perColumn): shaders/common/matmul_quant.wgsl.
//#include common/matmul_quant.wgsl

const QUADS: u32 = 1u;

// Signed levels of the word's 4 bytes (arithmetic shifts sign-extend each byte).
fn quad(word: u32, h: u32) -> vec4<f32> {
  let v = bitcast<vec4<i32>>(vec4<u32>(word << 24u, word << 16u, word << 8u, word));
  return vec4<f32>(v >> vec4<u32>(24u));
}

