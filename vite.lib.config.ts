import { defineConfig, type Plugin } from 'vite';

// Library build: dist/index.js (the ES module web apps import; shaders are inlined by the
// `?raw` glob in src/gpu/shaders.ts), dist/worker.js (WorkerEngine), dist/engine-worker.js
// (the Web Worker's script) and dist/cli.js (the Node command line). No source maps: the
// bundles are neither minified nor mangled, so stack traces already read as the source does.

/** Stands for the worker's URL in src/worker/client.ts while this build runs (see below). */
const WORKER_URL_SENTINEL = '__TREESPEC_ENGINE_WORKER_URL__';

/**
 * dist/worker.js must create its worker as `new Worker(new URL('./engine-worker.js',
 * import.meta.url), { type: 'module' })`, verbatim: the form consumer bundlers (Vite, webpack 5)
 * recognise and bundle, and one a static host serves as is. Left alone, this build would
 * recognise it too and replace it with a hashed asset path that the consumer's bundler cannot
 * follow. So the source's literal is swapped for a sentinel before Vite's worker plugin sees it,
 * and the sentinel for the entry's stable file name once the chunk is written.
 */
function workerUrl(): Plugin {
  const source = "new URL('./engine-worker.ts', import.meta.url)";
  let replaced = 0;
  return {
    name: 'treespec:worker-url',
    enforce: 'pre',
    transform(code, id) {
      if (!id.endsWith('/src/worker/client.ts')) return null;
      if (!code.includes(source)) this.error(`src/worker/client.ts no longer contains ${source}; update vite.lib.config.ts`);
      return { code: code.replace(source, `new URL(${WORKER_URL_SENTINEL}, import.meta.url)`), map: null };
    },
    renderChunk(code, chunk) {
      if (!code.includes(WORKER_URL_SENTINEL)) return null;
      // Every entry is written at dist/'s top level, so the worker's script is a sibling.
      if (chunk.fileName.includes('/')) this.error(`${chunk.fileName}: the worker URL must be resolved from dist/'s top level`);
      replaced++;
      return { code: code.replaceAll(WORKER_URL_SENTINEL, JSON.stringify('./engine-worker.js')), map: null };
    },
    generateBundle(_, bundle) {
      if (replaced === 0) this.error('the worker URL was not written into any chunk');
      if (!bundle['engine-worker.js']) this.error('dist/engine-worker.js was not built');
    },
  };
}

export default defineConfig({
  plugins: [workerUrl()],
  build: {
    outDir: 'dist',
    // The fixture models under public/ are served by the demo, not part of the library.
    copyPublicDir: false,
    emptyOutDir: true,
    target: 'es2022',
    minify: false,
    sourcemap: false,
    lib: {
      entry: {
        index: 'src/index.ts',
        worker: 'src/worker/client.ts',
        'engine-worker': 'src/worker/engine-worker.ts',
        cli: 'src/cli/entry.ts',
      },
      formats: ['es'],
    },
    rolldownOptions: {
      external: [/^node:/, 'webgpu', /^@huggingface\//],
    },
  },
});
