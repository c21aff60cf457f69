import { defineConfig } from 'vite';

// Bundles the Node benchmark runner with the engine (shaders inlined by the `?raw` glob),
// like vite.lib.config.ts bundles dist/cli.js.
export default defineConfig({
  root: new URL('..', import.meta.url).pathname,
  logLevel: 'warn',
  // Nothing of public/ (models, prompts) is copied next to the bundle.
  publicDir: false,
  build: {
    outDir: 'bench-out/.build',
    emptyOutDir: true,
    target: 'es2022',
    minify: false,
    sourcemap: true,
    lib: { entry: { node: 'bench/node.ts' }, formats: ['es'] },
    rolldownOptions: { external: [/^node:/, 'webgpu', /^@huggingface\//] },
  },
});
