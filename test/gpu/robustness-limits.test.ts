/**
 * Limits on the GPU engine (issue 9):
 *  - adapter limits too small for the model: ModelTooLargeError (Engine.load, before the weights
 *    are read) or GpuLimitsError (GpuModel.load) before anything is allocated,
 *    naming the buffer, its bytes and the adapter's maxStorageBufferBindingSize/maxBufferSize;
 *    an embedding and LM head over the binding limit are split by rows instead, and generate alike;
 *  - out-of-memory reported by the device's error scope during allocation: GpuOutOfMemoryError;
 *  - a prompt longer than the context: ContextLengthError; maxTokens beyond the context: the
 *    documented policy, generation stops with finishReason 'context' and never overruns;
 *  - tree budget and engine sizes out of range: OptionsError naming the option.
 * Small limits and out-of-memory are injected through a Proxy over a real device.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { Engine } from '../../src/engine/engine';
import { GpuModel } from '../../src/model/gpu-model';
import { FIXTURE_SHAPES, makeFixture } from '../../src/model/fixture';
import { MemorySource } from '../../src/model/source';
import { loadModelFiles, type ModelFiles } from '../../src/model/weights';
import { acquireDevice } from '../../src/gpu/device';
import { itIn } from './runtime';
import { ContextLengthError, GpuLimitsError, GpuOutOfMemoryError, ModelTooLargeError, OptionsError } from '../../src/errors';

interface Spy {
  createBuffer: number;
}

/** `device` with some limits replaced, counting createBuffer calls, optionally reporting an out-of-memory error at the first popErrorScope. */
function proxyDevice(device: GPUDevice, limits: Partial<Record<keyof GPUSupportedLimits, number>>, spy: Spy, injectOom = false): GPUDevice {
  const lim = new Proxy(device.limits, {
    get: (l, k) => (k in limits ? limits[k as keyof GPUSupportedLimits] : (l as unknown as Record<string | symbol, unknown>)[k]),
  });
  let pops = 0;
  return new Proxy(device, {
    get(t, k) {
      if (k === 'limits') return lim;
      if (k === 'createBuffer') return (d: GPUBufferDescriptor) => (spy.createBuffer++, t.createBuffer(d));
      if (k === 'popErrorScope' && injectOom) {
        // The real scope is popped too, so the device's scope stack stays balanced.
        return async () => {
          const real = await t.popErrorScope();
          return pops++ === 0 ? ({ message: 'injected: out of memory while allocating' } as GPUError) : real;
        };
      }
      const v = (t as unknown as Record<string | symbol, unknown>)[k];
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
}

describe('GPU limits, out of memory, context and option bounds', () => {
  let files: ModelFiles;
  let device: GPUDevice;
  let engine: Engine;
  beforeAll(async () => {
    files = await loadModelFiles(new MemorySource(makeFixture(FIXTURE_SHAPES.tiny, 5)));
    device = (await acquireDevice()).device;
    engine = await Engine.load(files, { maxContext: 24, maxTreeNodes: 16, weightDtype: 'f32', device });
  });
  afterAll(() => engine?.destroy());

  // Engine.load's planning and the upload are TypeScript both runtimes share; the split kernels run in both (row-split.test.ts)
  itIn('node')('an embedding and untied LM head larger than one binding are split by rows: Engine.load generates the same tokens', async () => {
    // tiny f32: vocab 512 x hidden 64 x 4 = 131072 bytes each, in parts of 384 and 128 rows; every other buffer fits 98304
    const spy = { createBuffer: 0 };
    const split = await Engine.load(files, { maxContext: 24, maxTreeNodes: 16, weightDtype: 'f32', device: proxyDevice(device, { maxStorageBufferBindingSize: 98304 }, spy) });
    try {
      const o = { maxTokens: 6, strategy: 'ar' };
      expect((await split.generateText('abc', o)).tokens).toEqual((await engine.generateText('abc', o)).tokens);
      const dispatches = async (e: Engine) => (await e.generateText('abc', { maxTokens: 1, strategy: 'ar' })).stats.gpu.dispatches;
      // one more gather and one more head matmul per pass
      expect(await dispatches(split)).toBeGreaterThan(await dispatches(engine));
    } finally {
      split.destroy();
    }
  });

  it('a weight that cannot be split larger than the storage binding limit: ModelTooLargeError (Engine.load) or GpuLimitsError (GpuModel.load) with the numbers, nothing allocated', async () => {
    const spy = { createBuffer: 0 };
    const small = proxyDevice(device, { maxStorageBufferBindingSize: 65536 }, spy);
    const err = await Engine.load(files, { maxContext: 24, weightDtype: 'f32', device: small }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelTooLargeError);
    const msg = (err as Error).message;
    // tiny: gate/up 2 x 160 rows x hidden 64 f32 = 81920 bytes (the embedding would be split)
    expect(msg).toContain('"weights.model.layers.0.mlp.gate_up_proj" needs 81920 bytes');
    expect(msg).toContain('maxStorageBufferBindingSize is 65536 bytes');
    const direct = await GpuModel.load(small, files, { maxContext: 24, weightDtype: 'f32' }).catch((e: unknown) => e);
    expect(direct).toBeInstanceOf(GpuLimitsError);
    expect((direct as Error).message).toContain('maxStorageBufferBindingSize = 65536');
    expect((direct as Error).message).toContain(`maxBufferSize = ${device.limits.maxBufferSize}`);
    expect(spy.createBuffer).toBe(0);
  });

  it('a KV cache layer larger than the limit: GpuLimitsError names kv.k0', async () => {
    const spy = { createBuffer: 0 };
    const small = proxyDevice(device, { maxStorageBufferBindingSize: 200_000 }, spy);
    // f16 weights fit; with an f32 cache named, 2048 + 17 slots x 2 KV heads x head dim 16 x 4
    // bytes = 264320 bytes, 264448 as a layer's 256-byte aligned range of the shared K buffer, do not.
    const err = await GpuModel.load(small, files, { maxContext: 2048, maxTreeRows: 17, weightDtype: 'f16', kvDtype: 'f32' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpuLimitsError);
    expect((err as Error).message).toContain('"kv.k0" needs 264448 bytes');
    expect(spy.createBuffer).toBe(0);
    // The same model and context with the f16 cache f16 weights get by default (132352 bytes a layer) fits.
    const ok = await GpuModel.load(small, files, { maxContext: 2048, maxTreeRows: 17, weightDtype: 'f16' });
    expect(ok.kv.dtype).toBe('f16');
    ok.destroy();
  });

  it('out of memory during allocation: GpuOutOfMemoryError', async () => {
    const spy = { createBuffer: 0 };
    const oom = proxyDevice(device, {}, spy, true);
    const err = await GpuModel.load(oom, files, { maxContext: 24, maxTreeRows: 17 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpuOutOfMemoryError);
    expect((err as Error).message).toContain('injected: out of memory');
    // The device itself is unharmed: the engine on it still generates.
    expect((await engine.generateText('abc', { maxTokens: 3, strategy: 'ar' })).tokens).toHaveLength(3);
  });

  it('a prompt longer than the context: ContextLengthError with the numbers', async () => {
    const prompt = Int32Array.from({ length: 24 }, (_, i) => 10 + i);
    const err = await engine.generateText(prompt, { maxTokens: 2, strategy: 'ar' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContextLengthError);
    expect((err as Error).message).toMatch(/24 tokens.*holds 24.*at most 23 prompt tokens/);
    // The longest prompt that fits leaves room for one token.
    const r = await engine.generateText(prompt.subarray(0, 23), { maxTokens: 5, strategy: 'ar' });
    expect(r.tokens.length).toBeLessThanOrEqual(1);
    expect(r.stats.finishReason).toMatch(/context|eos|length/);
  });

  it('maxTokens beyond the context: generation stops at the context with finishReason "context"', async () => {
    for (const o of [{ strategy: 'ar' }, { strategy: 'self', treeBudget: 16 }, { strategy: 'random', treeBudget: 16 }]) {
      const r = await engine.generateText(Int32Array.of(1, 2, 3, 4), { maxTokens: 1000, ...o });
      expect(r.stats.finishReason, o.strategy).toBe('context');
      expect(r.stats.promptTokens + r.stats.generatedTokens, o.strategy).toBeLessThanOrEqual(24);
      expect(r.stats.generatedTokens, o.strategy).toBeGreaterThanOrEqual(24 - 4 - 1);
    }
  });

  it('tree budget and engine sizes out of range: OptionsError naming the option', async () => {
    await expect(engine.generateText('abc', { treeBudget: 17, strategy: 'lookup' })).rejects.toThrow(/"treeBudget" is 17; expected an integer in \[0, 16\]/);
    await expect(engine.generateText('abc', { strategy: 'no-such-drafter' })).rejects.toThrow(/"strategy" is "no-such-drafter"; expected one of ar, /);
    await expect(Engine.load(files, { maxTreeNodes: 128, device })).rejects.toThrow(/"maxTreeNodes" is 128/);
    await expect(Engine.load(files, { maxContext: 1, device })).rejects.toThrow(OptionsError);
    await expect(Engine.load(files, { maxContext: 1e6, device })).rejects.toThrow(/"maxContext" \(--max-context\) is 1000000; expected an integer in \[2, \d+\] \(the model's max_position_embeddings\)/);
    // The engine is still usable after every refusal.
    expect((await engine.generateText('abc', { maxTokens: 2, strategy: 'ar' })).tokens).toHaveLength(2);
  });
});
