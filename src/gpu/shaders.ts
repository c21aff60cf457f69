/**
 * The one place where WGSL sources are loaded and joined (STYLE.md point 3).
 *
 * Every file under shaders/ is bundled as a string by Vite's `import.meta.glob` (works in
 * Vitest in Node and in the browser, and in the Vite library build). A kernel pulls a shared
 * snippet with a comment line `//#include common/step.wgsl`; the line is replaced by the
 * snippet's text. Each snippet is inserted at most once per kernel, so two snippets may both
 * include a third. Being a comment, the directive leaves each file valid to WGSL tooling.
 */
import { ShaderNotFoundError } from './errors.ts';

const files = import.meta.glob('../../shaders/**/*.wgsl', { query: '?raw', import: 'default', eager: true }) as Record<string, string>;

/** name ("matmul_f16", "common/step") -> raw text. */
const raw = new Map<string, string>();
for (const [path, text] of Object.entries(files)) raw.set(normalize(path.replace(/^.*\/shaders\//, '')), text);

const INCLUDE = /^[ \t]*\/\/#include[ \t]+(\S+)[ \t]*$/gm;

function normalize(name: string): string {
  return name.replace(/\.wgsl$/, '');
}

/** Names of every bundled shader (kernels and snippets). */
export function shaderNames(): string[] {
  return [...raw.keys()].sort();
}

function expand(name: string, seen: Set<string>, from: string | null): string {
  const text = raw.get(name);
  if (text === undefined) {
    const where = from ? ` (included from shaders/${from}.wgsl)` : '';
    throw new ShaderNotFoundError(`no shader "shaders/${name}.wgsl"${where}; bundled: ${shaderNames().join(', ')}`);
  }
  seen.add(name);
  return text.replace(INCLUDE, (_line, inc: string) => {
    const n = normalize(inc);
    if (seen.has(n)) return `// (already included: ${n})`;
    return `// ---- begin ${n}.wgsl\n${expand(n, seen, name)}\n// ---- end ${n}.wgsl`;
  });
}

const cache = new Map<string, string>();

/** Full WGSL text of a kernel with its includes inlined. `name` is relative to shaders/, with or without ".wgsl". */
export function shaderSource(name: string): string {
  const n = normalize(name);
  let src = cache.get(n);
  if (src === undefined) {
    src = expand(n, new Set(), null);
    cache.set(n, src);
  }
  return src;
}
