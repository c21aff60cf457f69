import { describe, expect, it } from 'vitest';
import { createStorage, f16RowStride, packF16Rows, unpackF16Rows, uploadStorage } from '../../src/gpu/buffers.ts';
import { CopyOp } from '../../src/gpu/copy.ts';
import { OpShapeError, ReadbackStateError, ShaderNotFoundError } from '../../src/gpu/errors.ts';
import { cpuTimeSubmit, GpuTimer } from '../../src/gpu/profiler.ts';
import { ReadbackRing } from '../../src/gpu/readback.ts';
import { shaderNames, shaderSource } from '../../src/gpu/shaders.ts';
import { randomF32, randomU32, readU32, roundF16, runPass, testGpu } from './util.ts';
import { GpuCounter } from '../../src/gpu/counter.ts';

describe('shader sources', () => {
  it('inlines //#include snippets once and keeps the kernel text', () => {
    const src = shaderSource('add_f32');
    expect(src).toContain('struct Step');
    expect(src.match(/struct Step/g)).toHaveLength(1);
    expect(src).not.toMatch(/^\s*\/\/#include/m);
    expect(shaderSource('add_f32.wgsl')).toBe(src);
    expect(shaderNames()).toContain('common/step');
  });

  it('names a missing shader', () => {
    expect(() => shaderSource('no_such_kernel')).toThrow(ShaderNotFoundError);
  });
});

describe('f16 row packing', () => {
  it('packs rows separately, odd widths padded, element 2i in the low half', () => {
    const rows = 3;
    const cols = 5;
    const w = randomF32(rows * cols, 1, -4, 4);
    const packed = packF16Rows(w, rows, cols);
    expect(packed.length).toBe(rows * f16RowStride(cols));
    expect(f16RowStride(cols)).toBe(3);
    // the high half of each row's last word is the zero padding
    for (let r = 0; r < rows; r++) expect(packed[r * 3 + 2] >>> 16).toBe(0);
    expect(Array.from(unpackF16Rows(packed, rows, cols))).toEqual(Array.from(roundF16(w)));
  });
});

describe('pipelines, copy and readback', () => {
  it('creates each (shader, constants) pipeline once', async () => {
    const gpu = await testGpu();
    const a = gpu.pipelines.get('copy_u32', { WG: 64 });
    const before = gpu.pipelines.size;
    expect(gpu.pipelines.get('copy_u32', { WG: 64 })).toBe(a);
    expect(gpu.pipelines.size).toBe(before);
    expect(gpu.pipelines.get('copy_u32', { WG: 128 })).not.toBe(a);
    await gpu.pipelines.checkCompilation();
  });

  it('copies a buffer whose length is not a multiple of the workgroup', async () => {
    const gpu = await testGpu();
    const n = 4 * 301; // 301 vec4 words
    const data = randomU32(n, 2 ** 32, 7);
    const src = uploadStorage(gpu.device, 'test.src', data);
    const dst = createStorage(gpu.device, 'test.dst', n * 4);
    const op = new CopyOp(gpu.pipelines, 'test.copy', src, dst);
    await runPass(gpu, 1, (pass) => op.encode(pass));
    expect(Array.from(await readU32(gpu.device, dst, n))).toEqual(Array.from(data));
  });

  it('reads back through a ring of staging buffers and refuses misuse', async () => {
    const gpu = await testGpu();
    const { device } = gpu;
    const src = uploadStorage(device, 'test.ring.src', Uint32Array.from({ length: 16 }, (_, i) => i * 3));
    const ring = new ReadbackRing(device, 'test.ring', 32, new GpuCounter('test'), 2);
    const out = new Uint32Array(8);
    for (let step = 0; step < 3; step++) {
      const enc = device.createCommandEncoder();
      const slot = ring.copy(enc, src, step * 4, 8);
      device.queue.submit([enc.finish()]);
      await ring.read(slot, out);
      expect(Array.from(out.subarray(0, 2))).toEqual([step * 3, (step + 1) * 3]);
    }
    const enc = device.createCommandEncoder();
    const s0 = ring.copy(enc, src, 0, 4);
    const s1 = ring.copy(enc, src, 4, 4);
    expect(() => ring.copy(enc, src, 8, 4)).toThrow(ReadbackStateError);
    expect(() => ring.copy(enc, src, 0, 64)).toThrow(OpShapeError);
    device.queue.submit([enc.finish()]);
    expect((await ring.read(s1, out))[0]).toBe(3);
    expect((await ring.read(s0, out))[0]).toBe(0);
    await expect(ring.read(s0, out)).rejects.toThrow(ReadbackStateError);
  });
});

describe('profiler', () => {
  it('times profiled passes with timestamps when the adapter has them, else from the CPU', async () => {
    const gpu = await testGpu();
    const { device } = gpu;
    const n = 4 * 4096;
    const src = uploadStorage(device, 'test.prof.src', randomU32(n, 1000, 3));
    const dst = createStorage(device, 'test.prof.dst', n * 4);
    const op = new CopyOp(gpu.pipelines, 'test.prof.copy', src, dst);
    const encodeCopies = (enc: GPUCommandEncoder, timer: GpuTimer | null) => {
      for (const label of ['first', 'second']) {
        const pass = enc.beginComputePass({ label, timestampWrites: timer?.pass(label) });
        op.encode(pass);
        pass.end();
      }
    };
    const cpuMs = await cpuTimeSubmit(device, () => {
      const enc = device.createCommandEncoder();
      encodeCopies(enc, null);
      device.queue.submit([enc.finish()]);
    });
    expect(cpuMs).toBeGreaterThan(0);
    if (!gpu.hasTimestamps) {
      expect(() => new GpuTimer(device)).toThrow(OpShapeError);
      return;
    }
    const timer = new GpuTimer(device, 4, 'test.prof');
    for (let frame = 0; frame < 2; frame++) {
      const enc = device.createCommandEncoder();
      encodeCopies(enc, timer);
      timer.resolve(enc);
      device.queue.submit([enc.finish()]);
      const spans = await timer.read();
      expect(spans.map((s) => s.label)).toEqual(['first', 'second']);
      for (const s of spans) expect(s.ms).toBeGreaterThanOrEqual(0);
    }
    await expect(timer.read()).rejects.toThrow(ReadbackStateError);
  });
});
