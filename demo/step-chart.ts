/** Tokens produced by each target pass, as inline SVG bars (accepted draft tokens stacked on the target's one). */
import { el, svg } from './dom';

const W = 600;
const H = 120;
const PAD = 16;

export class StepChart {
  private readonly steps: { accepted: number; total: number; drafted: boolean }[] = [];
  private pending = false;

  constructor(private readonly root: HTMLElement) {
    this.draw();
  }

  clear(): void {
    this.steps.length = 0;
    this.schedule();
  }

  /** One target pass: draft tokens it accepted, tokens it produced, nodes it verified. */
  add(accepted: number, total: number, treeSize: number): void {
    this.steps.push({ accepted, total, drafted: treeSize > 0 });
    this.schedule();
  }

  /** One redraw per frame however fast chunks arrive. */
  private schedule(): void {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  private draw(): void {
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img' });
    const n = this.steps.length;
    const top = Math.max(2, ...this.steps.map((s) => s.total));
    const bw = n ? Math.min(24, (W - 2 * PAD) / n) : 0;
    const y = (v: number) => H - PAD - (v / top) * (H - 2 * PAD);
    root.append(svg('line', { x1: PAD, x2: W - PAD, y1: y(1), y2: y(1), stroke: '#c4cad3', 'stroke-dasharray': '3 3' }));
    this.steps.forEach((s, i) => {
      const x = PAD + i * bw;
      // The target's own token (bonus) at the bottom, accepted draft tokens above it.
      const base = s.total - s.accepted;
      root.append(svg('rect', { x, width: Math.max(1, bw - 1), y: y(base), height: y(0) - y(base), fill: '#9aa4b2' }));
      if (s.accepted > 0) root.append(svg('rect', { x, width: Math.max(1, bw - 1), y: y(s.total), height: y(base) - y(s.total), fill: '#2b6cb0' }));
    });
    root.setAttribute('aria-label', `${n} target passes`);
    this.root.dataset.steps = String(n);
    this.root.dataset.drafted = String(this.steps.filter((s) => s.drafted).length);
    const caption = n ? `${n} target passes; tallest bar ${top} tokens. Grey: the target's own token; blue: accepted draft tokens.` : 'No generation yet.';
    this.root.replaceChildren(root, el('p', { class: 'muted' }, caption));
  }
}
