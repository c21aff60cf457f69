/**
 * The measured loop, shared by the browser page and the Node runner: load the engine once per
 * weight format of config.weights (each (strategy, weights) pair is a contestant), warm every
 * strategy up, then run every strategy on every prompt, interleaved (the strategy
 * order rotates with each repeat, so no strategy always runs first or last after a prompt
 * change), `repeats` times. Greedy decoding (temperature 0), so every strategy must produce
 * the tokens of plain decoding at the same weights; summary.ts checks that.
 */
import { Engine, acquireDevice, engineDefaults, generateDefaults, isStrategyName, strategyNames, type ModelInput } from '../src/index';
import { DraftModel } from '../src/draft/draft-model';
import type { BenchPrompt, BenchWeights, GpuMemory, RunRecord, RunnerResult, RunStats, SuiteConfig } from './types';

/** Another engine measured in the same run on the same model (plain decoding). */
export interface Peer {
  name: string;
  /** The treespec weight format whose precision it runs (fp16 for f16, q8, q4, fp32 for f32). */
  weights?: BenchWeights;
  /** What to record about the peer (version, backend). */
  environment?: Record<string, string>;
  /** One greedy generation; tokens may be empty when the peer does not expose ids. */
  generate(p: BenchPrompt, maxTokens: number): Promise<{ text: string; tokens: number[]; stats: RunStats }>;
  destroy(): Promise<void>;
}

/** What a peer may take from the loaded engine: treespec's prompt encoding, to feed the same ids. */
export interface PeerTarget {
  encode(prompt: string): number[];
}

export interface SuiteInput {
  runtime: RunnerResult['runtime'];
  model: ModelInput;
  /** How the model was named on the command line (folder or URL). */
  modelLabel: string;
  /** Draft model of the `draft` strategy (same tokenizer); without it the engine drafts with a target copy. */
  draft?: ModelInput;
  prompts: BenchPrompt[];
  config: SuiteConfig;
  environment: Record<string, string>;
  log: (line: string) => void;
  /** Peers, created after the engine is loaded (so both share the GPU from the start). */
  peers?: ((target: PeerTarget) => Promise<Peer>)[];
}

/** Counts the bytes of GPU buffers created and destroyed through a device. */
class BufferMeter {
  live = 0;
  peak = 0;

  constructor(device: GPUDevice) {
    const create = device.createBuffer.bind(device);
    device.createBuffer = (desc: GPUBufferDescriptor): GPUBuffer => {
      const buf = create(desc);
      const size = buf.size;
      this.live += size;
      this.peak = Math.max(this.peak, this.live);
      const destroy = buf.destroy.bind(buf);
      let destroyed = false;
      buf.destroy = () => {
        if (!destroyed) this.live -= size;
        destroyed = true;
        destroy();
      };
      return buf;
    };
  }
}

function pickStats(s: Record<string, unknown>): RunStats {
  const n = (k: string) => (typeof s[k] === 'number' ? (s[k] as number) : NaN);
  return {
    promptTokens: n('promptTokens'),
    generatedTokens: n('generatedTokens'),
    prefillMs: n('prefillMs'),
    decodeMs: n('decodeMs'),
    tokensPerSecond: n('tokensPerSecond'),
    targetForwards: n('targetForwards'),
    tau: n('tau'),
    draftMsPerToken: n('draftMsPerToken'),
    verifyMsPerToken: n('verifyMsPerToken'),
    otherMsPerToken: n('otherMsPerToken'),
    finishReason: String(s.finishReason),
    ...(s.gpu && typeof s.gpu === 'object' ? { gpu: s.gpu as RunStats['gpu'] } : {}),
  };
}

export const emptyStats: RunStats = {
  promptTokens: 0, generatedTokens: 0, prefillMs: 0, decodeMs: 0, tokensPerSecond: 0, targetForwards: 0,
  tau: 0, draftMsPerToken: 0, verifyMsPerToken: 0, otherMsPerToken: 0, finishReason: 'error',
};

