import { describe, expect, it } from 'vitest';
import { createStorage, uploadStorage } from '../../src/gpu/buffers.ts';
import { OpShapeError } from '../../src/gpu/errors.ts';
import { topK } from '../../src/model/cpu-ops.ts';
import { TopKOp, topKSlices } from '../../src/ops/topk.ts';
import { randomF32, randomU32, readF32, readU32, runPass, testGpu } from './util.ts';

/** Values from few levels: many exact ties, so the lowest-id rule orders most of the top k. */
function tiedLogits(n: number, seed: number): Float32Array {
  return Float32Array.from(randomU32(n, 5, seed), (l) => l - 2);
}

/**
 * Runs TopKOp on `x` (rows, vocab) and compares every row with the CPU oracle `topK` on
 * `oracle` (default: x itself), ids and values. Returns the op, to check its slice count.
 * sliceLength: a GPU's (default, so two stages run here too) or Infinity (one slice, as on SwiftShader).
 */
async function checkTopK(x: Float32Array, rows: number, vocab: number, k: number, oracle = x, sliceLength = 2048): Promise<TopKOp> {
  const gpu = await testGpu();
  const env = { device: gpu.device, pipelines: gpu.pipelines, step: gpu.step.buffer };
  const ids = createStorage(gpu.device, 'test.ids', rows * k * 4);
  const values = createStorage(gpu.device, 'test.vals', rows * k * 4);
  const op = new TopKOp(env, 'test.topk', { logits: uploadStorage(gpu.device, 'test.logits', x), ids, values }, vocab, k, { sliceLength });
  await runPass(gpu, rows, (pass) => op.encode(pass, rows));
  const gotIds = await readU32(gpu.device, ids, rows * k);
  const gotVals = await readF32(gpu.device, values, rows * k);
  for (let r = 0; r < rows; r++) {
    const want = Array.from(topK(oracle, k, r * vocab, vocab));
    expect(Array.from(gotIds.subarray(r * k, (r + 1) * k)), `row ${r} ids`).toEqual(want);
    expect(Array.from(gotVals.subarray(r * k, (r + 1) * k)), `row ${r} values`).toEqual(want.map((i) => x[r * vocab + i]));
  }
  return op;
}

