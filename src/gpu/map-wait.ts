/**
 * Waiting for a buffer map without taking a core from a software GPU.
 *
 * Dawn's Node binding polls for a pending map with setImmediate, so the JS thread spins a whole
 * core until the GPU work before the map is done. On a software adapter (SwiftShader) the GPU is
 * the CPU, and that core is taken from the threads doing the work. There a map first sleeps on a
 * timer for half of the shortest of its counter's recent waits (a decode loop repeats its
 * waits), then maps, so the spin covers only the rest. Elsewhere (browsers, hardware adapters)
 * a map is requested at once.
 */

let calm = false;

/** Turns the sleep before a map on or off for this process (acquireDevice decides). */
export function calmMapWaits(on: boolean): void {
  calm = on;
}

/** Waits shorter than this are not worth a timer (setTimeout's resolution is about 1 ms). */
const MIN_SLEEP_MS = 2;
/** How many recent waits the sleep is taken from. */
const HISTORY = 8;

export class MapWaiter {
  /** Milliseconds from the map request to its resolution, last HISTORY of them. */
  private readonly recent: number[] = [];

  async map(buffer: GPUBuffer, offset: number, bytes: number): Promise<void> {
    if (!calm) return buffer.mapAsync(GPUMapMode.READ, offset, bytes);
    const start = performance.now();
    const sleep = this.recent.length ? Math.min(...this.recent) / 2 : 0;
    if (sleep >= MIN_SLEEP_MS) await new Promise((resolve) => setTimeout(resolve, sleep));
    await buffer.mapAsync(GPUMapMode.READ, offset, bytes);
    this.recent.push(performance.now() - start);
    if (this.recent.length > HISTORY) this.recent.shift();
  }
}
