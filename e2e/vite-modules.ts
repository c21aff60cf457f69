/**
 * Engine modules loaded in the test's Node process through Vite's SSR transform, the one the demo
 * is built with (src/gpu/shaders.ts reads the kernels with Vite's `import.meta.glob`, which a
 * plain Node import cannot run), so that a test computes what the page should show with the same
 * code and data.
 */
import { fileURLToPath } from 'node:url';
import { createServer } from 'vite';

const repo = fileURLToPath(new URL('..', import.meta.url));

/** Loads each repository-relative path (e.g. 'src/model/memory.ts') and calls `use` with the modules. */
export async function withViteModules<T>(paths: string[], use: (modules: Record<string, unknown>[]) => T | Promise<T>): Promise<T> {
  const server = await createServer({
    configFile: false,
    root: repo,
    logLevel: 'error',
    appType: 'custom',
    server: { middlewareMode: true, hmr: false, ws: false },
    optimizeDeps: { noDiscovery: true, include: [] },
  });
  try {
    const modules = [];
    for (const p of paths) modules.push(await server.ssrLoadModule(`${repo}${p}`));
    return await use(modules);
  } finally {
    await server.close();
  }
}
