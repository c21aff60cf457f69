import { defineConfig } from 'playwright/test';
import { chromiumArgs, chromiumPath } from './test/chromium.ts';
import { demoPorts } from './vite.config.ts';

// End-to-end tests of the built demo (dist-demo/, served by `vite preview`) in Debian's
// headless Chromium with WebGPU (SwiftShader when there is no GPU). Playwright never
// downloads a browser here: executablePath points at the system one.
const baseURL = `http://127.0.0.1:${demoPorts.preview}/`;

export default defineConfig({
  testDir: 'e2e',
  // e2e/bench* are browser benchmark runs with their own entry point, not tests.
  testIgnore: ['**/bench*'],
  outputDir: 'test-results',
  // One engine per page already keeps both CPU cores busy (SwiftShader); parallel pages would only slow each other.
  workers: 1,
  fullyParallel: false,
  // Model load and generation on a software GPU take minutes, not seconds.
  timeout: 600_000,
  expect: { timeout: 300_000 },
  reporter: [['list']],
  use: {
    baseURL,
    browserName: 'chromium',
    launchOptions: { executablePath: chromiumPath(), args: chromiumArgs },
    viewport: { width: 1200, height: 900 },
    trace: 'retain-on-failure',
  },
  webServer: {
    // Always the current code: build the demo, then serve the static build.
    command: `npx vite build && npx vite preview --port ${demoPorts.preview} --strictPort`,
    url: baseURL,
    timeout: 600_000,
    reuseExistingServer: !process.env.CI,
    stdout: 'pipe',
  },
});
