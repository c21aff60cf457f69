/**
 * The demo page: wires the picker, the cache view and the generation controls to a
 * WorkerEngine (the engine runs in a Web Worker so the page stays responsive). A failed load
 * keeps the previous engine; a failed generation leaves the page ready for the next one.
 */
import { WorkerEngine } from '../src/worker/client';
import type { GenerateOptions, WeightDtype } from '../src/engine/options';
import { byId, showError } from './dom';
import { checkWebGPU } from './gpu-check';
import { bindSourceRadios, readPick } from './model-picker';
import { ProgressView } from './progress-view';
import { clearCache, renderCache } from './cache-view';
import { RunView } from './run-view';
import { StepChart } from './step-chart';
import { runOnce, runSideBySide } from './generation';
import { describeError } from './messages';
import { TreeFollower } from './tree-view';
import { CatalogPicker } from './catalog-view';

const ui = {
  gpu: byId('gpu-status'),
  load: byId<HTMLButtonElement>('load'),
  dtype: byId<HTMLSelectElement>('weight-dtype'),
  info: byId('model-info'),
  loadError: byId('load-error'),
  cacheList: byId('cache-list'),
  prompt: byId<HTMLTextAreaElement>('prompt'),
  strategy: byId<HTMLSelectElement>('strategy'),
  chat: byId<HTMLInputElement>('chat'),
  run: byId<HTMLButtonElement>('run'),
  runBoth: byId<HTMLButtonElement>('run-both'),
  stop: byId<HTMLButtonElement>('stop'),
  genError: byId('gen-error'),
  arPane: byId('pane-ar'),
  speedup: byId('speedup'),
};
const progress = new ProgressView(byId('progress'));
const mainView = new RunView(byId('pane-main'));
const arView = new RunView(ui.arPane);
const chart = new StepChart(byId('chart'));
const tree = new TreeFollower(byId('tree'), (ids) => (engine ? engine.idsToTokens(ids) : Promise.resolve([])));

let engine: WorkerEngine | null = null;
let busy: AbortController | null = null;

/** Strategies the page prefers as the default speculative choice, best first. */
const PREFERRED = ['auto', 'draft', 'recycling', 'lookup'];

function numberInput(id: string): number {
  return Number(byId<HTMLInputElement>(id).value);
}

function setBusy(ctrl: AbortController | null): void {
  busy = ctrl;
  ui.run.disabled = ui.runBoth.disabled = !!ctrl || !engine;
  ui.load.disabled = !!ctrl;
  ui.stop.disabled = !ctrl;
}

function fillStrategies(names: string[]): void {
  const previous = ui.strategy.value;
  ui.strategy.replaceChildren(...names.map((n) => new Option(n, n)));
  const spec = names.filter((n) => n !== 'ar');
  ui.strategy.value = names.includes(previous) ? previous : (PREFERRED.find((n) => names.includes(n)) ?? spec[0] ?? 'ar');
}

async function load(): Promise<void> {
  showError(ui.loadError, null);
  ui.load.disabled = true;
  progress.clear();
  try {
    const pick = readPick();
    ui.info.textContent = `Loading ${pick.label}: downloading (or reading the browser cache), then uploading the weights to the GPU and compiling kernels…`;
    const started = performance.now();
    const next = await WorkerEngine.load(pick.spec, { draft: pick.draft, weightDtype: ui.dtype.value as WeightDtype, onProgress: (p) => progress.update(p) });
    progress.finishAll();
    engine?.destroy();
    engine = next;
    const c = next.info.config;
    ui.info.textContent = `Loaded ${pick.label} in ${((performance.now() - started) / 1000).toFixed(1)} s: ${c.modelType}, ${c.numLayers} layers, hidden ${c.hiddenSize}, vocabulary ${c.vocabSize}, context ${next.info.maxContext}${next.info.hasChatTemplate ? ', chat template' : ''}.`;
    ui.info.dataset.loaded = pick.label;
    ui.chat.checked = next.info.hasChatTemplate;
    fillStrategies(next.strategyNames());
  } catch (e) {
    showError(ui.loadError, describeError(e));
    ui.info.textContent = engine ? `Still using the previous model.` : 'No model loaded.';
  } finally {
    setBusy(null);
    void renderCache(ui.cacheList);
  }
}

function generateOptions(signal: AbortSignal): GenerateOptions {
  return {
    strategy: ui.strategy.value,
    temperature: numberInput('temperature'),
    topP: numberInput('top-p'),
    seed: numberInput('seed'),
    maxTokens: numberInput('max-tokens'),
    treeBudget: numberInput('tree-budget'),
    chat: ui.chat.checked,
    signal,
  };
}

async function generate(sideBySide: boolean): Promise<void> {
  if (!engine || busy) return;
  const ctrl = new AbortController();
  setBusy(ctrl);
  showError(ui.genError, null);
  ui.arPane.hidden = !sideBySide;
  ui.speedup.hidden = true;
  try {
    const opts = generateOptions(ctrl.signal);
    if (sideBySide) {
      ui.speedup.textContent = await runSideBySide(engine, ui.prompt.value, opts, arView, { main: mainView, chart, tree });
      ui.speedup.hidden = false;
    } else {
      await runOnce(engine, ui.prompt.value, opts, mainView, { chart, tree });
    }
  } catch (e) {
    showError(ui.genError, describeError(e));
  } finally {
    setBusy(null);
  }
}

async function start(): Promise<void> {
  bindSourceRadios();
  const catalog = new CatalogPicker(byId<HTMLSelectElement>('catalog'), ui.dtype);
  ui.load.addEventListener('click', () => void load());
  ui.run.addEventListener('click', () => void generate(false));
  ui.runBoth.addEventListener('click', () => void generate(true));
  ui.stop.addEventListener('click', () => busy?.abort());
  byId('cache-refresh').addEventListener('click', () => void renderCache(ui.cacheList));
  byId('cache-clear').addEventListener('click', () => void clearCache().then(() => renderCache(ui.cacheList)));
  void renderCache(ui.cacheList);

  const gpu = await checkWebGPU();
  ui.gpu.textContent = gpu.message;
  ui.gpu.classList.add(gpu.ok ? 'ok' : 'bad');
  ui.gpu.dataset.ok = String(gpu.ok);
  catalog.setAdapter(gpu.adapter ?? null);
  // The bundled model is small and served with the page: load it at once so the page works at first try.
  if (gpu.ok) await load();
}

void start();
