/**
 * The step loop (DESIGN section 3): prefill, then per step draft, verify, accept, commit,
 * stream. Plain decoding is the same loop with an empty tree (one row per pass).
 */
import type { GpuModel } from '../model/gpu-model';
import type { Tokenizer } from '../tokenizer/tokenizer';
import type { Drafter, GpuAheadSteps, GpuStepper } from '../draft/drafter';
import { emptyTree, type DraftTree } from '../tree/types';
import { layoutTree } from '../tree/layout';
import { Rng } from '../verify/rng';
import type { ResolvedGenerateOptions } from './options';
import type { SamplingOptions } from '../verify/sampler';
import { StatsCollector, kernelTotals, type FinishReason, type GenerationStats } from './stats';
import { ForwardProfiler } from '../gpu/pass-recorder';
import { needsDistribution, verifyTree, walkOf, type StepOutcome } from './verify-step';
import { TextStream } from './text-stream';
import { AheadDecoder, canDecodeAhead } from './ahead';
import { countsSince, sumCounts, type GpuCounter, type GpuCounts } from '../gpu/counter';

export interface GenerateChunk {
  /** Text that became final in this step. */
  text: string;
  /** Token ids committed in this step (accepted draft tokens, then the bonus token). */
  tokens: number[];
  /** How many of `tokens` were draft tokens accepted by the target. */
  accepted: number;
  /** Nodes of the tree verified in this step. */
  treeSize: number;
  /** The verified tree and its accepted nodes (absent for plain decoding), for visualisation. */
  tree?: { tokens: number[]; parents: number[]; acceptedNodes: number[] };
}

export interface DecodeRequest {
  model: GpuModel;
  tokenizer: Tokenizer;
  drafter: Drafter | null;
  prompt: Int32Array;
  opts: ResolvedGenerateOptions;
  signal?: AbortSignal;
  maxContext: number;
  maxRows: number;
  /** Steps in flight in greedy decoding, plain or drafted on the GPU (EngineOptions.stepsAhead; 1: each step read back before the next is encoded). */
  stepsAhead: number;
}

/** Depth of the deepest node of a valid tree (parents precede children). */
function treeDepth(tree: DraftTree): number {
  const depth = new Int32Array(tree.tokens.length);
  let d = 0;
  tree.parents.forEach((p, i) => (d = Math.max(d, (depth[i] = p < 0 ? 1 : depth[p] + 1))));
  return d;
}

function maxDepth(tree: DraftTree, depth: Int32Array): number {
  let d = 0;
  for (let i = 1; i < depth.length; i++) d = Math.max(d, depth[i]);
  return tree.tokens.length ? d : 0;
}

export async function* decodeLoop(req: DecodeRequest): AsyncGenerator<GenerateChunk, GenerationStats, void> {
  // --profile: the target's passes are timed per kernel while this generation runs.
  const profiler = req.opts.profile ? new ForwardProfiler(req.model.device) : null;
  const rng = new Rng(req.opts.seed);
  // Plain decoding encodes its steps ahead (src/engine/ahead.ts), greedy or sampled without a
  // repetition penalty (whose history would hold tokens only the GPU has seen), unless profiled.
  const aheadFits = !profiler && !req.drafter && canDecodeAhead(req.model) && req.opts.repetitionPenalty === 1 && req.stepsAhead > 1;
  const ahead = aheadFits ? new AheadDecoder(req.model, req.stepsAhead, req.prompt, req.opts.temperature > 0 ? { walk: await walkOf(req.model), options: samplingOf(req.opts), rng } : undefined) : null;
  req.model.profiler = profiler;
  try {
    return yield* steps(req, rng, profiler, ahead);
  } finally {
    req.model.profiler = null;
    // passes encoded past the end change nothing: dropped, the cache left as one step at a time leaves it
    ahead?.finish();
  }
}

