/**
 * RMSNorm and SwiGLU as their own kernels or fused into the projections after them
 * (GpuModelOptions.fuseNorm, fuseSilu): every forward mode matches the CPU reference, on every
 * weight format, including the early-exit read (final norm + LM head over a tapped hidden
 * state), whichever mode the adapter defaults to.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_SHAPES, makeFixture } from '../../src/model/fixture.ts';
import { GpuModel } from '../../src/model/gpu-model.ts';
import { ReferenceModel } from '../../src/model/reference.ts';
import { MemorySource } from '../../src/model/source.ts';
import { dequantizedFiles, loadModelFiles, type ModelFiles } from '../../src/model/weights.ts';
import { ATOL_F16_KV, expectClose, randomU32, testGpu } from './util.ts';
import { chain } from './tree-util.ts';
import { alternating } from './runtime.ts';

describe('fused and unfused RMSNorm and SwiGLU', () => {
  let device: GPUDevice;
  const fixtures: Record<string, ModelFiles> = {};
  beforeAll(async () => {
    device = (await testGpu()).device;
    fixtures.tiny = await loadModelFiles(new MemorySource(makeFixture(FIXTURE_SHAPES.tiny, 8)));
    fixtures.awkward = await loadModelFiles(new MemorySource(makeFixture(FIXTURE_SHAPES.awkward, 9)));
  });

  // Shared between the gpu projects (./runtime.ts), each meeting both fixtures.
  const cases = [
    ['tiny', 'f32'],
    ['awkward', 'f16'],
    ['awkward', 'q4'],
    ['tiny', 'q8'],
  ] as const;
  const shared = alternating();
  for (const [name, weightDtype] of cases) {
    shared(`${name} ${weightDtype}: both modes match the reference, taps included`, async () => {
      const files = fixtures[name];
      // the cache the load picks when none is named: f32 for f32 weights, else f16; the reference's is the same
      const kvDtype = weightDtype === 'f32' ? 'f32' : 'f16';
      const reference = ReferenceModel.fromFiles(weightDtype === 'q8' || weightDtype === 'q4' ? dequantizedFiles(files, weightDtype) : files, 64, 64, kvDtype);
      const tokens = Int32Array.from(randomU32(9, files.config.vocabSize, 4));
      const expected = reference.forward(tokens);
      const taps: Int32Array[] = [];
      const modes = [{ fuseNorm: false, fuseFinalNorm: false, fuseSilu: false }, { fuseNorm: true, fuseSilu: false }, { fuseNorm: false, fuseSilu: true }];
      for (const mode of modes) {
        const model = await GpuModel.load(device, files, { maxContext: 32, maxTreeRows: 16, weightDtype, ...mode });
        try {
          expect(model.kv.dtype).toBe(kvDtype);
          model.tapHidden([1]);
          model.forward(tokens, Int32Array.from({ length: 9 }, (_, i) => i), chain(9).mask);
          expectClose(await model.readLogits(9), expected, kvDtype === 'f16' ? ATOL_F16_KV : 2e-4, 0, `logits (${JSON.stringify(mode)})`);
          taps.push(await model.readTapTopK(1, [0, 4, 8]));
        } finally {
          model.destroy();
        }
      }
      expect(taps[1]).toEqual(taps[0]);
      expect(taps[2]).toEqual(taps[0]);
    });
  }
});
