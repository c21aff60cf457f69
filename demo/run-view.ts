/**
 * One generation on the page: the streamed text, one span per target pass shaded by how many
 * draft tokens that pass accepted, and the statistics (live while streaming, the engine's
 * GenerationStats at the end).
 */
import type { GenerateChunk } from '../src/engine/decode-loop';
import type { GenerationStats } from '../src/engine/stats';
import { el } from './dom';

export class RunView {
  private readonly title: HTMLElement;
  private readonly output: HTMLElement;
  private readonly stats: HTMLElement;
  private started = 0;
  private tokens = 0;
  private steps = 0;
  private text = '';

  constructor(readonly root: HTMLElement) {
    this.title = root.querySelector('.pane-title')!;
    this.output = root.querySelector('.output')!;
    this.stats = root.querySelector('.stats')!;
  }

  /** The whole text generated so far. */
  get fullText(): string {
    return this.text;
  }

  reset(title: string): void {
    this.title.textContent = title;
    this.output.replaceChildren();
    this.stats.replaceChildren();
    this.started = performance.now();
    this.tokens = this.steps = 0;
    this.text = '';
    this.root.dataset.state = 'running';
  }

  add(chunk: GenerateChunk): void {
    this.text += chunk.text;
    // The flush chunk at the end carries held-back text but no pass of its own.
    if (chunk.tokens.length > 0) {
      this.steps++;
      this.tokens += chunk.tokens.length;
    }
    if (chunk.text) {
      const span = el('span', { class: `step acc-${Math.min(chunk.accepted, 4)}` }, chunk.text);
      span.title = `${chunk.tokens.length} tokens from one target pass: ${chunk.accepted} accepted from a ${chunk.treeSize}-node draft tree + 1 from the target`;
      this.output.append(span);
    }
    const seconds = (performance.now() - this.started) / 1000;
    this.showStats([
      ['tokens', String(this.tokens)],
      ['tokens/s', seconds > 0 ? (this.tokens / seconds).toFixed(1) : '-'],
      ['tau (tokens per target pass)', this.steps ? (this.tokens / this.steps).toFixed(2) : '-'],
    ]);
  }

  finish(s: GenerationStats): void {
    this.root.dataset.state = 'done';
    const ms = (v: number) => `${v.toFixed(2)} ms`;
    this.showStats([
      ['strategy', s.strategy],
      ['tokens', `${s.generatedTokens} (prompt ${s.promptTokens})`],
      ['tokens/s', s.tokensPerSecond.toFixed(1)],
      ['tau (tokens per target pass)', s.tau.toFixed(2)],
      ['target passes', String(s.targetForwards)],
      ['draft per token', ms(s.draftMsPerToken)],
      ['verify per token', ms(s.verifyMsPerToken)],
      ['other per token', ms(s.otherMsPerToken)],
      ['prefill', ms(s.prefillMs)],
      ...gpuRows(s),
      ['acceptance by depth', s.acceptanceByDepth.length ? s.acceptanceByDepth.map((a) => a.toFixed(2)).join(' ') : '-'],
      ['finish', s.finishReason],
    ]);
  }

  failed(): void {
    this.root.dataset.state = 'failed';
  }

  private showStats(rows: [string, string][]): void {
    this.stats.replaceChildren(
      ...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { 'data-stat': k.split(' ')[0] }, v)]),
    );
  }
}

/** The decode loop's GPU work per generated token (stats.gpu), the drafters' share in brackets. */
function gpuRows(s: GenerationStats): [string, string][] {
  const g = s.gpu;
  const per = (x: number) => (s.generatedTokens > 0 ? (x / s.generatedTokens).toFixed(1) : '-');
  return [
    ['dispatches per token (draft)', `${per(g.dispatches)} (${per(g.draftDispatches)})`],
    ['submits per token', per(g.submits)],
    ['readbacks per token (draft)', `${per(g.readbacks)} (${per(g.draftReadbacks)})`],
  ];
}
