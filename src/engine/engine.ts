/**
 * The public engine: loads a model onto the GPU and generates text with plain or
 * speculative decoding (DESIGN section 3). One engine owns one KV cache; generate() calls
 * are queued.
 */
import { acquireDevice } from '../gpu/device';
import { isSoftwareAdapter } from '../gpu/adapter';
import { loadModelFiles, readConfig, type ModelFiles } from '../model/weights';
import { chooseWeightDtype, type MemoryEstimate } from '../model/memory';
import { preferredTopKSlice } from '../ops/topk';
import { sourceFromString, type LoadProgress, type ModelSource } from '../model/source';
import { GpuModel } from '../model/gpu-model';
import { Tokenizer } from '../tokenizer/tokenizer';
import { ContextLengthError, EngineDestroyedError } from '../errors';
import type { Drafter } from '../draft/drafter';
import { engineDefaults, given, isWeightDtype, resolveGenerateOptions, checkKvDtype, resolveKvDtype, resolveMaxContext, resolveStepsAhead, OptionsError, type DocumentsProgress, type EngineOptions, type GenerateOptions, type ResolvedGenerateOptions, type WeightDtype } from './options';
import type { KvDtype } from '../kv/cache.ts';
import { createDrafter, strategyNames } from './strategies';
import { Lock } from '../lock';
import type { Datastore } from '../draft/datastore';
import { indexDocuments } from './documents';
import { RetrievalDrafter } from '../draft/retrieval';
import { decodeLoop, type GenerateChunk } from './decode-loop';
import { collectGeneration, type CollectedGeneration } from './collect';
import { DeviceWatch } from './device-loss';
import type { GenerationStats } from './stats';
import type { DraftModel } from '../draft/draft-model';
import { loadCrossVocabDraft } from '../draft/cross-vocab-load';
import type { CrossVocabModel } from '../draft/cross-vocab';
import { HEADS_JSON, loadHeads, type HydraHeads } from '../model/heads';
import { DIFFUSION_JSON, loadDiffusion, type DiffusionDrafterModel } from '../model/diffusion';
import type { ModelConfig } from '../model/config';

export interface LoadOptions extends EngineOptions {
  onProgress?: (p: LoadProgress) => void;
  /**
   * A loaded draft model for the `draft` and `fusion` strategies (same tokenizer, same device;
   * several engines may share one, S2D). Without it (and without draftWithTarget) those
   * strategies are refused with OptionsError and strategyNames() leaves them out.
   */
  draft?: DraftModel;
  /**
   * Draft with a copy of the target (its own weights and cache on the engine's device) where
   * `draft`, `fusion` or `cross-vocab` has no draft model given: the upper bound of what a draft
   * model can reach, for tests and measurements. Default false. (Self-drafting as a strategy of
   * its own is `self`.)
   */
  draftWithTarget?: boolean;
  /** A draft model of another tokenizer for the `cross-vocab` strategy (OmniDraft), loaded on the engine's device. */
  crossVocabDraft?: string | ModelSource | ModelFiles;
  /**
   * Hydra draft heads of the target (the `hydra` strategy; `auto` includes it when present):
   * by default (undefined) hydra-heads.json and its weights are looked for next to the model's
   * files (none: no heads); a folder path, URL base or ModelSource holding them; parsed heads;
   * or false for none.
   */
  heads?: false | string | ModelSource | HydraHeads;
  /**
   * The target's block (diffusion) drafter (the `diffusion` strategy): by default
   * diffusion-drafter.json and its weights are looked for next to the model's files (none: no
   * `diffusion`); a folder path, URL base or ModelSource holding them; a parsed drafter; or false.
   */
  diffusion?: false | string | ModelSource | DiffusionDrafterModel;
}

