/**
 * What the browser's Cache API holds for treespec (UrlSource stores every downloaded model
 * file in the "treespec-models" bucket, with its length in a header), and a clear button.
 */
import { el, formatBytes } from './dom';

const BUCKET = 'treespec-models';
const LENGTH_HEADER = 'x-treespec-bytes';

export async function renderCache(root: HTMLElement): Promise<void> {
  if (!('caches' in globalThis)) {
    root.textContent = 'The Cache API is not available here (it needs a secure origin), so downloads are not kept.';
    return;
  }
  const cache = await caches.open(BUCKET);
  const keys = await cache.keys();
  if (keys.length === 0) {
    root.textContent = 'Nothing cached yet.';
    return;
  }
  let total = 0;
  const list = el('ul');
  for (const req of keys) {
    const res = await cache.match(req);
    const bytes = Number(res?.headers.get(LENGTH_HEADER) ?? 0);
    total += bytes;
    list.append(el('li', {}, `${req.url} (${formatBytes(bytes)})`));
  }
  root.replaceChildren(el('div', {}, `${keys.length} files, ${formatBytes(total)}:`), list);
}

export async function clearCache(): Promise<void> {
  if ('caches' in globalThis) await caches.delete(BUCKET);
}
