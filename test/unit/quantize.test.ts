import { describe, expect, it } from 'vitest';
import { f16BitsToF32, f32ToF16Bits } from '../../src/model/f16.ts';
import { dequantizeRows, QUANT_BLOCK, quantizeRows, quantRowWords } from '../../src/model/quantize.ts';

function random(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

describe('block quantization', () => {
  it('packs rows as quants then f16 scales', () => {
    expect(quantRowWords(32, 'q8')).toBe(8 + 1);
    expect(quantRowWords(33, 'q8')).toBe(16 + 1);
    expect(quantRowWords(96, 'q4')).toBe(12 + 2);
    expect(quantRowWords(1, 'q4')).toBe(4 + 1);
  });

  for (const dtype of ['q8', 'q4'] as const) {
    it(`${dtype}: error within half a level per block (a full level at q4's clamped +8), padding and zero blocks`, () => {
      const rows = 5;
      const cols = 75; // 2 full blocks and a padded one
      const w = random(rows * cols, 7);
      w.fill(0, cols, cols + QUANT_BLOCK); // row 1, block 0 all zero: scale 0
      const d = dequantizeRows(quantizeRows(w, rows, cols, dtype), rows, cols, dtype);
      for (let r = 0; r < rows; r++) {
        for (let k0 = 0; k0 < cols; k0 += QUANT_BLOCK) {
          const block = Array.from(w.subarray(r * cols + k0, r * cols + Math.min(cols, k0 + QUANT_BLOCK)));
          const amax = Math.max(...block.map(Math.abs));
          const scale = f16BitsToF32(f32ToF16Bits(dtype === 'q8' ? amax / 127 : amax / 8));
          // q4 levels are -8..7 with the largest magnitude on -8: a weight of the opposite sign and
          // nearly the same magnitude clamps to 7, one level away
          const tol = (v: number) => (dtype === 'q4' && Math.abs(v) > 7.5 * scale ? scale : scale / 2) + amax * 1e-3 + 1e-9;
          block.forEach((v, i) => {
            expect(Math.abs(d[r * cols + k0 + i] - v)).toBeLessThanOrEqual(tol(v));
          });
        }
      }
      expect(Array.from(d.subarray(cols, cols + QUANT_BLOCK)).every((v) => v === 0)).toBe(true);
    });

    it(`${dtype}: the largest weight of a block is exact up to its f16 scale, and re-quantizing is a fixed point`, () => {
      const w = random(3 * 64, 11);
      const p = quantizeRows(w, 3, 64, dtype);
      const d = dequantizeRows(p, 3, 64, dtype);
      expect(Array.from(quantizeRows(d, 3, 64, dtype))).toEqual(Array.from(p));
    });
  }
});