/** The block drafter named by LoadOptions.diffusion (see there); `model` is where the target came from. */
async function resolveDiffusion(opt: LoadOptions['diffusion'], model: ModelInput, config: ModelConfig): Promise<DiffusionDrafterModel | null> {
  if (opt === false) return null;
  if (opt === undefined) return isModelFiles(model) ? null : loadDiffusion(typeof model === 'string' ? sourceFromString(model) : model, config);
  if (typeof opt === 'object' && 'vocabIds' in opt) {
    if (opt.vocabIds.some((t) => t < 0 || t >= config.vocabSize)) {
      throw new OptionsError(`load option "diffusion": a drafter over ids up to ${Math.max(...opt.vocabIds)} does not fit the target's vocabulary of ${config.vocabSize}`);
    }
    return opt;
  }
  const source = typeof opt === 'string' ? sourceFromString(opt) : opt;
  const d = await loadDiffusion(source, config);
  if (!d) throw new OptionsError(`load option "diffusion": ${source.id} has no ${DIFFUSION_JSON}`);
  return d;
}

function isHeads(h: LoadOptions['heads']): h is HydraHeads {
  return typeof h === 'object' && 'vocabIds' in h;
}

/** The heads named by LoadOptions.heads (see there); `model` is where the target came from. */
async function resolveHeads(opt: LoadOptions['heads'], model: ModelInput, config: ModelConfig): Promise<HydraHeads | null> {
  if (opt === false) return null;
  if (opt === undefined) return isModelFiles(model) ? null : loadHeads(typeof model === 'string' ? sourceFromString(model) : model, config);
  if (isHeads(opt)) {
    if (opt.hidden !== config.hiddenSize || opt.vocabIds.some((t) => t < 0 || t >= config.vocabSize)) {
      throw new OptionsError(`load option "heads": heads of hidden size ${opt.hidden} over ids up to ${Math.max(...opt.vocabIds)} do not fit the target (hidden ${config.hiddenSize}, vocab ${config.vocabSize})`);
    }
    return opt;
  }
  const source = typeof opt === 'string' ? sourceFromString(opt) : opt;
  const heads = await loadHeads(source, config);
  if (!heads) throw new OptionsError(`load option "heads": ${source.id} has no ${HEADS_JSON}`);
  return heads;
}

export type ModelInput = string | ModelSource | ModelFiles;

/**
 * The weight format of a load (EngineOptions.weightDtype, 'auto' resolved) and its memory
 * estimate; throws ModelTooLargeError when it exceeds the adapter's buffer limits or
 * `memoryBudget`. Engine.load and the worker call it before downloading weights.
 */
export function planWeights(config: ModelConfig, opts: Pick<EngineOptions, 'weightDtype' | 'memoryBudget' | 'kvDtype'>, shape: { maxContext: number; maxRows: number }, device: GPUDevice): { dtype: WeightDtype; estimate: MemoryEstimate } {
  const requested = opts.weightDtype ?? engineDefaults.weightDtype;
  if (requested !== 'auto' && !isWeightDtype(requested)) {
    throw new OptionsError(`engine option "weightDtype" is ${given(requested)}; expected "f32", "f16", "q8", "q4" or "auto"`);
  }
  // unnamed, the cache follows each candidate weight format (defaultKvDtype)
  const kvDtype = checkKvDtype(opts.kvDtype);
  const budget = opts.memoryBudget;
  if (budget !== undefined && !(typeof budget === 'number' && Number.isSafeInteger(budget) && budget > 0)) {
    throw new OptionsError(`engine option "memoryBudget" is ${given(budget)}; expected a positive integer (bytes)`);
  }
  return chooseWeightDtype(config, requested, { ...shape, kvDtype, topKSlice: preferredTopKSlice(device) }, device.limits, budget);
}

function isModelFiles(m: ModelInput): m is ModelFiles {
  return typeof m === 'object' && 'tensors' in m && 'config' in m;
}

