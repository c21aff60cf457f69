import { describe, expect, it } from 'vitest';
import { createStorage, uploadStorage } from '../../src/gpu/buffers.ts';
import { argmax, topK } from '../../src/model/cpu-ops.ts';
import { ArgmaxOp } from '../../src/ops/argmax.ts';
import { TopKOp } from '../../src/ops/topk.ts';
import { randomF32, randomU32, readU32, runPass, testGpu } from './util.ts';

/**
 * Logits with many exact ties: values drawn from a few levels, so the lowest-id rule decides
 * most rows; each row's maximum is also planted at a random position, sometimes twice.
 */
function tiedLogits(rows: number, vocab: number, seed: number): Float32Array {
  const levels = randomU32(rows * vocab, 7, seed);
  const x = Float32Array.from(levels, (l) => l * 0.5 - 1);
  const pos = randomU32(rows * 2, vocab, seed + 1);
  for (let r = 0; r < rows; r++) {
    x[r * vocab + pos[2 * r]] = 9;
    if (r % 2) x[r * vocab + pos[2 * r + 1]] = 9;
  }
  return x;
}

describe('argmax', () => {
  for (const [rows, vocab] of [[1, 1], [1, 32000], [3, 257], [17, 1000], [128, 77]] as const) {
    for (const kind of ['random', 'tied'] as const) {
      it(`${rows} rows over ${vocab}, ${kind} logits`, async () => {
        const gpu = await testGpu();
        const env = { device: gpu.device, pipelines: gpu.pipelines, step: gpu.step.buffer };
        const x = kind === 'random' ? randomF32(rows * vocab, rows + vocab, -5, 5) : tiedLogits(rows, vocab, rows + vocab);
        const ids = createStorage(gpu.device, 'test.ids', rows * 4);
        const op = new ArgmaxOp(env, 'test.argmax', { logits: uploadStorage(gpu.device, 'test.logits', x), ids }, vocab);
        await runPass(gpu, rows, (pass) => op.encode(pass, rows));
        const expected = Array.from({ length: rows }, (_, r) => argmax(x, r * vocab, vocab));
        expect(Array.from(await readU32(gpu.device, ids, rows))).toEqual(expected);
      });
    }
  }

  it('ranks -inf (masked) logits and ignores NaN like the CPU rule', async () => {
    const gpu = await testGpu();
    const env = { device: gpu.device, pipelines: gpu.pipelines, step: gpu.step.buffer };
    const vocab = 300;
    const x = new Float32Array(3 * vocab).fill(-Infinity);
    x[vocab + 200] = -3; // row 1: a single finite value
    x[2 * vocab + 5] = NaN; // row 2: NaN is never the max
    x[2 * vocab + 7] = -1;
    const ids = createStorage(gpu.device, 'test.ids', 3 * 4);
    const op = new ArgmaxOp(env, 'test.argmax', { logits: uploadStorage(gpu.device, 'test.logits', x), ids }, vocab);
    await runPass(gpu, 3, (pass) => op.encode(pass, 3));
    expect(Array.from(await readU32(gpu.device, ids, 3))).toEqual([0, 200, 7]);
  });
});

const NO_ID = 0xffffffff;

/**
 * The target pass's argmax-only head (ForwardOptions.topK false): column 0 of a (rows, k) top-k
 * layout, guarded. Its oracle is the top-k's column 0 (CPU topK, and TopKOp with the guard on
 * the same logits, one slice and a GPU's slices), the other columns NO_ID.
 */
