/**
 * --profile: every kernel of a pass is timed (timestamp queries, or per-kernel submits timed
 * from the CPU), the profiled pass computes exactly what the unprofiled one does, and a
 * profiled generation reports a per-step and a total breakdown with the same tokens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine';
import { GpuModel } from '../../src/model/gpu-model';
import { ForwardProfiler } from '../../src/gpu/pass-recorder';
import { makeFixture, FIXTURE_SHAPES } from '../../src/model/fixture';
import { MemorySource } from '../../src/model/source';
import { loadModelFiles, type ModelFiles } from '../../src/model/weights';
import { testGpu, type TestGpu } from './util';
import { isSoftwareAdapter } from '../../src/gpu/adapter';

/** Kernels of a layer; the RMSNorms and silu * up run as their own kernels unless fused into qkv, gateUp, lmHead and down. */
const layerKernels = (fused: boolean) => (fused ? ['qkv', 'rope', 'attention', 'o', 'gateUp', 'down'] : ['inputNorm', 'qkv', 'rope', 'attention', 'o', 'postNorm', 'gateUp', 'siluMul', 'down']);
const passKernels = (fused: boolean) => ['embed', ...layerKernels(fused), ...(fused ? [] : ['finalNorm']), 'lmHead', 'topK'];

describe('profiling', () => {
  let gpu: TestGpu;
  let files: ModelFiles;
  beforeAll(async () => {
    gpu = await testGpu();
    files = await loadModelFiles(new MemorySource(makeFixture(FIXTURE_SHAPES.tiny, 5)));
  });

  const timings = (): ('gpu-timestamps' | 'cpu-submit')[] => (gpu.device.features.has('timestamp-query') ? ['gpu-timestamps', 'cpu-submit'] : ['cpu-submit']);

  for (const fused of [false, true]) it(`times every kernel of a pass, in order, without changing its logits (fuseNorm and fuseSilu ${fused})`, async () => {
    const model = await GpuModel.load(gpu.device, files, { maxContext: 32, maxTreeRows: 8, weightDtype: 'f32', fuseNorm: fused, fuseFinalNorm: fused, fuseSilu: fused });
    try {
      const tokens = Int32Array.of(3, 1, 4, 1, 5);
      const positions = Int32Array.of(0, 1, 2, 3, 4);
      const mask = new Uint32Array(5 * 4);
      for (let r = 0; r < 5; r++) mask[r * 4] = (1 << (r + 1)) - 1;
      model.forward(tokens, positions, mask);
      const plain = await model.readLogits(5);
      for (const timing of timings()) {
        const profiler = new ForwardProfiler(gpu.device, timing);
        model.profiler = profiler;
        model.forward(tokens, positions, mask);
        model.profiler = null;
        const spans = await profiler.take();
        const layers = files.config.numLayers;
        const tail = passKernels(fused).slice(1 + layerKernels(fused).length);
        const expected = ['embed', ...Array.from({ length: layers }, (_, l) => layerKernels(fused).map((k) => `layer${l}.${k}`)).flat(), ...tail];
        expect(spans.map((s) => s.label), timing).toEqual(expected);
        for (const s of spans) expect(Number.isFinite(s.ms) && s.ms >= 0, `${timing} ${s.label} ${s.ms}`).toBe(true);
        expect(await model.readLogits(5), timing).toEqual(plain);
        expect(await profiler.take(), 'take() empties the profiler').toEqual([]);
      }
    } finally {
      model.destroy();
    }
  });

  describe('a profiled generation', () => {
    let engine: Engine;
    beforeAll(async () => {
      engine = await Engine.load(files, { maxContext: 64, weightDtype: 'f32' });
    });
    afterAll(() => engine?.destroy());

    for (const strategy of ['ar', 'random']) {
      it(`${strategy}: same tokens, a kernel breakdown per step and in total`, async () => {
        const prompt = Int32Array.of(1, 20, 30, 40);
        const plain = await engine.generateText(prompt, { maxTokens: 6, strategy });
        expect(plain.stats.profile).toBeUndefined();
        expect(plain.stats.steps.every((s) => s.kernelMs === undefined)).toBe(true);
        const profiled = await engine.generateText(prompt, { maxTokens: 6, strategy, profile: true });
        expect(profiled.tokens).toEqual(plain.tokens);
        const p = profiled.stats.profile!;
        expect(p.timing).toBe(gpu.device.features.has('timestamp-query') ? 'gpu-timestamps' : 'cpu-submit');
        // the engine's plan: on a software adapter the layers' RMSNorms unfused, the final one and silu * up fused
        // and, both strategies reading no more than the argmax of a row, the argmax kernel in place of the top-k
        const plan = isSoftwareAdapter(gpu.device) ? passKernels(false).filter((k) => k !== 'finalNorm' && k !== 'siluMul') : passKernels(true);
        const KERNELS = plan.map((k) => (k === 'topK' ? 'argmax' : k));
        // kvCompact runs in a step after a commit that moved rows (a non-first child accepted)
        const kernels = (ms: Record<string, number>) => Object.keys(ms).filter((k) => k !== 'kvCompact').sort();
        expect(kernels(p.kernelMs)).toEqual([...KERNELS].sort());
        for (const step of profiled.stats.steps) expect(kernels(step.kernelMs ?? {})).toEqual([...KERNELS].sort());
        for (const k of KERNELS) {
          const sum = profiled.stats.steps.reduce((t, s) => t + s.kernelMs![k], 0);
          expect(p.kernelMs[k]).toBeCloseTo(sum, 6);
        }
        const total = Object.values(p.kernelMs).reduce((t, ms) => t + ms, 0);
        expect(p.msPerToken).toBeCloseTo(total / profiled.stats.generatedTokens, 6);
        // the next unprofiled generation is unprofiled again
        expect((await engine.generateText(prompt, { maxTokens: 2, strategy })).stats.profile).toBeUndefined();
      });
    }
  });
});
