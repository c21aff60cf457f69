import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
import { chromiumArgs, chromiumPath } from './test/chromium.ts';

// vitest's reporter calls Map.groupBy (Node >= 21); Node 20 lacks it, so provide it here,
// in the main process, or a failing test crashes the reporter instead of being reported.
if (!(Map as unknown as { groupBy?: unknown }).groupBy) {
  (Map as unknown as { groupBy: unknown }).groupBy = <T, K>(items: Iterable<T>, key: (item: T, i: number) => K): Map<K, T[]> => {
    const m = new Map<K, T[]>();
    let i = 0;
    for (const item of items) {
      const k = key(item, i++);
      const list = m.get(k);
      if (list) list.push(item);
      else m.set(k, [item]);
    }
    return m;
  };
}

// Projects (npm test runs the first three; `measure` only on request):
//  unit  - pure TypeScript logic in Node (fast).
//  gpu-browser - kernel/forward/speculative tests inside headless Chromium's WebGPU.
//  gpu-node    - the same GPU tests on Node's `webgpu` package (Dawn + SwiftShader).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'gpu-node',
          include: ['test/gpu/**/*.test.ts'],
          environment: 'node',
          testTimeout: 600_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
      {
        // Measurements on the shipped models (npm run measure:drafters), never part of npm test.
        test: {
          name: 'measure',
          include: ['test/measure/**/*.test.ts'],
          environment: 'node',
          testTimeout: 3_600_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'gpu-browser',
          include: ['test/gpu/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 600_000,
          fileParallelism: false,
          browser: {
            enabled: true,
            headless: true,
            provider: playwright({
              launchOptions: { executablePath: chromiumPath(), args: chromiumArgs },
            }),
            instances: [{ browser: 'chromium' }],
            screenshotFailures: false,
          },
        },
      },
    ],
  },
});
