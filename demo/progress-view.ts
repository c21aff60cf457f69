/** Download progress: one bar per file with bytes, total and transfer rate. */
import { el, formatBytes } from './dom';
import type { LoadProgress } from '../src/model/source-base';

interface Row {
  bar: HTMLProgressElement;
  label: HTMLElement;
  started: number;
}

export class ProgressView {
  private readonly rows = new Map<string, Row>();

  constructor(private readonly root: HTMLElement) {}

  clear(): void {
    this.rows.clear();
    this.root.replaceChildren();
  }

  /** After a successful load every file is complete, including those whose size the server did not send. */
  finishAll(): void {
    for (const row of this.rows.values()) {
      if (!row.bar.hasAttribute('value')) row.bar.value = row.bar.max = 1;
      if (!row.label.textContent?.endsWith('✓')) row.label.textContent += ' ✓';
    }
  }

  update(p: LoadProgress): void {
    const key = p.file;
    let row = this.rows.get(key);
    if (!row) {
      const bar = el('progress', { max: '1', value: '0' });
      const label = el('span');
      const line = el('div', { class: 'file-progress', 'data-file': key });
      line.append(el('span', {}, key), bar, label);
      this.root.append(line);
      row = { bar, label, started: performance.now() };
      this.rows.set(key, row);
    }
    const seconds = (performance.now() - row.started) / 1000;
    const rate = seconds > 0.05 ? `${formatBytes(p.loaded / seconds)}/s` : '';
    if (p.total) {
      row.bar.max = p.total;
      row.bar.value = p.loaded;
    } else {
      row.bar.removeAttribute('value'); // indeterminate: the server sent no length
    }
    const size = p.total ? `${formatBytes(p.loaded)} / ${formatBytes(p.total)}` : formatBytes(p.loaded);
    const done = p.total !== null && p.loaded >= p.total;
    row.label.textContent = `${size}${rate ? `, ${rate}` : ''}${done ? ' ✓' : ''}`;
  }
}
