// y (rows, OUT) = x (rows, IN) @ W^T (+ bias) (+ y), W int4 in blocks of 32 inputs with an f16
// scale per block (src/model/quantize.ts, llama.cpp Q4_0 levels): 8 levels per u32, nibble i =
// input 8j + i of word j, stored as level + 8.
// Overrides, bindings and kernel bodies (entries main and perColumn): shaders/common/matmul_quant.wgsl.
//#include common/matmul_quant.wgsl

const QUADS: u32 = 2u;

// Levels of nibbles 4h .. 4h+3 of the word.
fn quad(word: u32, h: u32) -> vec4<f32> {
  let v = word >> (16u * h);
  return vec4<f32>((vec4<u32>(v, v >> 4u, v >> 8u, v >> 12u) & vec4<u32>(15u))) - 8.0;
}

