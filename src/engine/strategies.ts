/**
 * Strategy names -> drafters. A drafter is created once per engine and strategy and kept,
 * so drafters that learn (Token Recycling, n-gram caches) improve across generations.
 */
import type { Drafter } from '../draft/drafter';
import type { GpuModel } from '../model/gpu-model';
import type { ModelFiles } from '../model/weights';
import { OptionsError } from './options';
import { RandomDrafter } from '../draft/random';
import { SelfDrafter } from '../draft/self';
import { LookupDrafter } from '../draft/lookup';
import { RecyclingDrafter } from '../draft/recycling';
import { AdedDrafter } from '../draft/aded';
import { NgramDrafter } from '../draft/ngram';
import { RetrievalDrafter } from '../draft/retrieval';
import { EarlyExitDrafter } from '../draft/early-exit';
import { CrossVocabDrafter, type CrossVocabModel } from '../draft/cross-vocab';
import { Tokenizer } from '../tokenizer/tokenizer';
import { Controller, type ControllerOptions } from './controller';
import { isSoftwareAdapter } from '../gpu/adapter';
import { DraftModel } from '../draft/draft-model';
import { ModelDrafter } from '../draft/model-drafter';
import { FusionDrafter } from '../draft/fusion';
import { HydraDrafter } from '../draft/hydra';
import { HEADS_JSON, type HydraHeads } from '../model/heads';
import { tensorF32 } from '../model/weights';
import { DIFFUSION_JSON, type DiffusionDrafterModel } from '../model/diffusion';
import { DiffusionDrafter } from '../draft/diffusion';
import { GpuBlockPass } from '../draft/diffusion-gpu';

/** What a strategy may build its drafter from. */
export interface DrafterFactoryContext {
  device: GPUDevice;
  files: ModelFiles;
  target: GpuModel;
  maxContext: number;
  maxRows: number;
  /** The engine's draft model (LoadOptions.draft), shared with other engines; absent when none was given. */
  draft?: DraftModel;
  /** The draft model of another tokenizer for `cross-vocab` (LoadOptions.crossVocabDraft); absent when none was given. */
  crossVocabDraft?: CrossVocabModel;
  /** The target's Hydra draft heads (hydra-heads.json next to the model, or LoadOptions.heads); absent when none were found. */
  heads?: HydraHeads;
  /** LoadOptions.draftWithTarget: a copy of the target stands in for a missing draft model. */
  draftWithTarget?: boolean;
  /** The target's block (diffusion) drafter (diffusion-drafter.json next to the model, or LoadOptions.diffusion); absent when none was found. */
  diffusion?: DiffusionDrafterModel;
  /** Loads another instance of the target (for self-drafting). */
  loadTargetCopy(): Promise<GpuModel>;
  /** The engine's drafter of another strategy (shared: composite drafters reuse them). */
  drafter(name: string): Promise<Drafter>;
}

/**
 * The drafters `auto` chooses among: the cheap model-free ones, which learn from every step,
 * the draft model when the engine was loaded with one, and Hydra when the target has draft
 * heads. `auto:a,b,...` chooses among the
 * named strategies instead (e.g. `auto:random` measures the controller against a drafter that
 * is always wrong).
 */
export const autoDrafters = ['lookup', 'recycling', 'aded', 'ngram', 'retrieval'];

/** The drafters of an `auto` or `auto:a,b` strategy name, or null for another name. */
function autoMembers(name: string, ctx: Pick<DrafterFactoryContext, 'draft' | 'heads'>): string[] | null {
  if (name === 'auto') return [...autoDrafters, ...(ctx.draft ? ['draft'] : []), ...(ctx.heads ? ['hydra'] : [])];
  if (!name.startsWith('auto:')) return null;
  const names = name.slice(5).split(',').map((s) => s.trim());
  const bad = names.find((n) => !factories.has(n) || n === 'auto' || n.startsWith('auto:'));
  if (bad !== undefined || names.length === 0) {
    throw new OptionsError(`strategy "${name}": "${bad ?? ''}" is not a drafting strategy; expected auto:NAME[,NAME...] with names from ${[...factories.keys()].filter((n) => n !== 'auto').join(', ')}`);
  }
  return names;
}

/** Steps priced in dispatches and round trips on GPUs; by time on software adapters, where a pass costs its arithmetic (controller.ts). */
function controllerOptions(ctx: Pick<DrafterFactoryContext, 'device'>): ControllerOptions {
  return { pricing: isSoftwareAdapter(ctx.device) ? 'time' : 'counts' };
}

type Factory = (ctx: DrafterFactoryContext) => Promise<Drafter> | Drafter;

