/**
 * Which gpu project runs a test file: Chromium's WebGPU (gpu-browser) or Node's `webgpu`
 * package (gpu-node). Both run every kernel and forward test; long lists of seeded cases are
 * shared between them (`mine`, `alternating`). On SwiftShader a kernel test's time is mostly
 * pipeline compilation, once per (entry, override constants) and shared by every shape, so the
 * matmul lists share whole (variant, dtype) pairs rather than single shapes.
 *
 * The engine-level sampling tests (chi-square over hundreds of seeded generations) are the
 * suite's most expensive tests and check TypeScript that both runtimes share, over kernels that
 * the kernel tests check in both. Each of them runs in one runtime only, assigned so that the
 * two projects, which run side by side, take about the same time.
 */
import { describe, it } from 'vitest';

export type GpuRuntime = 'browser' | 'node';

export const runtime: GpuRuntime = typeof window === 'undefined' ? 'node' : 'browser';

/** `describe`, run only in the gpu project of `where`. */
export const describeIn = (where: GpuRuntime) => describe.runIf(runtime === where);

/** `it`, run only in the gpu project of `where`. */
export const itIn = (where: GpuRuntime) => it.runIf(runtime === where);

/**
 * Whether this gpu project runs the `index`-th of a list of cases that the two projects share:
 * even indices in Node, odd ones in Chromium. For kernel and forward tests over many seeded
 * shapes: the WGSL, its compiler and SwiftShader are the same in both runtimes, only the
 * JavaScript binding differs, so together the projects still run every case once and each runs
 * every kernel (the lists alternate within each variant and dtype).
 */
export function mine(index: number): boolean {
  return index % 2 === (runtime === 'node' ? 0 : 1);
}

/**
 * `it` for the next case of a shared list (see `mine`): successive calls alternate between the
 * projects; the other project's cases are reported as skipped.
 */
export function alternating(): (name: string, fn: () => Promise<void> | void, timeout?: number) => void {
  let n = 0;
  return (name, fn, timeout) => it.runIf(mine(n++))(name, fn, timeout);
}
