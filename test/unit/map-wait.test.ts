/**
 * The sleep before a map (src/gpu/map-wait.ts): with calm waits, a map is requested only after
 * half of the shortest recent wait has passed; without, at once. Every map still resolves.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { calmMapWaits, MapWaiter } from '../../src/gpu/map-wait';

/** A buffer whose map resolves `ms` after it is requested, recording when each request came. */
function slowBuffer(ms: number): { buffer: GPUBuffer; requests: number[] } {
  const requests: number[] = [];
  const buffer = {
    mapAsync: () => {
      requests.push(performance.now());
      return new Promise<void>((resolve) => setTimeout(resolve, ms));
    },
  } as unknown as GPUBuffer;
  return { buffer, requests };
}

describe('MapWaiter', () => {
  beforeAll(() => {
    (globalThis as { GPUMapMode?: unknown }).GPUMapMode ??= { READ: 1, WRITE: 2 };
  });
  afterEach(() => calmMapWaits(false));

  it('with calm waits, sleeps half the shortest recent wait before requesting the map', async () => {
    calmMapWaits(true);
    const waiter = new MapWaiter();
    const { buffer, requests } = slowBuffer(40);
    await waiter.map(buffer, 0, 4); // no history: requested at once
    const t = performance.now();
    await waiter.map(buffer, 0, 4);
    expect(requests[1] - t).toBeGreaterThanOrEqual(18); // half of >= 40 ms, less timer slack
    expect(requests).toHaveLength(2);
  });

  it('without calm waits, requests every map at once', async () => {
    const waiter = new MapWaiter();
    const { buffer, requests } = slowBuffer(40);
    await waiter.map(buffer, 0, 4);
    const t = performance.now();
    await waiter.map(buffer, 0, 4);
    expect(requests[1] - t).toBeLessThan(10);
  });
});
