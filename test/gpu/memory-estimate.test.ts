/**
 * The memory estimate (src/model/memory.ts) against what GpuModel.load really allocates: every
 * device.createBuffer of a load is recorded and summed by kind (weights.*, kv.k / kv.v, the
 * staging buffers, the rest), and each term of the estimate must equal its sum exactly. The
 * buffers the estimate leaves out (uniforms, 4-byte placeholder bindings) must stay under
 * SMALL_BYTES in all. Then Engine.load: a model over `memoryBudget` is refused with
 * ModelTooLargeError having read config.json only, and 'auto' loads the format it picks.
 *
 * The allocation is TypeScript that both runtimes share, so the file runs in gpu-node only.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import { testGpu } from './util.ts';
import { describeIn, itIn } from './runtime.ts';
import { GpuModel } from '../../src/model/gpu-model.ts';
import { estimateMemory } from '../../src/model/memory.ts';
import { preferredTopKSlice } from '../../src/ops/topk.ts';
import { FIXTURE_SHAPES, makeFixture } from '../../src/model/fixture.ts';
import { MemorySource } from '../../src/model/source.ts';
import { loadModelFiles, type ModelFiles } from '../../src/model/weights.ts';
import { Engine, planWeights } from '../../src/engine/engine.ts';
import { ModelTooLargeError } from '../../src/errors.ts';
import type { KvDtype } from '../../src/kv/cache.ts';
import type { WeightDtype } from '../../src/model/upload.ts';
import { hfGolden } from '../hf-goldens.ts';

/** Bytes the estimate may leave out: uniforms (16 bytes) and placeholders (4 bytes), a few per op. */
const SMALL_BYTES = 16 * 1024;

/** A MemorySource that records which files were read. */
class RecordingSource extends MemorySource {
  readonly reads: string[] = [];
  override async read(file: string, onProgress?: Parameters<MemorySource['read']>[1]): Promise<Uint8Array> {
    this.reads.push(file);
    return super.read(file, onProgress);
  }
}

/** Sums of the buffers created while `f` runs, by kind. */
async function allocated(device: GPUDevice, f: () => Promise<unknown>): Promise<{ weights: number; kvCache: number; staging: number; other: number; small: number; labels: string[] }> {
  const sizes: { label: string; size: number; usage: number }[] = [];
  const create = device.createBuffer.bind(device);
  device.createBuffer = (d: GPUBufferDescriptor) => {
    sizes.push({ label: d.label ?? '', size: d.size, usage: d.usage });
    return create(d);
  };
  try {
    await f();
  } finally {
    device.createBuffer = create;
  }
  const sum = (p: (b: (typeof sizes)[number]) => boolean) => sizes.filter(p).reduce((n, b) => n + b.size, 0);
  const isWeight = (l: string) => l.startsWith('weights.');
  const isKv = (l: string) => /^kv\.[kv]\d+$/.test(l);
  const isStaging = (b: (typeof sizes)[number]) => (b.usage & GPUBufferUsage.MAP_READ) !== 0;
  // uniforms, and the 4-byte storage placeholders of unused bindings (never copied to or from)
  const small = (b: (typeof sizes)[number]) => (b.usage & GPUBufferUsage.UNIFORM) !== 0 || (b.size === 4 && (b.usage & (GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC)) === 0);
  return {
    weights: sum((b) => isWeight(b.label)),
    kvCache: sum((b) => isKv(b.label)),
    staging: sum(isStaging),
    other: sum((b) => !isWeight(b.label) && !isKv(b.label) && !isStaging(b) && !small(b)),
    small: sum(small),
    labels: sizes.map((b) => b.label),
  };
}

describeIn('node')('memory estimate = what GpuModel.load allocates', () => {
  let device: GPUDevice;
  beforeAll(async () => {
    device = (await testGpu()).device;
  });

  // (tied qwen2 with biases at q8: the Engine.load case below; the untied head: test/unit/memory.test.ts)
  const cases: [string, () => Promise<ModelFiles>, WeightDtype, number, KvDtype][] = [
    // Gemma 3: four norms per layer, q/k norms, a second (local) RoPE table, the head sharing the
    // f16 embedding; vocabulary 262144. No kvDtype named in either case: the cache follows the
    // weights (f16 here, f32 for phi4mini), in the load and in the estimate alike
    ['gemma3 f16', async () => (await hfGolden('gemma3')).files, 'f16', 4, 'f16'],
    // Phi-4-mini-like: partial rotary, so the RoPE table holds rotaryDim (12), not headDim (16), values per position
    ['phi4mini f32', async () => (await hfGolden('phi4mini')).files, 'f32', 4, 'f32'],
  ];
  for (const [name, files, dtype, maxRows, kvDtype] of cases) {
    itIn('node')(`${name}, ${maxRows} rows, ${kvDtype} KV cache: weights, KV cache, activations and staging exact`, async () => {
      const f = await files();
      const maxContext = 24;
      let model: GpuModel | null = null;
      const got = await allocated(device, async () => {
        model = await GpuModel.load(device, f, { maxContext, maxTreeRows: maxRows, weightDtype: dtype });
      });
      expect(model!.kv.dtype).toBe(kvDtype);
      const e = estimateMemory(f.config, { dtype, maxContext, maxRows, topKSlice: preferredTopKSlice(device) });
      expect(e.kvDtype).toBe(kvDtype);
      // gemma3: half the f32 cache (28 slots of 8 values a layer: 448 bytes padded to 512, f32 896 to 1024)
      if (name === 'gemma3 f16') expect(e.kvCache * 2).toBe(estimateMemory(f.config, { dtype, maxContext, maxRows, kvDtype: 'f32' }).kvCache);
      expect(got.weights).toBe(e.weights);
      expect(got.kvCache).toBe(e.kvCache);
      expect(got.staging).toBe(e.staging);
      expect(got.other).toBe(e.activations);
      expect(got.small).toBeLessThan(SMALL_BYTES);
      expect(e.total).toBe(got.weights + got.kvCache + got.staging + got.other);
      // the model's own account agrees (weights and KV cache)
      expect(model!.memory.weights).toBe(e.weights);
      expect(model!.memory.kvCache).toBe(e.kvCache);
      model!.destroy();
    });
  }
});

