/** The shipped models of public/models, loaded the way each runtime loads them. */
import { loadModelFiles, type ModelFiles } from '../../src/model/weights';
import { FolderSource, UrlSource } from '../../src/model/source';

/** In Chromium, over HTTP from the test server (public/ is served at /); in Node, from disk. */
export function shippedModel(name: string): Promise<ModelFiles> {
  if (typeof window !== 'undefined') return loadModelFiles(new UrlSource(new URL(`/models/${name}/`, window.location.origin).href));
  return loadModelFiles(new FolderSource(`public/models/${name}`));
}

/** Where the shipped model's Hydra heads are, for LoadOptions.heads: the same place as its files. */
export function shippedHeads(name: string): string {
  if (typeof window !== 'undefined') return new URL(`/models/${name}/`, window.location.origin).href;
  return `public/models/${name}`;
}