async function* steps(req: DecodeRequest, rng: Rng, profiler: ForwardProfiler | null, ahead: AheadDecoder | null): AsyncGenerator<GenerateChunk, GenerationStats, void> {
  const { model, drafter, prompt, opts, signal } = req;
  const stats = new StatsCollector(drafter ? drafter.name : 'ar', prompt.length);

  if (signal?.aborted) return stats.finish(0, 'aborted');
  // Prefill: the cache holds tokens[0..n-2]; the last prompt token is the first root.
  const t0 = performance.now();
  model.prefill(prompt);
  await model.device.queue.onSubmittedWorkDone();
  stats.prefillMs = performance.now() - t0;
  if (profiler) {
    await profiler.take(); // the prefill's spans are not part of the decode breakdown
    stats.profiled(profiler.timing);
  }
  await drafter?.begin?.(prompt);
  // A drafter that runs whole steps on the GPU does so, unless profiled (per-op timing needs passes of their own);
  // a sampled step it cannot take comes back null and is drafted by propose().
  const stepper = drafter?.gpuStepper && !profiler ? await drafter.gpuStepper(model, await walkOf(model)) : null;
  // its steps are encoded ahead as plain decoding's are (src/draft/gpu-grow-ahead.ts), greedy or sampled, without a repetition penalty
  const aheadSteps = stepper?.ahead && req.stepsAhead > 1 && opts.repetitionPenalty === 1 ? stepper.ahead(req.stepsAhead, opts.temperature > 0 ? { options: samplingOf(opts), rng } : undefined) : null;
  stats.stepsAhead = ahead?.depth ?? aheadSteps?.depth ?? 1;
  try {
    return yield* loop(req, stats, rng, profiler, ahead, stepper, aheadSteps);
  } finally {
    // steps encoded past the end change nothing: dropped, both caches left as the steps read leave them
    aheadSteps?.finish();
  }
}