describeIn('node')('Engine.load checks the estimate before downloading weights', () => {
  // tied qwen2 with q/k/v biases, widths not multiples of 32 (q8 blocks padded, a q8 copy of the embedding as the head)
  const fixture = makeFixture({ ...FIXTURE_SHAPES.awkward, maxPositionEmbeddings: 64 }, 3);
  const opts = { maxContext: 32, maxTreeNodes: 7 };
  let device: GPUDevice;
  const engines: Engine[] = [];
  beforeAll(async () => {
    device = (await testGpu()).device;
  });
  afterAll(() => engines.forEach((e) => e.destroy()));

  const totals = async () => {
    const config = (await loadModelFiles(new MemorySource(fixture))).config;
    const t = (dtype: WeightDtype) => estimateMemory(config, { dtype, maxContext: 32, maxRows: 8, topKSlice: preferredTopKSlice(device) }).total;
    return { config, f32: t('f32'), f16: t('f16'), q8: t('q8'), q4: t('q4') };
  };

  itIn('node')("over memoryBudget: ModelTooLargeError naming needed and available bytes, only config.json read; 'auto' then picks what fits and allocates as estimated", async () => {
    const t = await totals();
    const source = new RecordingSource(fixture);
    const err = await Engine.load(source, { ...opts, device, weightDtype: 'f16', memoryBudget: t.f16 - 1 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(ModelTooLargeError);
    expect(err).toMatchObject({ name: 'ModelTooLargeError', needed: t.f16, available: t.f16 - 1, limit: 'memoryBudget' });
    expect((err as Error).message).toContain(`${t.f16} bytes`);
    expect((err as Error).message).toContain(`memoryBudget is ${t.f16 - 1} bytes`);
    expect(source.reads).toEqual(['config.json']);
    // 'auto': the most precise format under the budget, as it shrinks
    expect(t.f32).toBeGreaterThan(t.f16);
    expect(t.f16).toBeGreaterThan(t.q8);
    expect(t.q8).toBeGreaterThan(t.q4);
    const pick = (budget: number) => planWeights(t.config, { weightDtype: 'auto', memoryBudget: budget }, { maxContext: 32, maxRows: 8 }, device).dtype;
    expect([t.f32, t.f32 - 1, t.f16, t.f16 - 1, t.q8, t.q8 - 1, t.q4].map(pick)).toEqual(['f32', 'f16', 'f16', 'q8', 'q8', 'q4', 'q4']);
    expect(() => pick(t.q4 - 1)).toThrow(/^the model does not fit in any weight format .* memoryBudget is \d+ bytes/);
    // nothing is left half-done: the same source loads under the same budget with 'auto' (q8)
    let engine: Engine | null = null;
    const got = await allocated(device, async () => {
      engine = await Engine.load(source, { ...opts, device, weightDtype: 'auto', memoryBudget: t.f16 - 1 });
    });
    engines.push(engine!);
    expect(engine!.weightDtype).toBe('q8');
    // 'auto' picked q8 weights, so the cache is f16 (estimated as such for each candidate format)
    expect([engine!.kvDtype, engine!.model.kv.dtype]).toEqual(['f16', 'f16']);
    const e = estimateMemory(t.config, { dtype: 'q8', maxContext: 32, maxRows: 8, topKSlice: preferredTopKSlice(device) });
    expect(got).toMatchObject({ weights: e.weights, kvCache: e.kvCache, staging: e.staging, other: e.activations });
    expect(got.small).toBeLessThan(SMALL_BYTES);
  });

  itIn('node')("an adapter's per-buffer limit names the buffer and the limit", async () => {
    const { config } = await totals();
    const limits = { ...device.limits, maxStorageBufferBindingSize: 1024, maxBufferSize: device.limits.maxBufferSize };
    const fake = { limits } as unknown as GPUDevice;
    const err = (() => {
      try {
        planWeights(config, { weightDtype: 'f16' }, { maxContext: 32, maxRows: 8 }, fake);
      } catch (e) {
        return e as ModelTooLargeError;
      }
      throw new Error('expected a refusal');
    })();
    expect(err).toMatchObject({ name: 'ModelTooLargeError', limit: 'maxStorageBufferBindingSize', available: 1024 });
    // (the embedding is split by rows: the first buffer that cannot be is refused)
    expect(err.message).toMatch(/buffer "weights\.model\.layers\.0\.self_attn\.qkv_proj\.weight" needs \d+ bytes/);
  });
});
