import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runQuantize } from '../../src/cli/quantize.ts';
import { SafetensorsError } from '../../src/errors.ts';
import { makeFixture, writeFixture } from '../../src/model/fixture.ts';
import { serializeQuantized } from '../../src/model/quantized-files.ts';
import { parseSafetensors, serializeSafetensors, type RawTensor } from '../../src/model/safetensors.ts';
import { FolderSource, MemorySource } from '../../src/model/source.ts';
import { loadModelFiles, tensorF32 } from '../../src/model/weights.ts';
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

describe('treespec quantize', () => {
  it('writes a folder that loads with the stored rows and the dequantized values', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'treespec-quant-'));
    const shape = { modelType: 'llama', vocabSize: 300, hiddenSize: 40, intermediateSize: 72, numLayers: 1, numHeads: 2, numKvHeads: 1, headDim: 20, tieWordEmbeddings: true, dtype: 'f16' } as const;
    await writeFixture(join(dir, 'src'), makeFixture(shape, 3));
    const write = process.stdout.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      expect(await runQuantize(['--model', join(dir, 'src'), '--to', 'q4', '--out', join(dir, 'q4')])).toBe(0);
    } finally {
      process.stdout.write = write;
    }
    const orig = await loadModelFiles(new MemorySource(makeFixture(shape, 3)));
    const pre = await loadModelFiles(new FolderSource(join(dir, 'q4')));
    expect(pre.quantized?.dtype).toBe('q4');
    const name = 'model.layers.0.mlp.down_proj.weight';
    const packed = quantizeRows(tensorF32(orig.tensors.get(name)!), 40, 72, 'q4');
    expect(Array.from(pre.quantized!.packed.get(name)!)).toEqual(Array.from(packed));
    expect(Array.from(tensorF32(pre.tensors.get(name)!))).toEqual(Array.from(dequantizeRows(packed, 40, 72, 'q4')));
    // tied: the LM head is stored quantized, the embedding table unchanged
    expect(pre.quantized!.packed.has('lm_head.weight')).toBe(true);
    expect(Array.from(tensorF32(pre.tensors.get('model.embed_tokens.weight')!))).toEqual(Array.from(tensorF32(orig.tensors.get('model.embed_tokens.weight')!)));
  });
});

describe('pre-quantized files', () => {
  const shape = { modelType: 'llama', vocabSize: 300, hiddenSize: 40, intermediateSize: 72, numLayers: 1, numHeads: 2, numKvHeads: 1, headDim: 20, dtype: 'f32' } as const;
  const name = 'model.layers.0.self_attn.q_proj.weight';

  async function load(edit: (tensors: Map<string, RawTensor>) => void): Promise<unknown> {
    const files = makeFixture(shape, 5);
    const orig = await loadModelFiles(new MemorySource(files));
    const tensors = parseSafetensors(serializeQuantized(orig.config, orig.tensors, tensorF32, 'q8'));
    edit(tensors);
    files.set('model.safetensors', serializeSafetensors(tensors.values()));
    return loadModelFiles(new MemorySource(files));
  }

  it('rejects a U8 tensor that is no quantized matrix, mixed dtypes, a wrong shape and a missing projection', async () => {
    const u8 = (n: string, shape: number[]): RawTensor => ({ name: n, dtype: 'U8', shape, data: new Uint8Array(shape[0] * shape[1]) });
    await expect(load((t) => t.set('extra', u8('extra', [2, 4])))).rejects.toThrow(SafetensorsError);
    await expect(load((t) => t.set('model.norm.weight.q8', u8('model.norm.weight.q8', [1, 36])))).rejects.toThrow(/not a quantizable matrix/);
    await expect(load((t) => { const q = t.get(`${name}.q8`)!; t.delete(`${name}.q8`); t.set(`${name}.q4`, { ...q, name: `${name}.q4` }); })).rejects.toThrow(/is q4, other matrices are q8/);
    await expect(load((t) => { const q = t.get(`${name}.q8`)!; t.set(`${name}.q8`, { ...q, shape: [q.shape[1], q.shape[0]] }); })).rejects.toThrow(/expected U8 \[40, 68\]/);
    await expect(load((t) => t.delete(`${name}.q8`))).rejects.toThrow(/must quantize every projection/);
  });
});
