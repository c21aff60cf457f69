import { describe, it } from 'vitest';
import { createStorage, uploadF16Rows, uploadStorage } from '../../src/gpu/buffers.ts';
import { embed } from '../../src/model/cpu-ops.ts';
import { EmbedOp, type WeightDtype } from '../../src/ops/embed.ts';
import { expectClose, randomF32, randomU32, readF32, roundF16, runPass, testGpu } from './util.ts';

describe('embedding gather', () => {
  const cases: [WeightDtype, number, number, number][] = [
    ['f32', 1, 37, 8],
    ['f32', 17, 300, 64],
    ['f16', 1, 37, 9],
    ['f16', 3, 101, 33],
    ['f16', 128, 53, 16],
  ];
  for (const [dtype, rows, vocab, hidden] of cases) {
    it(`${dtype} table ${vocab}x${hidden}, ${rows} rows`, async () => {
      const gpu = await testGpu();
      const env = { device: gpu.device, pipelines: gpu.pipelines, step: gpu.step.buffer };
      const maxRows = 128;
      const table = randomF32(vocab * hidden, vocab + hidden, -2, 2);
      const tokens = randomU32(maxRows, vocab, rows);
      tokens[0] = vocab - 1; // the last row of the table
      const tableBuf = dtype === 'f16' ? uploadF16Rows(gpu.device, 'test.table', table, vocab, hidden) : uploadStorage(gpu.device, 'test.table', table);
      const out = createStorage(gpu.device, 'test.out', maxRows * hidden * 4);
      const op = new EmbedOp(env, 'test.embed', { tokens: uploadStorage(gpu.device, 'test.tokens', tokens), table: tableBuf, out }, hidden, vocab, dtype);
      await runPass(gpu, rows, (pass) => op.encode(pass, rows));
      const got = await readF32(gpu.device, out, maxRows * hidden);
      // a gather copies values: exact (f16 -> f32 is exact)
      const ref = embed(dtype === 'f16' ? roundF16(table) : table, hidden, tokens.subarray(0, rows));
      expectClose(got.subarray(0, rows * hidden), ref, 0, 0, 'embedding rows');
      expectClose(got.subarray(rows * hidden), new Float32Array((maxRows - rows) * hidden), 0, 0, 'rows beyond');
    });
  }
});