async function* loop(
  req: DecodeRequest,
  stats: StatsCollector,
  rng: Rng,
  profiler: ForwardProfiler | null,
  ahead: AheadDecoder | null,
  stepper: GpuStepper | null,
  aheadSteps: GpuAheadSteps | null,
): AsyncGenerator<GenerateChunk, GenerationStats, void> {
  const { model, tokenizer, drafter, prompt, opts, signal } = req;
  const strategy = drafter ? drafter.name : 'ar';
  const sampling = samplingOf(opts);
  const stream = new TextStream(tokenizer, opts.stop, prompt);
  const eos = new Set(tokenizer.eosIds);

  let committed = Int32Array.from(prompt);
  let generated = 0;
  let finish: FinishReason = 'length';
  const gpu = gpuWork(model.counter, drafter);
  stats.startDecode();
  while (generated < opts.maxTokens) {
    if (signal?.aborted) { finish = 'aborted'; break; }
    const n = committed.length;
    // A step commits m+1 tokens at most: keep n + m + 1 <= maxContext, as plain decoding does.
    if (n >= req.maxContext) { finish = 'context'; break; }
    const room = Math.min(req.maxContext - n - 1, opts.maxTokens - generated - 1, opts.treeBudget);

    const td = performance.now();
    let tree: DraftTree;
    let outcome: StepOutcome;
    let depth: number;
    // null where the drafter (the `auto` controller) chose an arm that drafts on the CPU this step
    // steps in flight are read first; null where none was and none fits (the context)
    const fromAhead = aheadSteps && (aheadSteps.pending || room > 0) ? await aheadSteps.next(committed, { maxContext: req.maxContext, tokensLeft: opts.maxTokens - generated, treeBudget: opts.treeBudget }) : null;
    const onGpu = fromAhead ?? (stepper && room > 0 ? await stepper.step(committed, room, {}, needsDistribution(sampling) ? { options: sampling, rng } : undefined) : null);
    if (onGpu) {
      // draft, verify, walk and both caches' commits in one submit; the draft's share cannot be timed apart
      ({ tree, ...outcome } = onGpu);
      depth = treeDepth(tree);
      stats.verifyMs += performance.now() - td;
    } else if (ahead) {
      // the passes still allowed: one per step, each step one token and one slot
      outcome = await ahead.next(Math.min(req.maxContext - n, opts.maxTokens - generated));
      tree = emptyTree();
      depth = 0;
      stats.verifyMs += performance.now() - td;
    } else {
      tree = drafter && room > 0 ? await drafter.propose({ tokens: committed, sampling: sampling.temperature > 0, options: sampling, rng }, room) : emptyTree();
      const tv = performance.now();
      stats.draftMs += tv - td;
      const layout = layoutTree(tree, model.config.vocabSize, req.maxRows);
      outcome = await verifyTree(model, committed, tree, layout, sampling, rng, drafter?.observesAllRows === true, drafter?.inSubmit, drafter?.needsTopK === true);
      model.commit(Int32Array.from([0, ...Array.from(outcome.nodes, (i) => i + 1)]));
      stats.verifyMs += performance.now() - tv;
      depth = maxDepth(tree, layout.depth);
    }
    const kernelMs = profiler ? kernelTotals(await profiler.take()) : undefined;
    stats.recordStep(tree.tokens.length, depth, outcome.nodes.length, drafter?.choice ?? strategy, kernelMs);

    const stepTokens = [...Array.from(outcome.nodes, (i) => tree.tokens[i]), outcome.bonus];
    drafter?.observe({ tree, acceptedNodes: outcome.nodes, committed: Int32Array.from(stepTokens), topK: outcome.topK, k: outcome.k, gpu: gpu.step() });
    const next = new Int32Array(n + stepTokens.length);
    next.set(committed);
    next.set(stepTokens, n);
    committed = next;

    // Emit up to maxTokens, stopping at the first end-of-sequence token.
    let emit = stepTokens.slice(0, opts.maxTokens - generated);
    const eosAt = emit.findIndex((t) => eos.has(t));
    if (eosAt >= 0) emit = emit.slice(0, eosAt);
    generated += emit.length;
    const text = stream.push(emit);
    const accepted = Math.min(outcome.nodes.length, emit.length);
    const shown = tree.tokens.length ? { tokens: Array.from(tree.tokens), parents: Array.from(tree.parents), acceptedNodes: Array.from(outcome.nodes).slice(0, accepted) } : undefined;
    yield { text, tokens: emit, accepted, treeSize: tree.tokens.length, tree: shown };
    if (eosAt >= 0) { finish = 'eos'; break; }
    if (stream.stopped) { finish = 'stop'; break; }
  }
  gpu.record(stats);
  const tail = stream.flush();
  if (tail) yield { text: tail, tokens: [], accepted: 0, treeSize: 0 };
  return stats.finish(generated, finish);
}

/** The request's sampling options. */
function samplingOf(opts: ResolvedGenerateOptions): SamplingOptions {
  return { temperature: opts.temperature, topK: opts.topK, topP: opts.topP, repetitionPenalty: opts.repetitionPenalty };
}

/** Counts the target's and the drafter's GPU work from now until record(): the decode loop's share. */
function gpuWork(target: GpuCounter, drafter: Drafter | null) {
  const drafts = (drafter?.counters?.() ?? []).filter((c) => c !== target);
  const t0 = target.snapshot();
  const d0 = drafts.map((c) => c.snapshot());
  const total = () => sumCounts([target, ...drafts].map((c) => c.snapshot()));
  let last = total();
  return {
    /** Target and drafter work since the last call (or the start): one step's, for the controller's prices. */
    step(): GpuCounts {
      const now = total();
      const d = countsSince(last, now);
      last = now;
      return d;
    },
    record(stats: StatsCollector): void {
      stats.gpuWork(countsSince(t0, target.snapshot()), sumCounts(drafts.map((c, i) => countsSince(d0[i], c.snapshot()))));
    },
  };
}