/** What Engine.load accepts, checked before use so a wrong argument is an OptionsError, not a TypeError. */
function checkLoadArgs(model: unknown, opts: unknown): void {
  const source = typeof model === 'object' && model !== null && typeof (model as ModelSource).read === 'function' && typeof (model as ModelSource).exists === 'function';
  const files = typeof model === 'object' && model !== null && 'tensors' in model && 'config' in model;
  if (typeof model !== 'string' && !source && !files) {
    throw new OptionsError(`Engine.load: the model is ${given(model)}; expected a folder path or URL (string), a ModelSource or loaded ModelFiles`);
  }
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw new OptionsError(`Engine.load: the options are ${given(opts)}; expected an object`);
  const withTarget = (opts as LoadOptions).draftWithTarget;
  if (withTarget !== undefined && typeof withTarget !== 'boolean') throw new OptionsError(`load option "draftWithTarget" is ${given(withTarget)}; expected true or false`);
}

/** A prompt is text or token ids of the model's vocabulary. */
function checkPrompt(prompt: unknown, vocab: number): void {
  if (typeof prompt === 'string') return;
  const ids = prompt instanceof Int32Array || (Array.isArray(prompt) && prompt.every((t) => typeof t === 'number'));
  if (!ids) throw new OptionsError(`the prompt is ${given(prompt)}; expected a string or token ids (Int32Array or number[])`);
  const bad = Array.from(prompt as ArrayLike<number>).findIndex((t) => !Number.isInteger(t) || t < 0 || t >= vocab);
  if (bad >= 0) throw new OptionsError(`the prompt's token ${bad} is ${(prompt as ArrayLike<number>)[bad]}; expected an id in [0, ${vocab})`);
}

export class Engine {
  private readonly lock = new Lock();
  private readonly drafters = new Map<string, Drafter>();
  private destroyed = false;
  /** True while a generation runs a step (between its consumer's next() and the step's yield). */
  private stepping = false;
  private freed = false;
  /** The retrieval datastore of the last documents passed, rebuilt only when they change. */
  private docs: { key: string; store: Datastore | null } = { key: '', store: null };
  /** Turns a loss of the device into DeviceLostError for the generation in flight and every later one. */
  private readonly watch: DeviceWatch;
  /** The draft model of the `draft` and `fusion` strategies (LoadOptions.draft), possibly shared. */
  private draftModel: DraftModel | null = null;
  /** LoadOptions.draftWithTarget: a copy of the target stands in for a missing draft model. */
  private draftWithTarget = false;
  /** The draft of the `cross-vocab` strategy (LoadOptions.crossVocabDraft). */
  private crossVocab: CrossVocabModel | null = null;
  /** The target's Hydra heads (LoadOptions.heads), or null. */
  heads: HydraHeads | null = null;
  /** The target's block (diffusion) drafter (LoadOptions.diffusion), or null. */
  diffusion: DiffusionDrafterModel | null = null;

  private constructor(
    readonly device: GPUDevice,
    readonly files: ModelFiles,
    readonly model: GpuModel,
    readonly tokenizer: Tokenizer,
    readonly maxContext: number,
    private readonly opts: { weightDtype: WeightDtype; kvDtype: KvDtype; maxTreeNodes: number; stepsAhead: number },
  ) {
    this.watch = new DeviceWatch(device);
  }