describe('argmax into a top-k layout (k columns, guard)', () => {
  async function run(x: Float32Array, rows: number, vocab: number, k: number): Promise<{ argmax: Uint32Array; topK: Uint32Array[] }> {
    const gpu = await testGpu();
    const env = { device: gpu.device, pipelines: gpu.pipelines, step: gpu.step.buffer };
    const logits = uploadStorage(gpu.device, 'test.logits', x);
    const ids = createStorage(gpu.device, 'test.ids', rows * k * 4);
    // stale words where the argmax writes NO_ID
    gpu.device.queue.writeBuffer(ids, 0, new Uint32Array(rows * k).fill(7));
    const op = new ArgmaxOp(env, 'test.argmaxK', { logits, ids }, vocab, { k, guard: true });
    await runPass(gpu, rows, (pass) => op.encode(pass, rows));
    const out = { argmax: await readU32(gpu.device, ids, rows * k), topK: [] as Uint32Array[] };
    for (const sliceLength of [2048, Infinity]) {
      const tIds = createStorage(gpu.device, 'test.topkIds', rows * k * 4);
      const values = createStorage(gpu.device, 'test.topkVals', rows * k * 4);
      const t = new TopKOp(env, 'test.topkGuard', { logits, ids: tIds, values }, vocab, k, { sliceLength, guard: true });
      await runPass(gpu, rows, (pass) => t.encode(pass, rows));
      out.topK.push(await readU32(gpu.device, tIds, rows * k));
    }
    return out;
  }

  function expectColumn0(got: { argmax: Uint32Array; topK: Uint32Array[] }, rows: number, k: number, want: number[]): void {
    const col = (a: Uint32Array) => Array.from({ length: rows }, (_, r) => a[r * k]);
    expect(col(got.argmax), 'argmax column 0').toEqual(want);
    got.topK.forEach((t, i) => expect(col(t), `top-k column 0 (${i ? 'one slice' : 'slices'})`).toEqual(want));
    for (let r = 0; r < rows; r++) expect(Array.from(got.argmax.subarray(r * k + 1, (r + 1) * k)), `row ${r} columns 1..`).toEqual(new Array(k - 1).fill(NO_ID));
  }

  // seeded random shapes: rows 1..20, vocabulary 1..6000 (past one 2048-logit slice), k 1..16
  const shapes = Array.from({ length: 4 }, (_, i) => {
    const [a, b, c] = randomU32(3, 1 << 30, 40 + i);
    return [1 + (a % 20), 1 + (b % 6000), 1 + (c % 16)] as const;
  });
  for (const [rows, vocab, k] of shapes) {
    it(`${rows} rows over ${vocab}, k ${k}: random and tied logits give the top-k's column 0`, async () => {
      for (const x of [randomF32(rows * vocab, rows * vocab, -5, 5), tiedLogits(rows, vocab, rows + vocab)]) {
        expectColumn0(await run(x, rows, vocab, k), rows, k, Array.from({ length: rows }, (_, r) => topK(x, 1, r * vocab, vocab)[0]));
      }
    });
  }

  it('ties go to the lowest id, within a thread, across threads and across top-k slices', async () => {
    const [rows, vocab, k] = [5, 4200, 8];
    const x = randomF32(rows * vocab, 11, -5, -1);
    x.fill(3, 0, vocab); // row 0: all equal
    [[1, 300], [1, 44], [2, 255], [2, 256], [3, 4100], [3, 2100], [4, 2048], [4, 2047 + 2048]].forEach(([r, i]) => (x[r * vocab + i] = 2));
    expectColumn0(await run(x, rows, vocab, k), rows, k, [0, 44, 255, 2100, 2048]);
  });

  it('guard: a row holding one NaN or infinity gets NO_ID as the top-k does; finite rows are untouched', async () => {
    const [rows, vocab, k] = [6, 5000, 4];
    const x = randomF32(rows * vocab, 9, -5, 5);
    // row 0 finite; rows 1-4 one bad logit each (first or second slice), row 5 all NaN
    [[1, 4321, NaN], [2, 3000, Infinity], [3, 17, -Infinity], [4, 0, NaN]].forEach(([r, i, v]) => (x[r * vocab + i] = v));
    x.fill(NaN, 5 * vocab);
    expectColumn0(await run(x, rows, vocab, k), rows, k, [topK(x, 1, 0, vocab)[0], NO_ID, NO_ID, NO_ID, NO_ID, NO_ID]);
  });
});
