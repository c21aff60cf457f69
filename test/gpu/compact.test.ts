/**
 * KV-cache commit (compaction) against plain CPU moves: row path[j] of a pass at `prefix`
 * ends up in slot prefix + j, in every layer, for K and V, with overlapping sources and
 * destinations; nothing else changes.
 */
import { describe, expect, it } from 'vitest';
import { ContextLengthError } from '../../src/errors.ts';
import { writeStorage } from '../../src/gpu/buffers.ts';
import { KvCache, KvCommitError, kvCacheBytes } from '../../src/kv/cache.ts';
import { randomTree } from './tree-util.ts';
import { expectClose, randomF32, readF32, rng, testGpu } from './util.ts';
import { GpuCounter } from '../../src/gpu/counter.ts';

const shape = { numLayers: 3, nKvHeads: 2, headDim: 5, capacity: 400, maxRows: 128 };
const W = shape.nKvHeads * shape.headDim;

/** Fills every layer's K and V with distinct random values; returns the CPU copies. */
async function fill(device: GPUDevice, kv: KvCache, seed: number): Promise<Float32Array[]> {
  const data: Float32Array[] = [];
  for (let l = 0; l < shape.numLayers; l++) {
    for (const [i, buf] of [kv.k[l], kv.v[l]].entries()) {
      const d = randomF32(shape.capacity * W, seed + 10 * l + i);
      writeStorage(device, buf, d);
      data.push(d);
    }
  }
  return data;
}

/** The CPU oracle: a copy of `before` with row path[j] at slot prefix + j. */
function moved(before: Float32Array, prefix: number, path: ArrayLike<number>): Float32Array {
  const after = before.slice();
  for (let j = 0; j < path.length; j++) after.set(before.subarray((prefix + path[j]) * W, (prefix + path[j] + 1) * W), (prefix + j) * W);
  return after;
}

async function expectCommit(device: GPUDevice, kv: KvCache, path: ArrayLike<number>, passRows: number, seed: number): Promise<void> {
  const prefix = kv.length;
  const before = await fill(device, kv, seed);
  kv.commit(path, passRows);
  expect(kv.length).toBe(prefix + path.length);
  kv.flush(); // the moves are recorded lazily (by the next pass, or here)
  for (let l = 0; l < shape.numLayers; l++) {
    expectClose(await readF32(device, kv.k[l], shape.capacity * W), moved(before[2 * l], prefix, path), 0, 0, `layer ${l} K`);
    expectClose(await readF32(device, kv.v[l], shape.capacity * W), moved(before[2 * l + 1], prefix, path), 0, 0, `layer ${l} V`);
  }
}

/** Root-to-node path of a random tree: strictly increasing rows starting at 0. */
function treePath(rows: number, seed: number): Int32Array {
  const tree = randomTree(rows, seed);
  let deepest = 0;
  for (let r = 0; r < rows; r++) if (tree.depths[r] > tree.depths[deepest]) deepest = r;
  const path: number[] = [];
  for (let a = deepest; a >= 0; a = tree.parents[a]) path.unshift(a);
  return Int32Array.from(path);
}

describe('kv cache commit', () => {
  it('states its memory bound', () => {
    expect(kvCacheBytes(shape)).toBe(2 * 3 * 400 * 2 * 5 * 4);
  });

  it('moves overlapping paths like sequential CPU moves, commit after commit', async () => {
    const { device, pipelines } = await testGpu();
    const kv = new KvCache(device, pipelines, shape, new GpuCounter('test'));
    await expectCommit(device, kv, Int32Array.from({ length: 40 }, (_, i) => i), 40, 1); // a prefill chunk
    await expectCommit(device, kv, [0, 2, 3], 4, 2); // 2 -> 1 while 3 -> 2
    await expectCommit(device, kv, [0], 1, 3); // plain decode step
    await expectCommit(device, kv, [0, 127], 128, 4);
    await expectCommit(device, kv, treePath(128, 5), 128, 5);
    const r = rng(6);
    for (let t = 0; t < 4; t++) {
      const rows = 2 + Math.floor(r() * 100);
      await expectCommit(device, kv, treePath(rows, 100 + t), rows, 7 + t);
    }
    kv.destroy();
  });

  it('truncates, then commits at the shorter length', async () => {
    const { device, pipelines } = await testGpu();
    const kv = new KvCache(device, pipelines, shape, new GpuCounter('test'));
    kv.commit(Int32Array.from({ length: 50 }, (_, i) => i), 50);
    kv.truncate(31);
    expect(kv.length).toBe(31);
    await expectCommit(device, kv, [0, 1, 5, 9], 10, 8);
    kv.destroy();
  });

  it('rejects paths the compaction cannot do in place, and overflows', async () => {
    const { device, pipelines } = await testGpu();
    const kv = new KvCache(device, pipelines, shape, new GpuCounter('test'));
    expect(() => kv.commit([0, 3, 2], 4)).toThrow(KvCommitError);
    expect(() => kv.commit([0, 0], 4)).toThrow(KvCommitError);
    expect(() => kv.commit([0, 4], 4)).toThrow(KvCommitError);
    expect(() => kv.commit([], 4)).toThrow(KvCommitError);
    expect(() => kv.truncate(1)).toThrow(KvCommitError);
    for (let i = 0; i < 3; i++) kv.commit(Int32Array.from({ length: 128 }, (_, j) => j), 128);
    expect(() => kv.commit([0], 20)).toThrow(ContextLengthError);
    kv.commit([0], 16);
    expect(kv.length).toBe(385);
    kv.destroy();
  });
});