  /** Loads a model (folder path or URL base as a string, a ModelSource, or parsed files). */
  static async load(model: ModelInput, opts: LoadOptions = {}): Promise<Engine> {
    checkLoadArgs(model, opts);
    // config.json first: the memory check runs before any weight is downloaded
    const source = isModelFiles(model) ? null : typeof model === 'string' ? sourceFromString(model) : model;
    const config = source ? await readConfig(source, opts.onProgress) : (model as ModelFiles).config;
    const maxTreeNodes = opts.maxTreeNodes ?? engineDefaults.maxTreeNodes;
    if (!Number.isInteger(maxTreeNodes) || maxTreeNodes < 0 || maxTreeNodes > 127) {
      throw new OptionsError(`engine option "maxTreeNodes" is ${maxTreeNodes}; expected an integer in [0, 127]`);
    }
    const maxContext = resolveMaxContext(opts.maxContext, config.maxPositionEmbeddings);
    const device = opts.device ?? opts.draft?.gpu.device ?? (await acquireDevice()).device;
    const stepsAhead = resolveStepsAhead(opts.stepsAhead, isSoftwareAdapter(device));
    const weightDtype = planWeights(config, opts, { maxContext, maxRows: maxTreeNodes + 1 }, device).dtype;
    const kvDtype = resolveKvDtype(opts.kvDtype, weightDtype);
    const files = source ? await loadModelFiles(source, { onProgress: opts.onProgress, config }) : (model as ModelFiles);
    const tokenizer = Tokenizer.fromFiles(files.tokenizerJson, files.tokenizerConfig, files.config);
    opts.draft?.checkTarget(tokenizer, device, maxContext);
    const gpu = await GpuModel.load(device, files, { maxContext, maxTreeRows: maxTreeNodes + 1, weightDtype, kvDtype });
    const engine = new Engine(device, files, gpu, tokenizer, maxContext, { weightDtype, kvDtype, maxTreeNodes, stepsAhead });
    engine.draftModel = opts.draft ?? null;
    engine.draftWithTarget = opts.draftWithTarget ?? false;
    if (opts.crossVocabDraft) engine.crossVocab = await loadCrossVocabDraft(device, opts.crossVocabDraft, weightDtype);
    engine.heads = await resolveHeads(opts.heads, model, files.config);
    engine.diffusion = await resolveDiffusion(opts.diffusion, model, files.config);
    return engine;
  }

  get config() {
    return this.files.config;
  }

  /** The weight format the model was loaded at (LoadOptions.weightDtype, with 'auto' resolved). */
  get weightDtype(): WeightDtype {
    return this.opts.weightDtype;
  }

  /** Steps in flight of plain decoding and of the steps drafters run on the GPU (LoadOptions.stepsAhead, the default resolved). */
  get stepsAhead(): number {
    return this.opts.stepsAhead;
  }

  /** How the target's KV cache stores K and V (LoadOptions.kvDtype, or the weights' default: f32 for f32 weights, else f16). */
  get kvDtype(): KvDtype {
    return this.opts.kvDtype;
  }

  /** Prompt text -> token ids, as generate() encodes it. */
  encodePrompt(prompt: string, o: Pick<ResolvedGenerateOptions, 'chat' | 'addSpecialTokens'>): Int32Array {
    const text = o.chat ? this.tokenizer.applyChatTemplate([{ role: 'user', content: prompt }]) : prompt;
    return this.tokenizer.encode(text, { addSpecialTokens: o.chat ? false : o.addSpecialTokens });
  }

  /**
   * Streams generated text. Each chunk holds the tokens one step committed; the generator's
   * return value is the generation's statistics.
   */
  async *generate(prompt: string | Int32Array, options: GenerateOptions = {}): AsyncGenerator<GenerateChunk, GenerationStats, void> {
    this.checkAlive();
    this.watch.check();
    checkPrompt(prompt, this.config.vocabSize);
    const opts = resolveGenerateOptions(options, this.opts.maxTreeNodes);
    const release = await this.lock.acquire();
    this.stepping = true;
    try {
      // Queued behind a generation that saw destroy(): rejected before touching the GPU.
      this.checkAlive();
      const promptIds = typeof prompt === 'string' ? this.encodePrompt(prompt, opts) : Int32Array.from(prompt);
      if (promptIds.length === 0) throw new OptionsError('the prompt encodes to no tokens; expected at least one');
      if (promptIds.length >= this.maxContext) {
        throw new ContextLengthError(`the prompt has ${promptIds.length} tokens; this engine's context holds ${this.maxContext} (prompt + output), so at most ${this.maxContext - 1} prompt tokens`);
      }
      const drafter = opts.strategy === 'ar' ? null : await this.drafter(opts.strategy);
      // The request's documents go to the retrieval drafter, used alone or inside `auto`.
      const retrieval = this.drafters.get('retrieval');
      if (retrieval instanceof RetrievalDrafter) retrieval.setDatastore(await this.datastore(opts.documents, options.onProgress));
      // A lost device rejects the loop with DeviceLostError instead of leaving a readback pending forever.
      const steps = this.watch.guardGenerator(decodeLoop({
        model: this.model,
        tokenizer: this.tokenizer,
        drafter,
        prompt: promptIds,
        opts,
        signal: options.signal,
        maxContext: this.maxContext,
        maxRows: this.opts.maxTreeNodes + 1,
        stepsAhead: this.opts.stepsAhead,
      }));
      try {
        for (;;) {
          this.checkAlive();
          const r = await steps.next();
          // destroy() during the step: its buffers were kept until here, the step boundary.
          this.checkAlive();
          if (r.done) return r.value;
          this.stepping = false;
          yield r.value;
          this.stepping = true;
        }
      } finally {
        await steps.return(undefined as unknown as GenerationStats);
      }
    } finally {
      this.stepping = false;
      release();
      if (this.destroyed) this.free();
    }
  }

