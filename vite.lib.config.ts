import { defineConfig } from 'vite';

// Library build: dist/index.js (the ES module web apps import; shaders are inlined by the
// `?raw` glob in src/gpu/shaders.ts) and dist/cli.js (the Node command line).
export default defineConfig({
  build: {
    outDir: 'dist',
    // The fixture models under public/ are served by the demo, not part of the library.
    copyPublicDir: false,
    emptyOutDir: true,
    target: 'es2022',
    minify: false,
    sourcemap: true,
    lib: {
      entry: { index: 'src/index.ts', worker: 'src/worker/client.ts', cli: 'src/cli/entry.ts' },
      formats: ['es'],
    },
    rolldownOptions: {
      external: [/^node:/, 'webgpu', /^@huggingface\//],
    },
  },
});
