/**
 * Shared helpers of the GPU tests: one device per test file, seeded random inputs, uploads,
 * readback, running a pass, and a tolerance check that reports the worst element.
 */
import { expect } from 'vitest';
import { acquireDevice, type GpuContext } from '../../src/gpu/device.ts';
import { PipelineCache } from '../../src/gpu/pipelines.ts';
import { StepUniform } from '../../src/gpu/step.ts';

export interface TestGpu extends GpuContext {
  pipelines: PipelineCache;
  step: StepUniform;
}

let shared: Promise<TestGpu> | null = null;

/** The device of this test file (acquired once), with a pipeline cache and a Step uniform. */
export function testGpu(): Promise<TestGpu> {
  shared ??= acquireDevice().then((ctx) => {
    ctx.device.addEventListener('uncapturederror', (e) => console.error('uncaptured WebGPU error:', (e as GPUUncapturedErrorEvent).error.message));
    return { ...ctx, pipelines: new PipelineCache(ctx.device), step: new StepUniform(ctx.device, 'test.step') };
  });
  return shared;
}

/** mulberry32: a small seeded generator of uniform floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n uniform floats in [lo, hi), seeded. */
export function randomF32(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
}

/** n uniform integers in [0, max), seeded. */
export function randomU32(n: number, max: number, seed: number): Uint32Array {
  const r = rng(seed);
  return Uint32Array.from({ length: n }, () => Math.floor(r() * max));
}

export { roundF16 } from '../../src/model/f16.ts';

/** Copies `bytes` bytes of `buf` from `offset` to the CPU. */
export async function readBytes(device: GPUDevice, buf: GPUBuffer, bytes = buf.size, offset = 0): Promise<ArrayBuffer> {
  const staging = device.createBuffer({ label: 'test.readback', size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder({ label: 'test.readback' });
  enc.copyBufferToBuffer(buf, offset, staging, 0, bytes);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = staging.getMappedRange().slice(0);
  staging.destroy();
  return out;
}

export async function readF32(device: GPUDevice, buf: GPUBuffer, n: number, offsetElems = 0): Promise<Float32Array> {
  return new Float32Array(await readBytes(device, buf, n * 4, offsetElems * 4));
}

export async function readU32(device: GPUDevice, buf: GPUBuffer, n: number, offsetElems = 0): Promise<Uint32Array> {
  return new Uint32Array(await readBytes(device, buf, n * 4, offsetElems * 4));
}

/**
 * Writes the Step uniform (rows, prefix), records `encode` into one compute pass, submits, and
 * throws if WebGPU reported a validation or out-of-memory error meanwhile.
 */
export async function runPass(gpu: TestGpu, rows: number, encode: (pass: GPUComputePassEncoder) => void, prefix = 0): Promise<void> {
  const { device } = gpu;
  device.pushErrorScope('validation');
  device.pushErrorScope('out-of-memory');
  gpu.step.write(rows, prefix);
  const enc = device.createCommandEncoder({ label: 'test.pass' });
  const pass = enc.beginComputePass({ label: 'test.pass' });
  encode(pass);
  pass.end();
  device.queue.submit([enc.finish()]);
  const oom = await device.popErrorScope();
  const invalid = await device.popErrorScope();
  if (oom) throw new Error(`WebGPU out of memory: ${oom.message}`);
  if (invalid) {
    await gpu.pipelines.checkCompilation(); // names the shader line when a compile error caused it
    throw new Error(`WebGPU validation error: ${invalid.message}`);
  }
}

/**
 * Logits tolerance of a GPU forward with an f16 KV cache against the reference with the same
 * cache (f16, q8 and q4 weights load one by default). GPU and CPU K/V still differ by f32 ulps
 * (summation order), and where a value lies at an f16 rounding midpoint that becomes one f16
 * ulp (2^-11 relative). Observed up to 7.5e-4 on qwen2-bias-f16 (150 causal rows, forward.test.ts)
 * and 3.1e-4 on a 70-row q4 chunk (forward-quant.test.ts, Chromium); the f32 cache's reference
 * differs from the f16 one's by up to 4.8e-3 on qwen2-bias-f16 (forward.test.ts checks it
 * exceeds this bound), so the bound still tells the two caches apart. Greedy tokens must be
 * identical. With an f32 cache the tests keep 2e-4 (f32 summation order and exp/rsqrt only).
 */
export const ATOL_F16_KV = 1.5e-3;

/**
 * Fails unless |actual - expected| <= atol + rtol * |expected| everywhere; the message names
 * the first failing index and the largest error, so a failure points at the broken element.
 */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol = 0, what = 'values'): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = 0;
  let worstAt = -1;
  let firstBad = -1;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    const ok = err <= atol + rtol * Math.abs(expected[i]);
    if (!ok && firstBad < 0) firstBad = i;
    if (!(err <= worst)) { worst = err; worstAt = i; }
  }
  if (firstBad >= 0) {
    expect.fail(`${what}: element ${firstBad} is ${actual[firstBad]}, expected ${expected[firstBad]} (atol ${atol}, rtol ${rtol}); largest error ${worst} at ${worstAt}`);
  }
}