  private checkAlive(): void {
    if (this.destroyed) throw new EngineDestroyedError('this engine was destroyed; its generations are cancelled (load a new engine with Engine.load)');
  }

  /** generate() collected: the whole text, the token ids and the statistics. */
  generateText(prompt: string | Int32Array, options: GenerateOptions = {}): Promise<CollectedGeneration> {
    return collectGeneration(this.generate(prompt, options));
  }

  /** The drafter of a strategy, created on first use and kept (learned state persists). */
  async drafter(name: string): Promise<Drafter> {
    let d = this.drafters.get(name);
    if (!d) {
      d = await createDrafter(name, {
        device: this.device,
        files: this.files,
        target: this.model,
        maxContext: this.maxContext,
        maxRows: this.opts.maxTreeNodes + 1,
        draft: this.draftModel ?? undefined,
        crossVocabDraft: this.crossVocab ?? undefined,
        heads: this.heads ?? undefined,
        draftWithTarget: this.draftWithTarget,
        diffusion: this.diffusion ?? undefined,
        drafter: (other) => this.drafter(other),
        loadTargetCopy: () => GpuModel.load(this.device, this.files, { maxContext: this.maxContext, maxTreeRows: this.opts.maxTreeNodes + 1, weightDtype: this.opts.weightDtype, kvDtype: this.opts.kvDtype }),
      });
      this.drafters.set(name, d);
    }
    return d;
  }

  /** A suffix-array datastore over the documents' token ids (none without documents). */
  private async datastore(documents: string[], onProgress?: (p: DocumentsProgress) => void): Promise<Datastore | null> {
    const key = JSON.stringify(documents);
    if (key !== this.docs.key) this.docs = { key, store: await indexDocuments(this.tokenizer, documents, onProgress) };
    return this.docs.store;
  }

  /**
   * The strategies this engine can run: every registered one, but `hydra` only with draft heads,
   * `diffusion` only with a block drafter,
   * `draft` and `fusion` only with a draft model, `cross-vocab` only with its draft (either of
   * the two with draftWithTarget).
   */
  strategyNames(): string[] {
    const can: Record<string, boolean> = {
      hydra: this.heads !== null,
      diffusion: this.diffusion !== null,
      draft: this.draftModel !== null || this.draftWithTarget,
      fusion: this.draftModel !== null || this.draftWithTarget,
      'cross-vocab': this.crossVocab !== null || this.draftWithTarget,
    };
    return strategyNames().filter((n) => can[n] ?? true);
  }

  /** Forgets what every drafter learned. */
  resetDrafters(): void {
    for (const d of this.drafters.values()) d.reset();
  }

  /**
   * Frees the engine's GPU memory. A generation in the middle of a step keeps its buffers until
   * the step ends, then rejects with EngineDestroyedError, as do queued and later generations.
   */
  destroy(): void {
    this.destroyed = true;
    if (!this.stepping) this.free();
  }

  /** Destroys the buffers once the GPU has finished the work already submitted with them. */
  private free(): void {
    if (this.freed) return;
    this.freed = true;
    const release = () => {
      this.model.destroy();
      this.crossVocab?.model.destroy();
    };
    this.device.queue.onSubmittedWorkDone().then(release, release);
  }
}
