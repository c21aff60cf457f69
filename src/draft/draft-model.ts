/**
 * A loaded draft model (SpecInfer; EAGLE-2 drafting with a separate small LM): a GpuModel with
 * its own KV cache, the tokenizer it was trained with, and optionally a trimmed LM head
 * (VocabTrim, src/draft/vocab-trim.ts).
 *
 * One DraftModel can serve several target engines with the same tokenizer without loading
 * twice (S2D, "one drafter, many targets"): its cache is not owned by any engine. `sync` makes
 * the cache hold exactly the caller's committed tokens (dropping what differs, appending what
 * is missing), so a generation of another engine in between only costs a re-append; and
 * `exclusive` serialises drafting, so two engines generating at once never interleave passes
 * on the one cache.
 */
import { GpuModel } from '../model/gpu-model';
import { loadModelFiles, type ModelFiles } from '../model/weights';
import { sourceFromString, type ModelSource } from '../model/source';
import { Tokenizer, assertSameVocabulary } from '../tokenizer/tokenizer';
import { OptionsError } from '../errors';
import { Lock } from '../lock';
import { modelDefaults } from '../model/defaults';
import type { WeightDtype } from '../model/upload';

export interface DraftModelOptions {
  /** Longest context the draft cache follows; must cover every target's maxContext. Default min(max positions, 2048). */
  maxContext?: number;
  /** Rows of one draft pass: root + tree nodes grown so far (1..128). Default 128. */
  maxTreeRows?: number;
  /** Weight storage on the GPU. Default 'f16'. */
  weightDtype?: WeightDtype;
  /** VocabTrim: the token ids the LM head keeps (see keptTokens in vocab-trim.ts). Default: all. */
  vocabTrim?: Int32Array;
}

export class DraftModel {
  /** Tokens whose K/V the cache holds, in slot order. */
  private cached: number[] = [];
  private readonly lock = new Lock();

  /**
   * @param gpu the draft network with its own cache
   * @param tokenizer its tokenizer (null: a copy of the target, same tokenizer by construction)
   * @param kept (N) the token id of each LM-head row under VocabTrim, or null for the full vocabulary
   */
  constructor(
    readonly gpu: GpuModel,
    readonly tokenizer: Tokenizer | null,
    readonly kept: Int32Array | null,
  ) {
    if (kept && kept.length !== gpu.outVocab) throw new OptionsError(`DraftModel: ${kept.length} kept ids for an LM head of ${gpu.outVocab} rows`);
  }

  /** Loads a draft model (folder path or URL base, a ModelSource, or parsed files) onto `device`. */
  static async load(device: GPUDevice, model: string | ModelSource | ModelFiles, opts: DraftModelOptions = {}): Promise<DraftModel> {
    const files = typeof model === 'object' && 'tensors' in model ? model : await loadModelFiles(typeof model === 'string' ? sourceFromString(model) : model);
    const tokenizer = Tokenizer.fromFiles(files.tokenizerJson, files.tokenizerConfig, files.config);
    const maxContext = opts.maxContext ?? Math.min(files.config.maxPositionEmbeddings, modelDefaults.maxContextCap);
    const gpu = await GpuModel.load(device, files, {
      maxContext,
      maxTreeRows: opts.maxTreeRows,
      weightDtype: opts.weightDtype ?? modelDefaults.weightDtype,
      lmHeadRows: opts.vocabTrim,
    });
    return new DraftModel(gpu, tokenizer, opts.vocabTrim ?? null);
  }

  /**
   * Throws unless this draft can serve a target: same vocabulary (TokenizerError), the same
   * device, and a cache as long as the target's context (OptionsError).
   */
  checkTarget(target: Tokenizer, device: GPUDevice, maxContext: number): void {
    if (this.tokenizer) assertSameVocabulary(this.tokenizer, target);
    if (this.gpu.device !== device) throw new OptionsError('the draft model was loaded on another GPUDevice than the engine; pass the same device to both');
    const room = this.gpu.kv.capacity - this.gpu.maxRows;
    if (room < maxContext) throw new OptionsError(`the draft model's context (${room}) is shorter than the engine's maxContext (${maxContext}); load it with maxContext >= ${maxContext}`);
  }

  /** The token id of LM-head row `i` (i itself without VocabTrim). */
  tokenOf(i: number): number {
    return this.kept ? this.kept[i] : i;
  }

  /** Makes the cache hold exactly `tokens` (the caller's committed context, root excluded). */
  sync(tokens: Int32Array): void {
    let common = 0;
    const c = this.cached;
    while (common < c.length && common < tokens.length && c[common] === tokens[common]) common++;
    // a sliding-window ring may no longer hold a short common prefix: then it recomputes from 0
    const kept = this.gpu.rewind(common);
    this.gpu.append(tokens.subarray(kept));
    this.cached = Array.from(tokens);
  }

  /** The cache grew by `tokens`' K/V, compacted into place on the GPU (src/draft/gpu-grow.ts). */
  extend(tokens: number[]): void {
    this.gpu.commitCompacted(tokens.length);
    this.cached.push(...tokens);
  }

  /**
   * Takes the draft model for the caller until it calls the function returned: steps encoded
   * ahead (src/draft/gpu-grow-ahead.ts) hold it across their awaits, while their passes are in flight.
   */
  claim(): Promise<() => void> {
    return this.lock.acquire();
  }

  /** Runs `fn` with the draft model to itself (drafts of different engines never interleave). */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.lock.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** Empties the cache. */
  reset(): void {
    this.gpu.truncate(0);
    this.cached = [];
  }

  destroy(): void {
    this.gpu.destroy();
  }
}
