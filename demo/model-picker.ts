/**
 * The model picker: the bundled model served with the page, a Hugging Face model id (or any
 * URL base in the hub layout), or a folder the user picks. Produces the ModelSpec the engine
 * worker loads; bad input is a PickerError shown next to the form.
 */
import type { ModelSpec } from '../src/worker/protocol';
import { byId } from './dom';

export class PickerError extends Error {
  override name = 'PickerError';
}

/** Served from public/models/ by Vite (dev) and copied into dist-demo/ (build). */
export const BUNDLED_TARGET = 'models/tinystories-target/';
/** The draft model trained and aligned for it (same tokenizer). */
export const BUNDLED_DRAFT = 'models/tinystories-draft/';

export interface Pick {
  spec: ModelSpec;
  /** The draft model loaded with it (the bundled pair), for the `draft` and `fusion` strategies. */
  draft?: ModelSpec;
  /** What the page calls this model. */
  label: string;
}

/** A path relative to the page -> absolute URL (the worker resolves relative URLs against its own script, not the page). */
function pageUrl(path: string): string {
  return new URL(path, document.baseURI).href;
}

/** "owner/name" -> the hub's file URL base for its main revision. */
export function hubUrl(id: string): string {
  const clean = id.trim();
  if (!/^[\w.-]+\/[\w.-]+$/.test(clean)) throw new PickerError(`"${id}" is not a Hugging Face model id; expected owner/name, e.g. HuggingFaceTB/SmolLM2-360M-Instruct`);
  return `https://huggingface.co/${clean}/resolve/main/`;
}

export function selectedSource(): string {
  return document.querySelector<HTMLInputElement>('input[name="source"]:checked')?.value ?? 'bundled';
}

/** Shows the inputs of the chosen source only. */
export function bindSourceRadios(): void {
  const sync = () => {
    for (const d of document.querySelectorAll<HTMLElement>('.source-opts')) d.hidden = d.dataset.source !== selectedSource();
  };
  for (const r of document.querySelectorAll('input[name="source"]')) r.addEventListener('change', sync);
  sync();
}

export function readPick(): Pick {
  switch (selectedSource()) {
    case 'hub': {
      const url = byId<HTMLInputElement>('url-base').value.trim();
      if (url) {
        if (!/^https?:\/\//i.test(url) && !url.startsWith('/')) throw new PickerError(`"${url}" is not a URL; expected http(s)://... or a path on this site`);
        const base = pageUrl(url.endsWith('/') ? url : `${url}/`);
        return { spec: { kind: 'url', base }, label: base };
      }
      const id = byId<HTMLInputElement>('hub-target').value;
      const draftId = byId<HTMLInputElement>('hub-draft').value.trim();
      return {
        spec: { kind: 'url', base: hubUrl(id) },
        draft: draftId ? { kind: 'url', base: hubUrl(draftId) } : undefined,
        label: draftId ? `${id.trim()} + ${draftId}` : id.trim(),
      };
    }
    case 'folder': {
      const files = Array.from(byId<HTMLInputElement>('folder-target').files ?? []);
      if (files.length === 0) throw new PickerError('pick a model folder first (it must hold config.json, the .safetensors weights and tokenizer.json)');
      const rel = (files[0] as File & { webkitRelativePath?: string }).webkitRelativePath ?? '';
      const id = rel.includes('/') ? rel.slice(0, rel.indexOf('/')) : 'picked files';
      return { spec: { kind: 'files', files, id }, label: `folder ${id}` };
    }
    default:
      return {
        spec: { kind: 'url', base: pageUrl(BUNDLED_TARGET) },
        draft: { kind: 'url', base: pageUrl(BUNDLED_DRAFT) },
        label: 'bundled tinystories-target + tinystories-draft',
      };
  }
}
