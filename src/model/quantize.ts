/**
 * Block quantization of weight matrices (q8, q4), in the spirit of llama.cpp's Q8_0 / Q4_0 and
 * ONNX MatMulNBits: each row of a (rows, cols) matrix in Hugging Face's (out, in) layout is cut
 * into blocks of 32 inputs with one f16 scale per block; w ~= scale * q.
 *
 *  q8: symmetric int8, scale = max|w| / 127, q = round(w / scale) in [-127, 127], stored as
 *      the byte q + 128 (8.5 bits per weight).
 *  q4: llama.cpp Q4_0: scale = m / -8 where m is the block's weight of largest magnitude, q =
 *      clamp(round(w / scale), -8, 7), stored as q + 8 in a nibble (4.5 bits per weight). The
 *      largest weight lands exactly on -8, so all 16 levels are used. Chosen over an asymmetric
 *      min/scale (Q4_1, 5 bits per weight): same bits as q8's layout minus a second f16 per
 *      block, and the kernel applies one multiply per block to the block's partial dot.
 *
 * Packed layout (one u32 buffer, rows packed separately, `quantRowWords` words per row):
 *   [ blocks * WORDS quant words | ceil(blocks / 2) words of f16 scale pairs ]
 * q8: word j of block b holds inputs b*32 + 4j .. +3, byte i = input +i as q + 128;
 *     offset bytes like q4's offset nibbles: the kernels widen them with unpack4x8unorm, which
 *     SwiftShader runs faster than the sign extension of unpack4x8snorm;
 * q4: word j of block b holds inputs b*32 + 8j .. +7 as q + 8: byte i has input +i in its low
 *     nibble and input +4+i in its high nibble (as llama.cpp's Q4_0 splits a block), so the
 *     kernels unpack 4 consecutive inputs with one mask and unpack4x8unorm, no shifts;
 * scale of block b: low half of word b/2 for even b, high half for odd b.
 * A row whose cols is not a multiple of 32 ends with a block padded with zero weights (q = 0).
 * Scales are rounded to f16 before the q are computed, so dequantize(quantize(w)) is exactly
 * what the kernels multiply.
 */
import { OptionsError } from '../errors.ts';
import { f16BitsToF32, f32ToF16Bits } from './f16.ts';

export type QuantDtype = 'q8' | 'q4';

/** Inputs per block (one f16 scale each). */
export const QUANT_BLOCK = 32;

/** u32 words of quants per block. */
export function quantWordsPerBlock(dtype: QuantDtype): number {
  return dtype === 'q8' ? 8 : 4;
}

export function isQuantDtype(d: string): d is QuantDtype {
  return d === 'q8' || d === 'q4';
}

/** u32 words per packed row of `cols` inputs: quants then scales. */
export function quantRowWords(cols: number, dtype: QuantDtype): number {
  const blocks = Math.ceil(cols / QUANT_BLOCK);
  return blocks * quantWordsPerBlock(dtype) + Math.ceil(blocks / 2);
}

/** Packs w (rows, cols) f32 into (rows, quantRowWords(cols)) u32 (layout above). */
export function quantizeRows(w: Float32Array, rows: number, cols: number, dtype: QuantDtype): Uint32Array {
  if (w.length !== rows * cols) throw new OptionsError(`quantizeRows: ${w.length} values are not (${rows}, ${cols})`);
  const stride = quantRowWords(cols, dtype);
  const blocks = Math.ceil(cols / QUANT_BLOCK);
  const qWords = blocks * quantWordsPerBlock(dtype);
  const out = new Uint32Array(rows * stride);
  const perWord = dtype === 'q8' ? 4 : 8;
  const mask = dtype === 'q8' ? 0xff : 0xf;
  for (let r = 0; r < rows; r++) {
    const row = r * cols;
    const base = r * stride;
    for (let b = 0; b < blocks; b++) {
      const k0 = b * QUANT_BLOCK;
      const k1 = Math.min(cols, k0 + QUANT_BLOCK);
      let m = 0; // the block's weight of largest magnitude
      for (let k = k0; k < k1; k++) if (Math.abs(w[row + k]) > Math.abs(m)) m = w[row + k];
      const scaleBits = f32ToF16Bits(dtype === 'q8' ? Math.abs(m) / 127 : m / -8);
      const scale = f16BitsToF32(scaleBits);
      const inv = scale === 0 ? 0 : 1 / scale;
      out[base + qWords + (b >> 1)] |= scaleBits << ((b & 1) * 16);
      for (let k = k0; k < k1; k++) {
        const q = dtype === 'q8'
          ? Math.max(-127, Math.min(127, Math.round(w[row + k] * inv))) + 128
          : Math.max(-8, Math.min(7, Math.round(w[row + k] * inv))) + 8;
        out[base + b * quantWordsPerBlock(dtype) + Math.floor((k - k0) / perWord)] |= (q & mask) << levelShift(k - k0, dtype);
      }
      // padding past cols is q = 0: byte 128, nibble 8
      for (let i = k1 - k0; i < QUANT_BLOCK; i++) out[base + b * quantWordsPerBlock(dtype) + Math.floor(i / perWord)] |= (dtype === 'q8' ? 128 : 8) << levelShift(i, dtype);
    }
  }
  return out;
}

/** Bit offset in its word of input i (0..31) of a block. */
function levelShift(i: number, dtype: QuantDtype): number {
  if (dtype === 'q8') return (i & 3) * 8;
  const j = i & 7; // position in the word: inputs 0..3 low nibbles, 4..7 high nibbles
  return (j & 3) * 8 + (j >> 2) * 4;
}

/** Inverse of quantizeRows: (rows, quantRowWords(cols)) u32 -> (rows, cols) f32 = scale * q. */
export function dequantizeRows(packed: Uint32Array, rows: number, cols: number, dtype: QuantDtype): Float32Array {
  const stride = quantRowWords(cols, dtype);
  if (packed.length < rows * stride) throw new OptionsError(`dequantizeRows: ${packed.length} words hold fewer than ${rows} rows of ${stride}`);
  const blocks = Math.ceil(cols / QUANT_BLOCK);
  const wpb = quantWordsPerBlock(dtype);
  const qWords = blocks * wpb;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const base = r * stride;
    for (let k = 0; k < cols; k++) {
      const b = Math.floor(k / QUANT_BLOCK);
      const i = k % QUANT_BLOCK;
      const scale = f16BitsToF32((packed[base + qWords + (b >> 1)] >>> ((b & 1) * 16)) & 0xffff);
      const word = packed[base + b * wpb + (dtype === 'q8' ? i >> 2 : i >> 3)] >>> levelShift(i, dtype);
      const q = dtype === 'q8' ? (word & 255) - 128 : (word & 15) - 8;
      out[r * cols + k] = scale * q;
    }
  }
  return out;
}
