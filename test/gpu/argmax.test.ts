import { describe, expect, it } from 'vitest';
import { createStorage, uploadStorage } from '../../src/gpu/buffers.ts';
import { argmax } from '../../src/model/cpu-ops.ts';
import { ArgmaxOp } from '../../src/ops/argmax.ts';
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
