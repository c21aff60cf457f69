/**
 * DEL early-exit self-speculation (Zarch et al. 2025; LayerSkip, Elhoushi et al. 2024): the
 * target's own first L layers, then its final norm and LM head, draft a chain; the full target
 * verifies it. No second model and no second KV cache:
 *
 *  - Shared KV cache. For committed tokens, the K/V of layers 0..L-1 that a draft pass would
 *    compute are exactly what the target's verify passes stored (same weights, same inputs), so
 *    draft passes run on the target's GpuModel itself. Draft token d is run at slot n-1+d and
 *    committed (layers >= L of those slots stay stale), the chain is then truncated away
 *    (kv.length back to n-1), and the verify pass rewrites every layer of those slots before any
 *    row reads them. Memory: no weights or cache beyond the target's; the acceptance taps take
 *    (candidates, maxRows, hidden) f32 (5 x 128 x 256 x 4 = 640 KB on the shipped target).
 *  - Acceptance per candidate layer (DEL's per-layer acceptance tracking): the drafted chain
 *    gives the chosen layer's samples for free (each accepted token agrees, the first rejected
 *    one does not); after every verify pass one other candidate layer is probed round-robin:
 *    its final norm + LM head run on the hidden states saved at that layer (GpuModel.tapHidden)
 *    at the rows of the committed path, and its argmax is compared with the target's. Probes
 *    are spaced so that they take about a tenth of the time at most (ExitPolicy.probePeriod).
 *  - Exit layer and draft length per step from ExitPolicy (expected tokens per ms).
 *
 * Lossless by verification. Under sampling, drafts are sampled from the exit layer's
 * distribution processed exactly as the target's (targetProbs: penalty, temperature, top-k,
 * top-p) and q is recorded, so rejection sampling keeps the target's law.
 */
import type { Drafter, DraftContext, VerifyObservation } from './drafter';
import type { DraftTree } from '../tree/types';
import { emptyTree } from '../tree/types';
import type { GpuModel } from '../model/gpu-model';
import { GpuCounter } from '../gpu/counter';
import { TreespecError } from '../errors';
import { draftChain } from './chain';
import { ExitPolicy, candidateLayers, headCostInLayers, type ExitPolicyOptions } from './early-exit-policy';

export interface EarlyExitOptions extends ExitPolicyOptions {
  /** Candidate exit layers (default: every layer 1..numLayers-1, at most 8 evenly spaced). */
  candidates?: number[];
  /** A fixed exit layer and chain length instead of the adaptive choice (tests, ablations). */
  fixed?: { layer: number; length: number };
}

export class EarlyExitDrafter implements Drafter {
  readonly name = 'early-exit';
  /** The last choice, e.g. "L3x4" (exit after 3 layers, 4 drafts) or "ar". */
  choice = 'ar';
  readonly policy: ExitPolicy;
  private drafted: { layer: number; length: number } = { layer: 0, length: 0 };
  private proposedAt = 0;
  private probeTurn = 0;
  /** Steps since the last probe (probes are spaced by ExitPolicy.probePeriod). */
  private sinceProbe = 0;
  /** The probe launched by the last observe (awaited by the next propose). */
  private probe: Promise<unknown> | null = null;
  /** The target's work done for drafting, diverted from the target's counter. */
  private readonly counter = new GpuCounter('early-exit');

  constructor(
    private readonly target: GpuModel,
    private readonly options: EarlyExitOptions = {},
  ) {
    const c = target.config;
    if (c.numLayers < 2) throw new TreespecError(`early-exit drafting needs a target of at least 2 layers, this one has ${c.numLayers}`);
    const candidates = options.candidates ?? candidateLayers(c.numLayers);
    this.policy = new ExitPolicy(c.numLayers, candidates, headCostInLayers(c), options);
    if (options.fixed) this.policy.acceptance(options.fixed.layer); // throws for a layer that is not a candidate
    target.tapHidden(candidates);
  }

  async propose(ctx: DraftContext, budget: number): Promise<DraftTree> {
    await this.settleProbe();
    const n = ctx.tokens.length;
    const model = this.target;
    if (model.kv.length !== n - 1) {
      throw new TreespecError(`early-exit: the target cache holds ${model.kv.length} slots, expected ${n - 1} (the committed tokens but the root)`);
    }
    const pick = this.options.fixed ?? this.policy.choose(budget);
    const length = Math.min(pick.length, budget);
    this.drafted = { layer: pick.layer, length };
    this.choice = length > 0 ? `L${pick.layer}x${length}` : 'ar';
    if (length === 0) {
      this.proposedAt = performance.now();
      return emptyTree();
    }
    const t0 = performance.now();
    // the verify pass starts from the committed tokens again: draftChain truncates the chain
    const undo = model.counter.divert(this.counter);
    let tree: DraftTree;
    try {
      tree = await draftChain(model, ctx, length, { exitLayer: pick.layer });
    } finally {
      undo();
    }
    this.proposedAt = performance.now();
    this.policy.recordDraftMs(pick.layer, (this.proposedAt - t0) / length);
    return tree;
  }

  observe(obs: VerifyObservation): void {
    // A step the loop ran without asking us (no room left to draft) says nothing about our chain.
    const ours = this.drafted.length === obs.tree.tokens.length && this.proposedAt > 0;
    if (ours) this.policy.recordVerifyMs(performance.now() - this.proposedAt, obs.tree.tokens.length + 1);
    const { layer } = this.drafted;
    const length = ours ? this.drafted.length : 0;
    this.proposedAt = 0;
    // The chain's own rows: accepted drafts agreed with the target; the first rejected did not.
    // (A chain is only scored up to its first rejection: later drafts saw a wrong context.)
    const accepted = obs.acceptedNodes.length;
    if (length > 0) {
      for (let i = 0; i < accepted; i++) this.policy.recordRow(layer, true);
      if (accepted < length) this.policy.recordRow(layer, false);
    }
    // Probe another candidate at the rows of the committed path: root, then accepted nodes.
    const others = this.policy.candidates.filter((l) => length === 0 || l !== layer);
    if (others.length === 0 || ++this.sinceProbe < this.policy.probePeriod()) return;
    this.sinceProbe = 0;
    const probed = others[this.probeTurn++ % others.length];
    const rows = [0, ...Array.from(obs.acceptedNodes, (i) => i + 1)];
    const t0 = performance.now();
    // observe() is synchronous: the probe is submitted now and read by the next propose.
    // Its submit and map are issued synchronously, inside the diversion.
    const undo = this.target.counter.divert(this.counter);
    const probe = this.target.readTapTopK(probed, rows);
    undo();
    this.probe = probe.then(
      (ids) => {
        const k = this.target.topK;
        rows.forEach((r, i) => this.policy.recordRow(probed, ids[i * k] === obs.topK[r * obs.k]));
        this.policy.recordProbeMs(performance.now() - t0);
        return null;
      },
      (e: unknown) => e, // kept, rethrown by settleProbe: never an unhandled rejection
    );
  }

  /** Waits for the last probe; its failure (a lost device) surfaces here, in the step loop. */
  private async settleProbe(): Promise<void> {
    const p = this.probe;
    this.probe = null;
    const failure = p ? await p : null;
    if (failure) throw failure;
  }

  /** The target's passes run for drafting (the exit chains and the probes), diverted here. */
  counters(): GpuCounter[] {
    return [this.counter];
  }

  reset(): void {
    this.policy.reset();
    this.probeTurn = 0;
    this.sinceProbe = 0;
  }
}
