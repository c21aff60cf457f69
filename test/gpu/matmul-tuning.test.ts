/**
 * Matmul tiling per adapter (src/ops/matmul-tuning.ts): the load-time measurement runs on a
 * real adapter, keeps the fastest of its candidates with every time measured, and the model
 * built with it computes the reference logits (here on SwiftShader, whose own default is the
 * dot entry: 'auto' forces the split entry). Each candidate's kernels: matmul.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { OptionsError } from '../../src/errors.ts';
import { FIXTURE_SHAPES, makeFixture } from '../../src/model/fixture.ts';
import { GpuModel } from '../../src/model/gpu-model.ts';
import { ReferenceModel } from '../../src/model/reference.ts';
import { MemorySource } from '../../src/model/source.ts';
import { dequantizedFiles, loadModelFiles, type ModelFiles } from '../../src/model/weights.ts';
import { splitTilings, type MatmulTiling } from '../../src/ops/matmul-tuning.ts';
import { ATOL_F16_KV, expectClose, randomU32, testGpu, type TestGpu } from './util.ts';
import { chain } from './tree-util.ts';

describe('matmul tiling', () => {
  let gpu: TestGpu;
  let files: ModelFiles;
  beforeAll(async () => {
    gpu = await testGpu();
    files = await loadModelFiles(new MemorySource(makeFixture(FIXTURE_SHAPES.tiny, 11)));
  });

  // Split passes and their pipelines are slow on SwiftShader (compiles of seconds, a barrier per
  // reduction step), so one 'auto' load of a model of at most 2 rows per pass: it times 1 and 2
  // rows, as many rounds as its time budget allows.
  it("'auto' times every candidate, keeps the fastest, and the model computes the reference logits", async () => {
    const rows = 2;
    const model = await GpuModel.load(gpu.device, files, { maxContext: 32, maxTreeRows: rows, weightDtype: 'f32', matmulTiling: 'auto' });
    try {
      const tuning = model.matmul.tuning!;
      const candidates = splitTilings(gpu.device.limits);
      expect(tuning.rows).toEqual([1, 2]);
      expect(tuning.rounds).toBeGreaterThanOrEqual(1);
      expect(tuning.timings.map((t) => t.tiling)).toEqual(candidates);
      for (const t of tuning.timings) for (const ms of t.ms) expect(Number.isFinite(ms) && ms > 0, JSON.stringify(t)).toBe(true);
      // chosen by the sum over row counts of each candidate's median
      const totals = tuning.timings.map((t) => t.ms[0] + t.ms[1]);
      const chosen = candidates.findIndex((t) => JSON.stringify(t) === JSON.stringify(tuning.chosen));
      expect(totals[chosen]).toBe(Math.min(...totals));
      expect(model.matmul.tiling).toEqual(tuning.chosen);
      const tokens = Int32Array.from(randomU32(rows, files.config.vocabSize, 12));
      model.forward(tokens, Int32Array.from({ length: rows }, (_, i) => i), chain(rows).mask);
      expectClose(await model.readLogits(rows), ReferenceModel.fromFiles(files, 64).forward(tokens), 2e-4, 0, 'logits');
    } finally {
      model.destroy();
    }
  });

  // The run-of-words entry (split-wide) in a whole model whose rows end in a partial run: the
  // awkward fixture (f16 file; hidden 72, intermediate 100: f16 rows of 36 and 50 words, q4 rows
  // of 2.25 and 3.125 blocks); 3 rows in tiles of 2.
  for (const weightDtype of ['f16', 'q4'] as const) {
    it(`split-wide on ${weightDtype} weights computes the reference logits of the weights the GPU holds`, async () => {
      const rows = 3;
      const tiling: MatmulTiling = { variant: 'split-wide', workgroupSize: 64, rowTiles: [1, 2] };
      const files = await loadModelFiles(new MemorySource(makeFixture(FIXTURE_SHAPES.awkward, 12)));
      const model = await GpuModel.load(gpu.device, files, { maxContext: 32, maxTreeRows: rows, weightDtype, matmulTiling: tiling });
      try {
        expect(model.matmul).toEqual({ tiling, tuning: null });
        const tokens = Int32Array.from(randomU32(rows, files.config.vocabSize, 13));
        model.forward(tokens, Int32Array.from({ length: rows }, (_, i) => i), chain(rows).mask);
        const held = weightDtype === 'q4' ? dequantizedFiles(files, 'q4') : files;
        // (f16 and q4 weights: an f16 KV cache by default, the reference's too)
        expectClose(await model.readLogits(rows), ReferenceModel.fromFiles(held, 64, 64, 'f16').forward(tokens), ATOL_F16_KV, 0, 'logits');
      } finally {
        model.destroy();
      }
    });
  }

  it('a tiling the device cannot run is an OptionsError at load, and the device stays usable', async () => {
    const bad: MatmulTiling = { variant: 'split', workgroupSize: 256, rowTiles: [1, 16] };
    await expect(GpuModel.load(gpu.device, files, { maxContext: 32, weightDtype: 'f32', matmulTiling: bad })).rejects.toThrow(OptionsError);
    const model = await GpuModel.load(gpu.device, files, { maxContext: 32, weightDtype: 'f32', matmulTiling: 'default' });
    expect(model.matmul).toEqual({ tiling: null, tuning: null });
    model.destroy();
  });
});
