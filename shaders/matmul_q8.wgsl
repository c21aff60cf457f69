// y (rows, OUT) = x (rows, IN) @ W^T (+ bias) (+ y), W int8 in blocks of 32 inputs with an f16
// scale per block (src/model/quantize.ts): 4 levels per u32, byte i = input 4j + i of word j,
// stored as level + 128.
// Overrides, bindings and kernel bodies (entries main and perColumn): shaders/common/matmul_quant.wgsl.
//#include common/matmul_quant.wgsl

const QUADS: u32 = 1u;

// Levels of the word's 4 bytes (stored as level + 128), widened by unpack4x8unorm: SwiftShader
// runs it faster than unpack4x8snorm's sign extension. n * (1/255) * 255 is n within an ulp.
fn quad(word: u32, h: u32) -> vec4<f32> {
  return unpack4x8unorm(word) * 255.0 - 128.0;
}