/** Tokens of each warm-up generation. */
const WARMUP_TOKENS = 8;

/** Drafters that exist to test the verifier (always right but slow, always wrong), not to be fast. */
const TEST_DRAFTERS = ['self', 'random'];

/** Strategy order of one repeat: the list rotated by the repeat's index. */
export function rotation<T>(xs: T[], r: number): T[] {
  const k = ((r % xs.length) + xs.length) % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

interface LoadedEngine {
  weights: BenchWeights;
  engine: Engine;
}

/** One engine (and draft model) per weight format, in config.weights order. */
async function loadEngines(input: SuiteInput, device: GPUDevice, meter: BufferMeter, gpuMemory: GpuMemory): Promise<LoadedEngine[]> {
  const { config } = input;
  const list: BenchWeights[] = config.weights.length ? config.weights : [engineDefaults.weightDtype];
  const engines: LoadedEngine[] = [];
  for (const weights of list) {
    let draft: DraftModel | undefined;
    if (input.draft) {
      const before = meter.live;
      draft = await DraftModel.load(device, input.draft, { maxContext: config.maxContext, weightDtype: weights });
      gpuMemory.draftModelBytes ??= meter.live - before;
    }
    engines.push({ weights, engine: await Engine.load(input.model, { device, weightDtype: weights, maxContext: config.maxContext, draft }) });
  }
  return engines;
}

export async function runSuite(input: SuiteInput): Promise<RunnerResult> {
  const { config, prompts, log } = input;
  const errors: string[] = [];
  const runs: RunRecord[] = [];
  const gpuMemory: GpuMemory = { afterLoadBytes: 0, byStrategyBytes: {}, peakBytes: 0 };
  const available = strategyNames();
  const result: RunnerResult = {
    runtime: input.runtime,
    environment: { ...input.environment },
    model: { source: input.modelLabel, config: {} },
    config,
    loadMs: 0,
    gpuMemory,
    runs,
    available,
    errors,
  };

  const asked = config.strategies.length ? config.strategies : available.filter((s) => !TEST_DRAFTERS.includes(s));
  const unknown = asked.filter((s) => !isStrategyName(s));
  if (unknown.length) {
    errors.push(`strategies not offered by this engine build: ${unknown.join(', ')} (offered: ${available.join(', ')}); they are skipped`);
  }
  // Plain decoding first: it is the reference of the equality check and of every speedup.
  let strategies = ['ar', ...asked.filter((s) => s !== 'ar' && isStrategyName(s))];

  const ctx = await acquireDevice();
  result.environment.adapter = ctx.adapterInfo;
  const meter = new BufferMeter(ctx.device);
  const t0 = performance.now();
  const engines = await loadEngines(input, ctx.device, meter, gpuMemory);
  result.loadMs = performance.now() - t0;
  gpuMemory.afterLoadBytes = meter.live;
  const engine = engines[0].engine;
  // By default, `hydra` only where the model has draft heads and `diffusion` only where it has a
  // block drafter (asked for by name, they report why not).
  if (!config.strategies.length) strategies = strategies.filter((s) => engine.strategyNames().includes(s));
  result.model.config = JSON.parse(JSON.stringify(engine.config)) as Record<string, unknown>;
  log(`loaded ${input.modelLabel} (${engines.map((e) => e.weights).join(', ')}) in ${result.loadMs.toFixed(0)} ms on ${ctx.adapterInfo}; ${(meter.live / 2 ** 20).toFixed(1)} MiB of GPU buffers`);

  const peers: Peer[] = [];
  const target: PeerTarget = { encode: (prompt) => Array.from(engine.encodePrompt(prompt, generateDefaults)) };
  for (const make of input.peers ?? []) {
    try {
      const peer = await make(target);
      peers.push(peer);
      Object.assign(result.environment, peer.environment ?? {});
    } catch (e) {
      errors.push(`peer failed to load: ${(e as Error).name}: ${(e as Error).message}`);
    }
  }

  const runPeer = async (peer: Peer, p: BenchPrompt, repeat: number, maxTokens = config.maxTokens): Promise<void> => {
    const rec: RunRecord = { engine: peer.name, strategy: 'ar', weights: peer.weights, promptId: p.id, category: p.category, repeat, tokens: [], text: '', stats: emptyStats };
    try {
      Object.assign(rec, await peer.generate(p, maxTokens));
    } catch (e) {
      rec.error = `${(e as Error).name}: ${(e as Error).message}`;
    }
    runs.push(rec);
    log(`${repeat < 0 ? 'warm-up' : `repeat ${repeat + 1}/${config.repeats}`} ${p.id} ${peer.name}${peer.weights ? ` ${peer.weights}` : ''}: ` +
      (rec.error ? `ERROR ${rec.error}` : `${rec.stats.generatedTokens} tokens, ${rec.stats.tokensPerSecond.toFixed(2)} tok/s`));
  };

  const several = engines.length > 1;
  const runOne = async ({ engine, weights }: LoadedEngine, p: BenchPrompt, strategy: string, repeat: number, maxTokens = config.maxTokens): Promise<void> => {
    const before = meter.live;
    const memKey = several ? `${strategy} ${weights}` : strategy;
    const firstUse = !(memKey in gpuMemory.byStrategyBytes) && strategy !== 'ar';
    if (config.resetDrafters) engine.resetDrafters();
    const rec: RunRecord = { engine: 'treespec', strategy, weights, promptId: p.id, category: p.category, repeat, tokens: [], text: '', stats: emptyStats };
    try {
      const out = await engine.generateText(p.prompt, {
        maxTokens,
        temperature: 0,
        seed: 0,
        strategy,
        treeBudget: config.treeBudget,
        documents: p.documents,
      });
      rec.tokens = out.tokens;
      rec.text = out.text;
      rec.stats = pickStats(out.stats as unknown as Record<string, unknown>);
    } catch (e) {
      rec.error = `${(e as Error).name}: ${(e as Error).message}`;
    }
    if (firstUse) gpuMemory.byStrategyBytes[memKey] = meter.live - before;
    if (strategy === 'ar' && !(memKey in gpuMemory.byStrategyBytes)) gpuMemory.byStrategyBytes[memKey] = 0;
    rec.gpuBytesLive = meter.live;
    runs.push(rec);
    const s = rec.stats;
    log(`${repeat < 0 ? 'warm-up' : `repeat ${repeat + 1}/${config.repeats}`} ${p.id} ${strategy}${several ? ` ${weights}` : ''}: ` +
      (rec.error ? `ERROR ${rec.error}` : `${s.generatedTokens} tokens, ${s.tokensPerSecond.toFixed(2)} tok/s, tau ${s.tau.toFixed(2)}`));
  };

  try {
    // Warm-up: every strategy once on the first prompt, a few tokens (pipelines compiled,
    // drafters created); not measured.
    const contestants: ((p: BenchPrompt, r: number, n?: number) => Promise<void>)[] = [
      ...engines.flatMap((e) => strategies.map((s) => (p: BenchPrompt, r: number, n?: number) => runOne(e, p, s, r, n))),
      ...peers.map((peer) => (p: BenchPrompt, r: number, n?: number) => runPeer(peer, p, r, n)),
    ];
    if (prompts.length) for (const c of contestants) await c(prompts[0], -1, Math.min(config.maxTokens, WARMUP_TOKENS));
    for (let r = 0; r < config.repeats; r++) {
      for (const p of prompts) for (const c of rotation(contestants, r)) await c(p, r);
    }
  } catch (e) {
    errors.push(`${(e as Error).name}: ${(e as Error).message}`);
  } finally {
    gpuMemory.peakBytes = meter.peak;
    for (const peer of peers) await peer.destroy().catch(() => undefined);
    for (const e of engines) e.engine.destroy();
    log('done');
  }
  return result;
}