const factories = new Map<string, Factory>([
  ['self', async (ctx) => new SelfDrafter(await ctx.loadTargetCopy())],
  ['random', (ctx) => new RandomDrafter({ vocabSize: ctx.files.config.vocabSize, seed: 1 })],
  ['lookup', () => new LookupDrafter()],
  ['recycling', (ctx) => new RecyclingDrafter({ vocabSize: ctx.files.config.vocabSize, k: ctx.target.topK })],
  ['aded', () => new AdedDrafter()],
  ['ngram', () => new NgramDrafter()],
  ['retrieval', () => new RetrievalDrafter()],
  ['early-exit', (ctx) => new EarlyExitDrafter(ctx.target)],
  // With draftWithTarget and no draft of another tokenizer, a copy of the target drafts through text all the same.
  ['cross-vocab', async (ctx) => {
    if (!ctx.crossVocabDraft) needDraft(ctx, 'cross-vocab', 'crossVocabDraft');
    const target = Tokenizer.fromFiles(ctx.files.tokenizerJson, ctx.files.tokenizerConfig, ctx.files.config);
    return new CrossVocabDrafter(ctx.crossVocabDraft ?? { model: await ctx.loadTargetCopy(), tokenizer: target }, target);
  }],
  // With draftWithTarget and no draft model the target drafts for itself (a copy with its own
  // cache): still a dynamic tree, and the upper bound of what a draft model can reach.
  ['draft', async (ctx) => {
    if (!ctx.draft) needDraft(ctx, 'draft', 'draft');
    return new ModelDrafter(ctx.draft ?? new DraftModel(await ctx.loadTargetCopy(), null, null));
  }],
  // RASD: the draft model's tree fused with the shared retrieval drafter's continuations (its documents).
  ['fusion', async (ctx) => {
    if (!ctx.draft) needDraft(ctx, 'fusion', 'draft');
    const d = ((await ctx.drafter('draft')) as ModelDrafter);
    return new FusionDrafter(d.draft, d, (await ctx.drafter('retrieval')) as RetrievalDrafter);
  }],
  // Hydra: the target's own draft heads, drafting inside each verify submit on the GPU.
  ['hydra', async (ctx) => {
    if (!ctx.heads) throw new OptionsError(`strategy "hydra" needs the target's draft heads: ${HEADS_JSON} and its weights next to the model, or the load option "heads"`);
    const t = ctx.target.headInputs();
    const embedValues = tensorF32(ctx.files.tensors.get('model.embed_tokens.weight')!);
    const d = new HydraDrafter({ device: ctx.device, ...t, embedValues, lastPassRows: () => ctx.target.lastPassRows }, ctx.heads, { maxRows: ctx.maxRows, matrixDtype: t.matrixDtype });
    await d.check();
    ctx.target.attach(d);
    return d;
  }],
  // DEER / DiffuSpec: the target's block drafter fills K positions in one pass; path search makes the tree.
  ['diffusion', async (ctx) => {
    if (!ctx.diffusion) throw new OptionsError(`strategy "diffusion" needs the target's block drafter: ${DIFFUSION_JSON} and its weights next to the model, or the load option "diffusion"`);
    const pass = new GpuBlockPass(ctx.device, ctx.diffusion);
    await pass.check();
    return new DiffusionDrafter(pass, ctx.files.config.vocabSize);
  }],
  ['auto', async (ctx) => new Controller(await Promise.all(autoMembers('auto', ctx)!.map((n) => ctx.drafter(n))), controllerOptions(ctx))],
]);

/**
 * Refuses a strategy whose draft model was not given, unless draftWithTarget lets a copy of the
 * target stand in: a silent copy would cost a second target's memory and draft no better than
 * `self`.
 */
function needDraft(ctx: DrafterFactoryContext, strategy: string, option: 'draft' | 'crossVocabDraft'): void {
  if (ctx.draftWithTarget) return;
  const what = option === 'draft' ? 'a draft model with the target\'s tokenizer (DraftModel.load)' : 'a draft model of any tokenizer';
  throw new OptionsError(`strategy "${strategy}" needs ${what}: the load option "${option}" (--draft DIR on the command line); or "draftWithTarget: true" to draft with a copy of the target; for self-drafting use the strategy "self"`);
}

/** Strategy names accepted by generate(), 'ar' (plain decoding) first. */
export function strategyNames(): string[] {
  return ['ar', ...factories.keys()];
}

/** Whether generate() accepts `name`: a registered strategy, 'ar', or `auto:a,b,...` over registered drafters. */
export function isStrategyName(name: string): boolean {
  if (name === 'ar' || factories.has(name)) return true;
  try {
    return autoMembers(name, {}) !== null;
  } catch {
    return false;
  }
}

/** Registers a drafter under a strategy name (used by drafters living in other modules). */
export function registerStrategy(name: string, factory: Factory): void {
  factories.set(name, factory);
}

export async function createDrafter(name: string, ctx: DrafterFactoryContext): Promise<Drafter> {
  const members = autoMembers(name, ctx);
  if (members && name !== 'auto') {
    const drafters: Drafter[] = [];
    for (const n of members) drafters.push(await ctx.drafter(n));
    return new Controller(drafters, controllerOptions(ctx));
  }
  const f = factories.get(name);
  if (!f) throw new OptionsError(`generate option "strategy" is "${name}"; expected one of ${strategyNames().join(', ')}`);
  return f(ctx);
}
