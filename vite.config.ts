import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

// The demo page (`npm run demo`, `vite build` -> dist-demo/). The library build has its own
// config (vite.lib.config.ts) and the tests theirs (vitest.config.ts).
const repo = fileURLToPath(new URL('.', import.meta.url));

/** Fixed ports: Playwright's webServer (playwright.config.ts) waits on the preview port. */
export const demoPorts = { dev: 5173, preview: 4317 };

export default defineConfig({
  root: 'demo',
  // public/ at the repository root holds the bundled models, served at /models/...
  publicDir: '../public',
  // Relative asset URLs, so dist-demo/ works from any path of a static host.
  base: './',
  // No single-page fallback: a missing model file must be a 404, not index.html served as config.json.
  appType: 'mpa',
  server: {
    port: demoPorts.dev,
    // demo/ imports the engine from ../src and shaders from ../shaders.
    fs: { allow: [repo] },
  },
  preview: { port: demoPorts.preview, strictPort: true, host: '127.0.0.1' },
  // Errors are told apart by class name (TreespecError sets name from the class, and the worker
  // revives errors by name), so minification must keep class names.
  worker: { format: 'es', rolldownOptions: { output: { keepNames: true } } },
  build: {
    outDir: '../dist-demo',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    rolldownOptions: { output: { keepNames: true } },
  },
});