describe('top-k', () => {
  // 32000 and 5000 span several slices (5000 is no multiple of the slice length).
  const cases: [number, number, number][] = [[1, 1, 1], [1, 32000, 16], [3, 257, 5], [17, 1000, 8], [128, 77, 16], [2, 16, 16], [3, 5000, 8]];
  for (const [rows, vocab, k] of cases) {
    for (const kind of ['random', 'tied'] as const) {
      for (const sliceLength of [2048, Infinity]) {
        it(`k=${k} of ${vocab}, ${rows} rows, ${kind} logits, slices of ${sliceLength}`, async () => {
          const x = kind === 'random' ? randomF32(rows * vocab, rows * 3 + vocab, -5, 5) : tiedLogits(rows * vocab, rows + vocab);
          if (rows > 1) x.fill(-Infinity, vocab, vocab + Math.floor(vocab / 2)); // row 1: half masked
          const op = await checkTopK(x, rows, vocab, k, x, sliceLength);
          expect(op.slices).toBe(topKSlices(vocab, sliceLength));
        });
      }
    }
  }

  it('splits large vocabularies into slices, up to 64', () => {
    expect(topKSlices(2048)).toBe(1);
    expect(topKSlices(2049)).toBe(2);
    expect(topKSlices(32000)).toBeGreaterThan(8);
    expect(topKSlices(1 << 20)).toBe(64);
    expect(topKSlices(1 << 20, Infinity)).toBe(1);
    expect(topKSlices(32000, 8192)).toBe(4);
  });

  it('k=16 just above the one-slice vocabulary: two slices, ties at their boundary', async () => {
    const vocab = 2049;
    const x = tiedLogits(2 * vocab, 7).map((v) => Math.min(v, 1));
    x.fill(2, 0, vocab).fill(2, vocab + 1020, vocab + 1040); // row 0 all equal; row 1: the best 20 straddle the cut at 1025
    const op = await checkTopK(x, 2, vocab, 16);
    expect(op.slices).toBe(2);
  });

  it('all-equal rows across many slices keep the lowest ids', async () => {
    const [rows, vocab] = [2, 20001];
    await checkTopK(new Float32Array(rows * vocab).fill(0.5), rows, vocab, 16);
    await checkTopK(new Float32Array(rows * vocab).fill(-Infinity), rows, vocab, 8);
  });

  it('the best k all in the last slice; -inf everywhere else', async () => {
    const [rows, vocab, k] = [3, 12345, 12];
    const x = randomF32(rows * vocab, 11, -5, 5);
    for (let i = 0; i < k; i++) x[vocab - 1 - i] = 10 + (i % 3); // row 0: ties inside the last slice
    x.fill(-Infinity, vocab, 3 * vocab - 5); // row 1: every slice -inf; row 2: all but its last 5
    for (let i = 0; i < 3; i++) x[vocab + 7000 + i] = 1; // row 1: three finite values amid -inf
    await checkTopK(x, rows, vocab, k);
  });

  it('NaN logits never win', async () => {
    const [rows, vocab, k] = [2, 9000, 8];
    const x = randomF32(rows * vocab, 5, -5, 5);
    const nan = randomU32(rows * vocab, 10, 6);
    for (let i = 0; i < x.length; i++) if (nan[i] === 0 || i % 2048 === 0) x[i] = NaN;
    for (let i = 0; i < vocab; i++) if (i % 3) x[vocab + i] = NaN; // row 1: two thirds NaN
    // topK's sort comparator is not a total order with NaN; a NaN-free copy with -inf in their
    // place has the same answer while k finite values exist in every row.
    await checkTopK(x, rows, vocab, k, x.map((v) => (Number.isNaN(v) ? -Infinity : v)));
  });

  it('guard: a row holding one NaN or infinity has NO_ID first; finite rows are untouched', async () => {
    const [rows, vocab, k] = [5, 5000, 4];
    const x = randomF32(rows * vocab, 9, -5, 5);
    // row 0 finite; rows 1-4 one bad logit each, in the second slice (two stages) or the first
    [[1, 4321, NaN], [2, 3000, Infinity], [3, 17, -Infinity], [4, 0, NaN]].forEach(([r, i, v]) => (x[r * vocab + i] = v));
    for (const sliceLength of [2048, Infinity]) {
      const gpu = await testGpu();
      const env = { device: gpu.device, pipelines: gpu.pipelines, step: gpu.step.buffer };
      const ids = createStorage(gpu.device, 'test.ids', rows * k * 4);
      const values = createStorage(gpu.device, 'test.vals', rows * k * 4);
      const op = new TopKOp(env, 'test.topkGuard', { logits: uploadStorage(gpu.device, 'test.logits', x), ids, values }, vocab, k, { sliceLength, guard: true });
      await runPass(gpu, rows, (pass) => op.encode(pass, rows));
      const got = await readU32(gpu.device, ids, rows * k);
      expect(Array.from(got.subarray(0, k)), `finite row, slices of ${sliceLength}`).toEqual(Array.from(topK(x, k, 0, vocab)));
      for (let r = 1; r < rows; r++) expect(got[r * k], `row ${r}, slices of ${sliceLength}`).toBe(0xffffffff);
    }
  });

  it('128 rows of a 32000 vocabulary', async () => {
    const [rows, vocab] = [128, 32000];
    const x = tiedLogits(rows * vocab, 3);
    for (let r = 0; r < rows; r += 2) x.set(randomF32(vocab, r, -5, 5), r * vocab); // even rows random, odd tied
    await checkTopK(x, rows, vocab, 8);
  });

  it('rejects k above 16 or above the vocabulary', async () => {
    const gpu = await testGpu();
    const env = { device: gpu.device, pipelines: gpu.pipelines, step: gpu.step.buffer };
    const buf = () => createStorage(gpu.device, 'b', 4 * 64);
    expect(() => new TopKOp(env, 't', { logits: buf(), ids: buf(), values: buf() }, 32, 17)).toThrow(OpShapeError);
    expect(() => new TopKOp(env, 't', { logits: buf(), ids: buf(), values: buf() }, 4, 5)).toThrow(OpShapeError);
  });
});
