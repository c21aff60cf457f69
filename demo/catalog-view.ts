/**
 * The list of public checkpoints in the model picker (model-catalog.ts): each with its family,
 * download size and the GPU memory it needs at the chosen weight format, marked where this
 * adapter's buffer limits refuse it or the engine refuses its config. Choosing one fills the
 * Hugging Face id (and its draft) for the Load button; the bundled pair stays the first and default.
 */
import { CATALOG, catalogSizing, type AdapterFacts, type CatalogEntry } from './model-catalog';
import type { WeightDtype } from '../src/model/upload';
import { byId, formatBytes } from './dom';

const BUNDLED = 'bundled';

function optionFor(e: CatalogEntry, dtype: WeightDtype, adapter: AdapterFacts | null): HTMLOptionElement {
  const s = catalogSizing(e, dtype, adapter);
  const name = e.id.slice(e.id.indexOf('/') + 1);
  const o = new Option('', e.id);
  o.dataset.family = s.family;
  if (s.unsupported !== undefined) {
    o.text = `${name} (${s.family}): not supported by this engine`;
    o.title = s.unsupported;
    o.dataset.unsupported = s.unsupported;
    return o;
  }
  o.dataset.download = String(s.download);
  o.dataset.memory = String(s.memory);
  o.text = `${name} (${s.family}): ${formatBytes(s.download)} download, needs ${formatBytes(s.memory)} at ${dtype}, context ${s.maxContext}`;
  if (s.refused) {
    const what = s.refused.buffer ?? 'the model';
    o.dataset.refused = s.refused.limit;
    o.text += ` (too large here: ${what} ${formatBytes(s.refused.needed)} > ${s.refused.limit} ${formatBytes(s.refused.available)})`;
  }
  return o;
}

export class CatalogPicker {
  private adapter: AdapterFacts | null = null;

  constructor(
    private readonly select: HTMLSelectElement,
    private readonly dtype: HTMLSelectElement,
  ) {
    select.addEventListener('change', () => this.apply());
    dtype.addEventListener('change', () => this.render());
    this.render();
  }

  /** The adapter's limits, once the page has one: entries are checked against them. */
  setAdapter(adapter: AdapterFacts | null): void {
    this.adapter = adapter;
    this.render();
  }

  /** Rebuilds the options for the current weight format, keeping the choice. */
  render(): void {
    const chosen = this.select.value || BUNDLED;
    const dtype = this.dtype.value as WeightDtype;
    const bundled = new Option('Bundled TinyStories pair: target + aligned draft (offline)', BUNDLED);
    this.select.replaceChildren(bundled, ...CATALOG.map((e) => optionFor(e, dtype, this.adapter)));
    this.select.value = chosen;
    this.select.dataset.dtype = dtype;
  }

  /** Points the source controls at the chosen entry (the Load button loads it, as before). */
  private apply(): void {
    const entry = CATALOG.find((e) => e.id === this.select.value);
    const radio = document.querySelector<HTMLInputElement>(`input[name="source"][value="${entry ? 'hub' : 'bundled'}"]`)!;
    if (entry) {
      byId<HTMLInputElement>('url-base').value = '';
      byId<HTMLInputElement>('hub-target').value = entry.id;
      byId<HTMLInputElement>('hub-draft').value = entry.draft ?? '';
    }
    radio.checked = true;
    radio.dispatchEvent(new Event('change'));
  }
}
