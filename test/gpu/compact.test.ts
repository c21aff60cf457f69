/**
 * KV-cache commit (compaction) against plain CPU moves: row path[j] of a pass at `prefix`
 * ends up in slot prefix + j, in every layer, for K and V, with overlapping sources and
 * destinations; nothing else changes. The layers share one K and one V buffer (one dispatch
 * per commit), or, where a binding holds fewer layers, groups of them (one dispatch each).
 */
import { describe, expect, it } from 'vitest';
import { ContextLengthError } from '../../src/errors.ts';
import { writeStorage } from '../../src/gpu/buffers.ts';
import { KvCache, KvCommitError, kvCacheBytes, kvLayerBytes, kvSlotWords, type KvCacheShape, type KvRange } from '../../src/kv/cache.ts';
import { randomTree } from './tree-util.ts';
import { expectClose, randomF32, readF32, rng, testGpu } from './util.ts';
import { GpuCounter } from '../../src/gpu/counter.ts';

// 40 bytes a slot: a layer's 16000 bytes are padded to 16128 in the shared buffers
const shape: KvCacheShape = { numLayers: 3, nKvHeads: 2, headDim: 5, capacity: 400, maxRows: 128 };
/** An f16 cache of 15 values a slot: 8 words, the last one half used; a layer 12800 bytes (no padding). */
const shape16: KvCacheShape = { ...shape, nKvHeads: 3, dtype: 'f16' };
/** Limits under which one binding holds two layers: groups [2, 1]. */
const twoLayers = { maxStorageBufferBindingSize: 2 * kvLayerBytes(shape) + 255, maxBufferSize: 1 << 30 };

/** A slot's words: f32 values, or f16 pairs (moved as words, whatever they hold). */
const wordsOf = (kv: KvCache) => kvSlotWords(kv.shape);
/** Slots of layer l's cache: its ring's, or the full capacity. */
const slotsOf = (kv: KvCache, l: number) => kv.ringOf(l) || kv.capacity;
const read = (device: GPUDevice, kv: KvCache, l: number, r: KvRange) => readF32(device, r.buffer, slotsOf(kv, l) * wordsOf(kv), r.offset / 4);

/** Fills every layer's K and V with distinct random words; returns the CPU copies. */
async function fill(device: GPUDevice, kv: KvCache, seed: number): Promise<Float32Array[]> {
  const data: Float32Array[] = [];
  for (let l = 0; l < kv.shape.numLayers; l++) {
    for (const [i, r] of [kv.k[l], kv.v[l]].entries()) {
      const d = randomF32(slotsOf(kv, l) * wordsOf(kv), seed + 10 * l + i);
      writeStorage(device, r.buffer, d, r.offset);
      data.push(d);
    }
  }
  return data;
}

/** The CPU oracle: a copy of `before` (`slots` slots of W words, logical slot s stored at s % slots) with row path[j] at slot prefix + j. */
function moved(before: Float32Array, W: number, prefix: number, path: ArrayLike<number>, slots: number): Float32Array {
  const after = before.slice();
  const at = (s: number) => (s % slots) * W;
  for (let j = 0; j < path.length; j++) after.set(before.subarray(at(prefix + path[j]), at(prefix + path[j]) + W), at(prefix + j));
  return after;
}

