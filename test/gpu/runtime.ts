/**
 * Which gpu project runs a test file: Chromium's WebGPU (gpu-browser) or Node's `webgpu`
 * package (gpu-node). Both run every kernel and forward test.
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
