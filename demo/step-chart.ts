/** Tokens produced by each target pass, as inline SVG bars (accepted draft tokens stacked on the target's one). */
import { svg } from './dom';

const W = 600;
const H = 120;
const PAD = 16;

export class StepChart {
  private readonly steps: { accepted: number; total: number }[] = [];
  private pending = false;

  constructor(private readonly root: HTMLElement) {
    this.draw();
  }

  clear(): void {
    this.steps.length = 0;
    this.schedule();
  }

  add(accepted: number, total: number): void {
    this.steps.push({ accepted, total });
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
    root.append(svg('text', { x: 2, y: PAD - 4, 'font-size': 10 }, `max ${top} tokens/pass`));
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
    this.root.replaceChildren(root);
  }
}