async function expectCommit(device: GPUDevice, kv: KvCache, counter: GpuCounter, path: ArrayLike<number>, passRows: number, seed: number): Promise<void> {
  const prefix = kv.length;
  const before = await fill(device, kv, seed);
  kv.commit(path, passRows);
  expect(kv.length).toBe(prefix + path.length);
  const dispatches = counter.snapshot().dispatches;
  kv.flush(); // the moves are recorded lazily (by the next pass, or here)
  const moves = Array.from(path).some((r, j) => r !== j);
  expect(counter.snapshot().dispatches - dispatches, 'one dispatch per buffer pair').toBe(moves ? kv.groups.length : 0);
  for (let l = 0; l < kv.shape.numLayers; l++) {
    expectClose(await read(device, kv, l, kv.k[l]), moved(before[2 * l], wordsOf(kv), prefix, path, slotsOf(kv, l)), 0, 0, `layer ${l} K`);
    expectClose(await read(device, kv, l, kv.v[l]), moved(before[2 * l + 1], wordsOf(kv), prefix, path, slotsOf(kv, l)), 0, 0, `layer ${l} V`);
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
  it('states its memory bound: layers 256-byte aligned in shared buffers', () => {
    expect(kvLayerBytes(shape)).toBe(16128);
    expect(kvCacheBytes(shape)).toBe(2 * 3 * 16128);
    // f16: 15 values a slot take 8 words (f32: 15 words, 24000 bytes padded to 24064)
    expect(kvLayerBytes({ ...shape16, dtype: 'f32' })).toBe(24064);
    expect(kvLayerBytes(shape16)).toBe(400 * 8 * 4);
    expect(kvCacheBytes(shape16)).toBe(2 * 3 * 12800);
  });

  it('moves the words of an f16 cache of odd row width (half a word unused per slot)', async () => {
    const { device, pipelines } = await testGpu();
    const counter = new GpuCounter('test');
    const kv = new KvCache(device, pipelines, shape16, counter);
    expect(kv.dtype).toBe('f16');
    expect(kv.groups.map((g) => g.k.size)).toEqual([3 * 12800]);
    await expectCommit(device, kv, counter, Int32Array.from({ length: 40 }, (_, i) => i), 40, 1);
    await expectCommit(device, kv, counter, [0, 2, 3], 4, 2);
    await expectCommit(device, kv, counter, treePath(128, 5), 128, 5);
    kv.destroy();
  });

  for (const [name, limits, groups] of [['all layers in one buffer', undefined, [3]], ['groups of two layers', twoLayers, [2, 1]]] as const) {
    it(`moves overlapping paths like sequential CPU moves, commit after commit: ${name}`, async () => {
      const { device, pipelines } = await testGpu();
      const counter = new GpuCounter('test');
      const kv = new KvCache(device, pipelines, shape, counter, limits);
      expect(kv.groups.map((g) => g.full + g.rings)).toEqual(groups);
      expect(kv.k.map((r) => r.offset)).toEqual(groups.flatMap((n) => Array.from({ length: n }, (_, i) => i * 16128)));
      const commit = (path: ArrayLike<number>, rows: number, seed: number) => expectCommit(device, kv, counter, path, rows, seed);
      await commit(Int32Array.from({ length: 40 }, (_, i) => i), 40, 1); // a prefill chunk
      await commit([0, 2, 3], 4, 2); // 2 -> 1 while 3 -> 2
      await commit([0], 1, 3); // plain decode step
      await commit([0, 127], 128, 4);
      await commit(treePath(128, 5), 128, 5);
      const r = rng(6);
      for (let t = 0; t < (limits ? 1 : 4); t++) {
        const rows = 2 + Math.floor(r() * 100);
        await commit(treePath(rows, 100 + t), rows, 7 + t);
      }
      kv.destroy();
    });
  }

  // layers 0 and 2 slide over 8 keys: rings of 8 + 128 slots, widened to their 256-byte range
  // (5440 bytes -> 5632: 140 slots), after the full layer 1 in the shared buffers
  const ringShape: KvCacheShape = { ...shape, layerWindows: [8, 0, 8] };
  for (const [name, limits, groups] of [['one buffer', undefined, [[1, 2]]], ['a group per layer', { maxStorageBufferBindingSize: 10000, maxBufferSize: 1 << 30 }, [[1, 0], [0, 1], [0, 1]]]] as const) {
    it(`moves ring layers modulo their slots, past the wrap: ${name}`, async () => {
      const { device, pipelines } = await testGpu();
      const counter = new GpuCounter('test');
      const kv = new KvCache(device, pipelines, ringShape, counter, limits);
      expect([kv.ringOf(0), kv.ringOf(1), kv.ringOf(2)]).toEqual([140, 0, 140]);
      expect(kvCacheBytes(ringShape)).toBe(2 * (16128 + 2 * 5632));
      expect(kv.groups.map((g) => [g.full, g.rings])).toEqual(groups);
      expect(kv.groups.reduce((n, g) => n + g.k.size + g.v.size, 0)).toBe(kvCacheBytes(ringShape));
      expect([kv.k[1].offset, kv.k[0].offset, kv.k[2].offset]).toEqual(limits ? [0, 0, 0] : [0, 16128, 16128 + 5632]);
      const commit = (path: ArrayLike<number>, rows: number, seed: number) => expectCommit(device, kv, counter, path, rows, seed);
      await commit(Int32Array.from({ length: 120 }, (_, i) => i), 120, 1);
      await commit(treePath(60, 5), 60, 2); // sources and destinations on both sides of slot 140
      await commit([0, 3, 30, 31], 40, 3);
      kv.destroy();
    });
  }

  it('says when a ring no longer holds what a pass after a truncation reads', async () => {
    const { device, pipelines } = await testGpu();
    const kv = new KvCache(device, pipelines, ringShape, new GpuCounter('test'));
    kv.wrote(120);
    kv.commit(Int32Array.from({ length: 120 }, (_, i) => i), 120);
    kv.wrote(120 + 128);
    kv.commit([0, 1, 2], 128); // slots 0..107 of the ring layers are overwritten by 140..247
    expect(kv.holds(123)).toBe(true);
    // a pass after 115 reads slots 108..114 (window 8): still held; after 114, slot 107 is gone
    expect([kv.kept(115), kv.kept(114), kv.kept(0)]).toEqual([115, 0, 0]);
    kv.truncate(10);
    expect(kv.holds(10)).toBe(false);
    kv.truncate(0); // an empty cache holds everything it needs again
    expect(kv.holds(0)).toBe(true);
    kv.destroy();
  });

  it('truncates, then commits at the shorter length', async () => {
    const { device, pipelines } = await testGpu();
    const counter = new GpuCounter('test');
    const kv = new KvCache(device, pipelines, shape, counter);
    kv.commit(Int32Array.from({ length: 50 }, (_, i) => i), 50);
    kv.truncate(31);
    expect(kv.length).toBe(31);
    await expectCommit(device, kv, counter, [0, 1, 5, 9], 10, 8);
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
