/**
 * The f16 KV cache's layout on the CPU (shaders/common/kv_load.wgsl): rows of `width` values,
 * two f16 per u32 word (element j of a row in half j % 2 of word j / 2), ceil(width / 2)
 * words per row.
 */
import { f16BitsToF32, f32ToF16Bits } from '../../src/model/f16.ts';

/** (rows, width) values -> (rows, ceil(width / 2)) words, each value rounded to nearest even. */
export function packKvF16(values: Float32Array, width: number): Uint32Array {
  const words = Math.ceil(width / 2);
  const rows = values.length / width;
  const out = new Uint32Array(rows * words);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < width; j++) out[r * words + (j >> 1)] |= f32ToF16Bits(values[r * width + j]) << (16 * (j & 1));
  }
  return out;
}

/** (rows, ceil(width / 2)) words -> (rows, width) values. */
export function unpackKvF16(words: Uint32Array, width: number): Float32Array {
  const w = Math.ceil(width / 2);
  const rows = words.length / w;
  const out = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < width; j++) out[r * width + j] = f16BitsToF32((words[r * w + (j >> 1)] >>> (16 * (j & 1))) & 0xffff);
  }
  return out;
}
