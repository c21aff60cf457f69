/**
 * Runs generations for the page: one run streamed into a pane (with the chart and the tree
 * following it), or the side-by-side pair, `ar` first, then the chosen strategy on the same
 * prompt and settings.
 */
import type { GenerateOptions } from '../src/engine/options';
import type { GenerationStats } from '../src/engine/stats';
import type { WorkerEngine } from '../src/worker/client';
import type { RunView } from './run-view';
import type { StepChart } from './step-chart';
import { snapshotOf, type TreeFollower } from './tree-view';

export interface Outputs {
  main: RunView;
  chart: StepChart;
  tree: TreeFollower;
}

/** Streams one generation into `view`; the chart and tree follow when given. */
export async function runOnce(
  engine: WorkerEngine,
  prompt: string,
  opts: GenerateOptions,
  view: RunView,
  follow?: { chart: StepChart; tree: TreeFollower },
): Promise<{ text: string; stats: GenerationStats }> {
  view.reset(opts.strategy ?? 'ar');
  follow?.chart.clear();
  const it = engine.generate(prompt, opts);
  try {
    for (;;) {
      const r = await it.next();
      if (r.done) {
        view.finish(r.value);
        return { text: view.fullText, stats: r.value };
      }
      view.add(r.value);
      if (follow && r.value.tokens.length > 0) {
        follow.chart.add(r.value.accepted, r.value.tokens.length, r.value.treeSize);
        if (r.value.treeSize > 0) follow.tree.show(snapshotOf(r.value));
      }
    }
  } catch (e) {
    view.failed();
    throw e;
  }
}

/** ar in `arView`, then `opts.strategy` in the main pane; returns the line that compares them. */
export async function runSideBySide(engine: WorkerEngine, prompt: string, opts: GenerateOptions, arView: RunView, out: Outputs): Promise<string> {
  const ar = await runOnce(engine, prompt, { ...opts, strategy: 'ar' }, arView);
  if (opts.signal?.aborted) return 'Stopped.';
  const spec = await runOnce(engine, prompt, opts, out.main, out);
  const speedup = ar.stats.tokensPerSecond > 0 ? spec.stats.tokensPerSecond / ar.stats.tokensPerSecond : 0;
  let line = `${opts.strategy}: ${spec.stats.tokensPerSecond.toFixed(1)} tokens/s vs ar: ${ar.stats.tokensPerSecond.toFixed(1)} tokens/s, speedup ${speedup.toFixed(2)}x (tau ${spec.stats.tau.toFixed(2)}).`;
  // Under greedy decoding speculation must reproduce plain decoding exactly (DESIGN section 5).
  if ((opts.temperature ?? 0) === 0 && spec.stats.finishReason !== 'aborted' && ar.stats.finishReason !== 'aborted') {
    line += spec.text === ar.text ? ' Outputs identical.' : ' Outputs DIFFER: this is a bug, please report it.';
  }
  return line;
}
