/**
 * Block quantization of weight matrices (q8, q4), in the spirit of llama.cpp's Q8_0 / Q4_0 and
 * ONNX MatMulNBits: each row of a (rows, cols) matrix in Hugging Face's (out, in) layout is cut
 * into blocks of 32 inputs with one f16 scale per block; w ~= scale * q.
 *
 *  q8: symmetric int8, scale = max|w| / 127, q = round(w / scale) in [-127, 127]
 *      (8.5 bits per weight).
 *  q4: llama.cpp Q4_0: scale = m / -8 where m is the block's weight of largest magnitude, q =
 *      clamp(round(w / scale), -8, 7), stored as q + 8 in a nibble (4.5 bits per weight). The
 *      largest weight lands exactly on -8, so all 16 levels are used. Chosen over an asymmetric
 *      min/scale (Q4_1, 5 bits per weight): same bits as q8's layout minus a second f16 per
 *      block, and the kernel applies one multiply per block to the block's partial dot.
 *
 * Packed layout (one u32 buffer, rows packed separately, `quantRowWords` words per row):
 *   [ blocks * WORDS quant words | ceil(blocks / 2) words of f16 scale pairs ]
 * q8: word j of block b holds inputs b*32 + 4j .. +3, byte i = input +i (two's complement);
 * q4: word j of block b holds inputs b*32 + 8j .. +7, nibble i = input +i (q + 8);
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
  const bits = dtype === 'q8' ? 8 : 4;
  const perWord = 32 / bits;
  const mask = (1 << bits) - 1;
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
          ? Math.max(-127, Math.min(127, Math.round(w[row + k] * inv)))
          : Math.max(-8, Math.min(7, Math.round(w[row + k] * inv))) + 8;
        const i = k - k0;
        out[base + b * quantWordsPerBlock(dtype) + Math.floor(i / perWord)] |= (q & mask) << ((i % perWord) * bits);
      }
      if (dtype === 'q4') {
        // padding past cols is q = 0, i.e. nibble 8
        for (let i = k1 - k0; i < QUANT_BLOCK; i++) out[base + b * 4 + Math.floor(i / 8)] |= 8 << ((i % 8) * 4);
      }
    }
  }
  return out;
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
      let q: number;
      if (dtype === 'q8') q = ((packed[base + b * wpb + (i >> 2)] >>> ((i & 3) * 8)) << 24) >> 24;
      else q = ((packed[base + b * wpb + (i >> 3)] >>> ((i & 7) * 4)) & 15) - 8;
      out[r * cols + k] = scale * q;
    }
  }
  return out;
}
