/**
 * Cross-vocabulary drafting (OmniDraft, Ramakrishnan et al. 2025): a draft model with another
 * tokenizer (the shipped GPT-2 draft for the 32k SentencePiece target) drafts through text.
 *
 * Per step:
 *  1. the committed target ids are decoded to text and re-tokenized for the draft model,
 *     incrementally (DraftContext); the draft's KV cache is kept equal to those ids but the last;
 *  2. the draft model drafts a greedy chain of `draftLength` of its own tokens;
 *  3. the chain's text, cut before its last (possibly partial) word, is re-tokenized for the
 *     target after the committed tokens (TargetMapper, with an online mapping cache);
 *  4. OmniDraft's online n-gram cache of accepted output (src/draft/ngram.ts, target ids)
 *     adds its continuations; both go into one trie, the model's chain first (it outweighs
 *     every n-gram branch), n-gram branches sharing its prefix merged with it, cut to the budget.
 *
 * Every draft is deterministic (q one-hot), so verification is lossless under greedy decoding
 * and sampling alike. Memory: the draft model (weights and its own KV cache), the n-gram cache
 * (about 1.4 MB), and at most `maxEntries` cached mappings.
 */
import type { Drafter, DraftContext as Ctx, VerifyObservation } from './drafter';
import type { DraftTree } from '../tree/types';
import type { GpuModel } from '../model/gpu-model';
import type { GpuCounter } from '../gpu/counter';
import { TokenTrie } from '../tree/trie';
import { OptionsError } from '../errors';
import { NgramDrafter } from './ngram';
import { DraftContext, TargetMapper, stableCut, type TextCodec, type TargetMapperOptions } from './retokenize';

export interface CrossVocabOptions extends TargetMapperOptions {
  /** Draft-model tokens per chain (default 8). */
  draftLength?: number;
  /** Ids the draft context starts with (default: the draft tokenizer's BOS, else its first EOS, as in training). */
  draftPrefix?: number[];
}

/** The draft side: its network (own KV cache) and its tokenizer. */
export interface CrossVocabModel {
  model: GpuModel;
  tokenizer: TextCodec & { bosId: number | null; eosIds: number[] };
}

/** Weight of the model chain in the trie: above any n-gram branch's summed count. */
const CHAIN_WEIGHT = 1e6;

export class CrossVocabDrafter implements Drafter {
  readonly name = 'cross-vocab';
  /** What drafted the last tree: "model+ngram", "model", "ngram" or "none". */
  choice = 'none';
  private readonly context: DraftContext;
  readonly mapper: TargetMapper;
  private readonly ngram = new NgramDrafter();
  private readonly trie: TokenTrie;
  private readonly draftLength: number;
  private readonly stop: Set<number>;
  /** Draft ids whose K/V the draft cache holds, in slot order. */
  private cached: number[] = [];

  constructor(
    private readonly draft: CrossVocabModel,
    private readonly target: TextCodec,
    options: CrossVocabOptions = {},
  ) {
    this.draftLength = options.draftLength ?? 8;
    if (!Number.isInteger(this.draftLength) || this.draftLength < 1) throw new OptionsError(`cross-vocab draftLength must be an integer >= 1, got ${this.draftLength}`);
    const t = draft.tokenizer;
    const prefix = options.draftPrefix ?? (t.bosId !== null ? [t.bosId] : t.eosIds.slice(0, 1));
    this.context = new DraftContext(t, prefix);
    this.mapper = new TargetMapper(target, options);
    this.stop = new Set(t.eosIds);
    this.trie = new TokenTrie(4096);
  }

  begin(prompt: Int32Array): void {
    this.ngram.begin(prompt);
  }

  async propose(ctx: Ctx, budget: number): Promise<DraftTree> {
    const committedText = this.target.decode(ctx.tokens);
    const chain = await this.draftChain(this.context.update(committedText));
    const text = chainText(this.draft.tokenizer.decode(chain));
    const ids = this.mapper.map(ctx.tokens, committedText, text);
    const grams = this.ngram.propose(ctx, budget);
    this.trie.clear();
    if (ids.length) this.trie.insert(ids, CHAIN_WEIGHT, 0, Math.min(ids.length, budget));
    for (const path of treePaths(grams)) this.trie.insert(path, 1);
    this.choice = ids.length && grams.tokens.length ? 'model+ngram' : ids.length ? 'model' : grams.tokens.length ? 'ngram' : 'none';
    return this.trie.toDraftTree(budget);
  }

  /** Greedy chain of the draft model after `ids` (its context); stops at its end-of-text. */
  private async draftChain(ids: Int32Array): Promise<Int32Array> {
    const model = this.draft.model;
    const m = ids.length;
    const length = Math.min(this.draftLength, model.kv.capacity - model.maxRows - m);
    if (m < 1 || length < 1) return new Int32Array(0); // beyond the draft's context: n-grams only
    this.sync(ids.subarray(0, m - 1));
    const out: number[] = [];
    let prev = ids[m - 1];
    for (let d = 0; d < length; d++) {
      model.forward(Int32Array.of(prev), Int32Array.of(m - 1 + d), Uint32Array.of(1, 0, 0, 0));
      prev = (await model.readArgmaxTopK(1)).argmax[0];
      if (this.stop.has(prev)) break;
      model.commit(Int32Array.of(0));
      out.push(prev);
    }
    model.truncate(m - 1); // drop the chain: `cached` still describes the cache
    return Int32Array.from(out);
  }

  /** Keeps the draft cache equal to `ids`: drops what differs, appends what is missing. */
  private sync(ids: Int32Array): void {
    let common = 0;
    while (common < this.cached.length && common < ids.length && this.cached[common] === ids[common]) common++;
    // a sliding-window ring may no longer hold a short common prefix: then it recomputes from 0
    const kept = this.draft.model.rewind(common);
    this.draft.model.append(ids.subarray(kept));
    this.cached = Array.from(ids);
  }

  observe(obs: VerifyObservation): void {
    this.ngram.observe(obs);
  }

  counters(): GpuCounter[] {
    return [this.draft.model.counter];
  }

  reset(): void {
    this.ngram.reset();
    this.mapper.clear();
    this.context.clear();
    this.draft.model.truncate(0);
    this.cached = [];
  }
}

/**
 * The part of a drafted text that may be re-tokenized: before a replacement character (a
 * multi-byte character split by the chain's end) and before the last, possibly partial, word.
 */
export function chainText(text: string): string {
  const bad = text.indexOf('\uFFFD');
  const whole = bad >= 0 ? text.slice(0, bad) : text;
  return whole.slice(0, stableCut(whole));
}

/** Root-to-leaf token paths of a tree (BFS order: parents precede children). */
export function treePaths(tree: DraftTree): Int32Array[] {
  const m = tree.tokens.length;
  const hasChild = new Uint8Array(m);
  for (let i = 0; i < m; i++) if (tree.parents[i] >= 0) hasChild[tree.parents[i]] = 1;
  const paths: Int32Array[] = [];
  for (let i = 0; i < m; i++) {
    if (hasChild[i]) continue;
    const path: number[] = [];
    for (let j = i; j >= 0; j = tree.parents[j]) path.push(tree.tokens[j]);
    paths.push(Int32Array.from(path.reverse()));
  }
  return paths;
}
