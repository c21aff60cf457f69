/** Which JavaScript runtime the code runs in: what a model source or a WebGPU provider may use. */

/** Node, not a browser page or worker (which a bundler may have given a `process` shim). */
export function isNode(): boolean {
  return typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined' && !('importScripts' in globalThis);
}

/**
 * An absolute URL for `url`: relative ones resolve against the page (a worker's own location
 * would resolve them against its script instead), so '/models/x/' and 'models/x/' mean what
 * they mean in the page's HTML. Outside a browser the string is returned as given.
 */
export function absoluteUrl(url: string): string {
  const g = globalThis as { document?: { baseURI: string }; location?: { href: string } };
  const base = g.document?.baseURI ?? g.location?.href;
  return base ? new URL(url, base).href : url;
}
