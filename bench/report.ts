/**
 * results.json -> a self-contained report.html (inline CSS and SVG, no scripts, no network)
 * and a Markdown summary table for the README and the terminal.
 */
import type { BenchReport } from './results';
import { isTreespec, type GroupSummary, type Summary } from './summary';

/** One colour per series: every strategy plus the peers (14) before any repeats. */
const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac', '#17becf', '#2f2f2f', '#8c2d04', '#6b6ecf'];

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const fmt = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '–');
const mib = (b: number | undefined) => (b === undefined || !Number.isFinite(b) ? '–' : (b / 2 ** 20).toFixed(1));
const label = (g: { engine: string; strategy: string }) =>
  g.engine === 'treespec' ? g.strategy : isTreespec(g.engine) ? `${g.strategy} ${g.engine.slice('treespec '.length)}` : `${g.engine}${g.strategy === 'ar' ? '' : ` ${g.strategy}`}`;

/** 1, 2, 2.5 or 5 times a power of ten, at least x. */
function niceStep(x: number): number {
  const p = 10 ** Math.floor(Math.log10(x));
  return ([1, 2, 2.5, 5, 10].find((m) => m * p >= x) ?? 10) * p;
}

/** A grouped bar chart: one group per category, one bar per series. */
function barChart(title: string, groups: string[], series: { name: string; values: number[] }[], opts: { refLine?: number; digits?: number } = {}): string {
  const W = 860, H = 300, left = 56, right = 16, top = 34, bottom = 58;
  const all = series.flatMap((s) => s.values).filter(Number.isFinite);
  const step = niceStep(Math.max(opts.refLine ?? 0, ...all, 1e-9) / 4);
  const max = Math.ceil((Math.max(opts.refLine ?? 0, ...all, 1e-9) * 1.08) / step) * step;
  const plotW = W - left - right, plotH = H - top - bottom;
  const gw = plotW / Math.max(1, groups.length);
  const bw = Math.min(28, (gw * 0.8) / Math.max(1, series.length));
  const y = (v: number) => top + plotH - (v / max) * plotH;
  const parts: string[] = [];
  parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="600">${esc(title)}</text>`);
  for (let v = 0; v <= max + step / 2; v += step) {
    parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11" fill="#555">${fmt(v, opts.digits ?? 1)}</text>`);
  }
  groups.forEach((g, gi) => {
    const x0 = left + gi * gw + (gw - bw * series.length) / 2;
    series.forEach((s, si) => {
      const v = s.values[gi];
      if (!Number.isFinite(v)) return;
      const x = x0 + si * bw;
      parts.push(`<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(top + plotH - y(v)).toFixed(1)}" fill="${COLORS[si % COLORS.length]}"><title>${esc(`${s.name} · ${g}: ${fmt(v)}`)}</title></rect>`);
      if (series.length <= 6) parts.push(`<text x="${(x + bw / 2 - 1).toFixed(1)}" y="${(y(v) - 3).toFixed(1)}" text-anchor="middle" font-size="9" fill="#333">${fmt(v, opts.digits ?? 1)}</text>`);
    });
    parts.push(`<text x="${left + gi * gw + gw / 2}" y="${top + plotH + 16}" text-anchor="middle" font-size="12">${esc(g)}</text>`);
  });
  if (opts.refLine !== undefined) parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(opts.refLine)}" y2="${y(opts.refLine)}" stroke="#c00" stroke-dasharray="5,4"/>`);
  parts.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#888"/>`);
  let lx = left;
  series.forEach((s, si) => {
    parts.push(`<rect x="${lx}" y="${H - 22}" width="12" height="12" fill="${COLORS[si % COLORS.length]}"/><text x="${lx + 16}" y="${H - 12}" font-size="12">${esc(s.name)}</text>`);
    lx += 28 + s.name.length * 7;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif">${parts.join('')}</svg>`;
}

function seriesOf(s: Summary, f: (g: GroupSummary) => number) {
  const cats = [...s.categories, 'mean'];
  return s.strategies.map((st) => ({
    name: label(st),
    values: cats.map((c) => {
      const g = s.groups.find((x) => x.engine === st.engine && x.strategy === st.strategy && x.category === c);
      return g ? f(g) : NaN;
    }),
  }));
}

/**
 * A series' outputs against treespec ar at the agreement weights: "identical (4/4)" or
 * "2/4 identical; first differs at 14, 20" (one index per differing prompt).
 */
function agreementCell(s: Summary, st: { engine: string; strategy: string }): string {
  const mine = s.weightAgreement.filter((a) => a.engine === st.engine && a.strategy === st.strategy);
  if (!mine.length) return isTreespec(st.engine) && st.strategy === 'ar' ? 'reference' : '–';
  const known = mine.filter((a) => a.firstTokenDiff !== null);
  if (!known.length) return 'not exposed';
  const diffs = known.filter((a) => a.firstTokenDiff! >= 0).map((a) => a.firstTokenDiff);
  return diffs.length ? `${known.length - diffs.length}/${known.length} identical; first differs at ${diffs.join(', ')}` : `identical (${known.length}/${known.length})`;
}

/**
 * The summary table in Markdown: one row per strategy, tokens/s, tau and speedup per category;
 * with several weight formats, a column of each series' agreement with treespec ar at f16.
 */
export function markdownTable(s: Summary): string {
  const cats = [...s.categories, 'mean'];
  const vs = s.agreementWeights && s.weightAgreement ? ` vs treespec ar ${s.agreementWeights} |` : '';
  const head = `| strategy | ${cats.map((c) => `${c} tok/s (τ, ×treespec ar)`).join(' | ')} | draft ms/tok | verify ms/tok | dispatches/tok (draft) | readbacks/tok |${vs}`;
  const sep = `|---|${cats.map(() => '---:').join('|')}|---:|---:|---:|---:|${vs ? '---|' : ''}`;
  const rows = s.strategies.map((st) => {
    const g = (c: string) => s.groups.find((x) => x.engine === st.engine && x.strategy === st.strategy && x.category === c);
    const cells = cats.map((c) => {
      const x = g(c);
      return x ? `${fmt(x.tokensPerSecond)} (${fmt(x.tau)}, ${fmt(x.speedup)}×)` : '–';
    });
    const m = g('mean');
    const gpu = m ? `${dispatchCell(m)} | ${fmt(m.readbacksPerToken)}` : '– | –';
    return `| ${label(st)} | ${cells.join(' | ')} | ${fmt(m?.draftMsPerToken ?? NaN)} | ${fmt(m?.verifyMsPerToken ?? NaN)} | ${gpu} |${vs ? ` ${agreementCell(s, st)} |` : ''}`;
  });
  return [head, sep, ...rows].join('\n');
}

/** "identical (32)", "first differs at 17 of 32", or "not exposed" for a peer that returns text only. */
export function tokenAgreement(p: { firstTokenDiff: number | null; ourTokens: number }): string {
  if (p.firstTokenDiff === null) return 'not exposed';
  return p.firstTokenDiff < 0 ? `identical (${p.ourTokens})` : `first differs at ${p.firstTokenDiff} of ${p.ourTokens}`;
}

/** "71.0 (0.0)": GPU dispatches per token and, in brackets, the drafters' share; "–" for a peer. */
function dispatchCell(x: { dispatchesPerToken: number; draftDispatchesPerToken: number }): string {
  return Number.isFinite(x.dispatchesPerToken) ? `${fmt(x.dispatchesPerToken)} (${fmt(x.draftDispatchesPerToken)})` : '–';
}

/** GPU work per token (dispatches with the draft share, submits, readbacks): exact on any adapter (DESIGN section 8). */
function gpuCells(x: { dispatchesPerToken: number; draftDispatchesPerToken: number; submitsPerToken: number; readbacksPerToken: number }): string {
  return `<td>${esc(dispatchCell(x))}</td><td>${fmt(x.submitsPerToken)}</td><td>${fmt(x.readbacksPerToken)}</td>`;
}
const GPU_HEADS = '<th>dispatches/tok (draft)</th><th>submits/tok</th><th>readbacks/tok</th>';

function groupTable(s: Summary): string {
  const rows = s.groups.map((g) => `<tr${g.category === 'mean' ? ' class="mean"' : ''}><td>${esc(label(g))}</td><td>${esc(g.category)}</td><td>${g.prompts}</td><td>${fmt(g.tokensPerSecond)}</td><td>${fmt(g.tau)}</td><td>${fmt(g.speedup)}×</td><td>${fmt(g.draftMsPerToken)}</td><td>${fmt(g.verifyMsPerToken)}</td><td>${fmt(g.otherMsPerToken)}</td>${gpuCells(g)}</tr>`);
  return `<table><thead><tr><th>strategy</th><th>category</th><th>prompts</th><th>tokens/s</th><th>τ</th><th>speedup</th><th>draft ms/tok</th><th>verify ms/tok</th><th>other ms/tok</th>${GPU_HEADS}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function cellTable(s: Summary): string {
  const rows = s.cells.map((c) => `<tr><td>${esc(c.promptId)}</td><td>${esc(c.category)}</td><td>${esc(label(c))}</td><td>${c.n}</td><td>${fmt(c.generatedTokens, 0)}</td><td>${fmt(c.tokensPerSecond)}</td><td>${fmt(c.tau)}</td><td>${fmt(c.targetForwards, 0)}</td><td>${fmt(c.prefillMs, 0)}</td><td>${fmt(c.draftMsPerToken)}</td><td>${fmt(c.verifyMsPerToken)}</td>${gpuCells(c)}</tr>`);
  return `<table class="small"><thead><tr><th>prompt</th><th>category</th><th>strategy</th><th>runs</th><th>tokens</th><th>tokens/s</th><th>τ</th><th>target passes</th><th>prefill ms</th><th>draft ms/tok</th><th>verify ms/tok</th>${GPU_HEADS}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

export function renderHtml(report: BenchReport): string {
  const s = report.summary;
  const cats = [...s.categories, 'mean'];
  const ok = s.mismatches.length === 0 && s.failedRuns.length === 0 && report.results.every((r) => r.errors.length === 0);
  const status = ok
    ? '<p class="pass">PASS: every strategy’s greedy output equals plain decoding (<code>ar</code>) on every prompt and repeat.</p>'
    : `<p class="fail">FAIL: ${s.mismatches.length} output mismatch(es), ${s.failedRuns.length} failed run(s), ${report.results.reduce((n, r) => n + r.errors.length, 0)} runner error(s).</p>`;
  const mismatchList = s.mismatches.length
    ? `<h2>Mismatches against <code>ar</code></h2><table class="small"><thead><tr><th>strategy</th><th>prompt</th><th>repeat</th><th>first differing token</th><th>ar tokens</th><th>strategy tokens</th></tr></thead><tbody>${s.mismatches.map((m) => `<tr><td>${esc(m.strategy)}</td><td>${esc(m.promptId)}</td><td>${m.repeat < 0 ? 'warm-up' : m.repeat + 1}</td><td>${m.at}</td><td><code>${esc(m.expected)}</code></td><td><code>${esc(m.got)}</code></td></tr>`).join('')}</tbody></table>`
    : '';
  const failures = [...report.results.flatMap((r) => r.errors.map((e) => `${r.runtime}: ${e}`)), ...s.failedRuns.map((f) => `${label(f)} on ${f.promptId} (${f.repeat < 0 ? 'warm-up' : `repeat ${f.repeat + 1}`}): ${f.error}`)];
  const failureList = failures.length ? `<h2>Errors</h2><ul>${failures.slice(0, 50).map((f) => `<li><code>${esc(f)}</code></li>`).join('')}${failures.length > 50 ? `<li>… ${failures.length - 50} more</li>` : ''}</ul>` : '';
  const mem = report.results.map((r) => `<tr><td>${r.runtime}</td><td>${mib(r.gpuMemory.afterLoadBytes)}</td><td>${mib(r.gpuMemory.draftModelBytes)}</td><td>${Object.entries(r.gpuMemory.byStrategyBytes).map(([k, v]) => `${esc(k)} +${mib(v)}`).join(', ')}</td><td>${mib(r.gpuMemory.peakBytes)}</td></tr>`).join('');
  // Peers' raw log lines go into a fold; the rest is one line per runtime.
  const env = report.results.map((r) => {
    const entries = Object.entries(r.environment);
    const logs = entries.filter(([k]) => k.endsWith(' log') && r.environment[k]);
    const line = entries.filter(([k]) => !k.endsWith(' log')).map(([k, v]) => `${k}: ${v}`).join(' · ');
    const folds = logs.map(([k, v]) => `<details><summary>${esc(k)}</summary><pre>${esc(v.split(' | ').join('\n'))}</pre></details>`).join('');
    return `<li><b>${r.runtime}</b>: ${esc(line)}; model load ${fmt(r.loadMs, 0)} ms${folds}</li>`;
  }).join('');
  const peer = s.peerAgreement.length
    ? `<h2>Peers’ output against treespec <code>ar</code>${s.agreementWeights ? ' at the same weights' : ''}</h2><table class="small"><thead><tr><th>engine</th><th>prompt</th><th>matching prefix (chars)</th><th>treespec chars</th><th>token ids</th></tr></thead><tbody>${s.peerAgreement.map((p) => `<tr><td>${esc(p.engine)}</td><td>${esc(p.promptId)}</td><td>${p.matchingChars}</td><td>${p.ourChars}</td><td>${esc(tokenAgreement(p))}</td></tr>`).join('')}</tbody></table>`
    : '';
  const byWeights = s.agreementWeights && s.weightAgreement?.length
    ? `<h2>Outputs against treespec <code>ar</code> at ${esc(s.agreementWeights)}</h2><p class="meta">Other weights legitimately change greedy outputs; reported, not failed.</p><table class="small"><thead><tr><th>engine</th><th>strategy</th><th>prompt</th><th>token ids</th></tr></thead><tbody>${s.weightAgreement.map((a) => `<tr><td>${esc(a.engine)}</td><td>${esc(a.strategy)}</td><td>${esc(a.promptId)}</td><td>${esc(tokenAgreement(a))}</td></tr>`).join('')}</tbody></table>`
    : '';
  const samples = report.results.flatMap((r) => r.runs).filter((r) => r.engine === 'treespec' && r.strategy === 'ar' && r.repeat === 0);
  const sampleList = samples.map((r) => `<details><summary>${esc(r.promptId)} (${esc(r.category)}${s.agreementWeights && r.weights ? `, ${esc(r.weights)}` : ''})</summary><pre>${esc(r.text)}</pre></details>`).join('');
  const cfg = report.config;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>treespec benchmark ${esc(report.createdAt)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;max-width:1000px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 6px}h2{font-size:17px;margin:22px 0 8px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}td,th{border:1px solid #ddd;padding:3px 7px;text-align:right}
td:first-child,td:nth-child(2),th{text-align:left}tr.mean td{font-weight:600;background:#f6f6f6}
table.small{font-size:12px}.pass{color:#176d2c;font-weight:600}.fail{color:#b00020;font-weight:600}
pre{white-space:pre-wrap;background:#f7f7f7;padding:8px;font-size:12px}code{font-size:12px}.meta{color:#555;font-size:13px}
</style></head><body>
<h1>treespec benchmark</h1>
<p class="meta">${esc(report.createdAt)} · <code>${esc(report.command)}</code><br>
model <code>${esc(report.results[0]?.model.source ?? '?')}</code>${cfg.draftModel ? ` · draft model <code>${esc(cfg.draftModel)}</code>` : ''} · ${cfg.maxTokens} tokens per generation · greedy · ${cfg.repeats} measured repeat(s) after a warm-up, medians · tree budget ${cfg.treeBudget ?? 'default'} · drafter state ${cfg.resetDrafters ? 'reset before every generation' : 'kept across generations'} · weights ${esc((cfg.weights ?? []).join(', ') || 'default')}</p>
<ul class="meta">${env}</ul>
${status}
${barChart('Tokens per second', cats, seriesOf(s, (g) => g.tokensPerSecond))}
${barChart('Speedup over treespec plain decoding (ar), same run', cats, seriesOf(s, (g) => g.speedup), { refLine: 1, digits: 2 })}
${barChart('τ: tokens per target forward pass', cats, seriesOf(s, (g) => g.tau), { refLine: 1, digits: 2 })}
<h2>How the numbers are taken</h2>
<ul class="meta">
<li>treespec tokens/s: generated tokens over the wall time of the decode loop (first step to last token, prefill excluded), measured in the page; median over repeats per prompt.</li>
<li>τ: tokens committed per target forward pass (accepted draft tokens + 1). Draft / verify / other: the decode loop’s wall time split per generated token.</li>
<li>Peers: wllama with llama.cpp’s own decode timing (<code>predicted_ms</code>, prompt processing excluded) on a GGUF export of the same weights (f16 matrices, f32 norms); transformers.js (onnxruntime-web) on an ONNX export at the precision matching each treespec weight format (fp32, fp16, or q8 / q4 MatMulNBits with treespec’s own block quantization), fed treespec’s prompt token ids, timed per token through a streamer: tokens after the first over the time from the first token to the last (the prompt’s forward pass, which yields the first token, excluded). Greedy. Their output is compared with treespec <code>ar</code> below, not counted as a failure.</li>
<li>Every generation is greedy with the same prompt; strategies and peers take turns on each prompt (order rotated per repeat) after one warm-up generation each.</li>
</ul>
<h2>Per strategy and category</h2>
<p class="meta">tokens/s = the category’s generated tokens over its decode time (per-prompt medians); “mean” = unweighted mean over categories.</p>
${groupTable(s)}
<h2>GPU memory the engine allocated (MiB)</h2>
<table><thead><tr><th>runtime</th><th>after load</th><th>of which the draft model</th><th>added by each drafter at first use</th><th>peak</th></tr></thead><tbody>${mem}</tbody></table>
${mismatchList}${failureList}${peer}${byWeights}
<h2>Per prompt (medians)</h2>
${cellTable(s)}
<h2>Plain-decoding outputs</h2>
${sampleList}
</body></html>
`;
}
