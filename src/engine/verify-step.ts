/**
 * One target pass over a draft tree and the acceptance walk (DESIGN section 3, steps 2-4),
 * both on the GPU: the pass leaves logits and per-row top-k there, and one small kernel walks
 * the tree against them (src/verify/gpu-walk.ts). The CPU reads back only the accepted nodes,
 * the bonus token, the draws used and the top-k ids of the path rows (root + accepted rows;
 * every row for a drafter with observesAllRows) - no logits, under greedy decoding or sampling.
 * A step is one command buffer: the previous step's KV compaction (recorded lazily by the KV
 * cache), the pass, the walk and the copy of its result to a mappable buffer.
 *
 * Greedy (temperature 0, no repetition penalty) walks against each row's argmax; otherwise the
 * kernel computes each visited row's distribution by the rules of targetProbs and walks as
 * acceptStochastic does. Plain decoding is the same call with an empty tree, so plain and
 * speculative sampling draw from the same GPU distribution code. The CPU functions
 * (acceptGreedy, acceptStochastic, targetProbs) remain the oracles of test/gpu/accept.test.ts.
 */
import type { InSubmitDraft } from '../draft/drafter';
import type { GpuModel } from '../model/gpu-model';
import type { DraftTree } from '../tree/types';
import type { TreeLayout } from '../tree/layout';
import { GpuAcceptWalk } from '../verify/gpu-walk';
import type { SamplingOptions } from '../verify/sampler';
import type { Rng } from '../verify/rng';
import { checkBonus } from '../verify/accept';

export interface StepOutcome {
  /** Accepted node indices in path order. */
  nodes: Int32Array;
  /** The token drawn from the target at the last accepted row. */
  bonus: number;
  /**
   * (rows, k) target top-k ids per row, for drafters that learn from verification: the root's
   * and the accepted rows' (other rows -1), or every row when asked for all rows.
   */
  topK: Int32Array;
  k: number;
}

/** Row tokens of a verify pass: the root, then the nodes. (rows) */
export function rowTokens(root: number, tree: DraftTree): Int32Array {
  const rows = new Int32Array(tree.tokens.length + 1);
  rows[0] = root;
  rows.set(tree.tokens, 1);
  return rows;
}

/** Whether acceptance needs the target's processed distribution rather than only its argmax. */
export function needsDistribution(s: SamplingOptions): boolean {
  return s.temperature > 0 || s.repetitionPenalty !== 1;
}

/** The walk of each model, built at its first verify step (buffers and pipelines once); also the GPU-grown drafts' walk. */
const walks = new WeakMap<GpuModel, Promise<GpuAcceptWalk>>();

export function walkOf(model: GpuModel): Promise<GpuAcceptWalk> {
  let w = walks.get(model);
  if (!w) {
    const { logits, topKIds } = model.passOutputs();
    w = GpuAcceptWalk.create({
      device: model.device,
      logits,
      topKIds,
      vocab: model.outVocab,
      k: model.topK,
      maxRows: model.maxRows,
      historyCapacity: model.kv.capacity,
      counter: model.counter,
    }).then((walk) => {
      model.attach(walk);
      return walk;
    });
    walks.set(model, w);
  }
  return w;
}

/**
 * Runs the target over root + tree at cache prefix `committed.length - 1`, then walks the
 * tree on the GPU. Does not commit: the caller commits the accepted rows. `allRows`: read back
 * every row's top-k (a drafter with observesAllRows), not only the path rows'. `fullTopK` false:
 * under greedy decoding the pass computes only each row's argmax (column 0; a drafter without
 * needsTopK); sampling always computes the whole top-k.
 */
export async function verifyTree(
  model: GpuModel,
  committed: Int32Array,
  tree: DraftTree,
  layout: TreeLayout,
  sampling: SamplingOptions,
  rng: Rng,
  allRows = false,
  inSubmit?: InSubmitDraft,
  fullTopK = true,
): Promise<StepOutcome> {
  const n = committed.length;
  const root = committed[n - 1];
  const positions = new Int32Array(layout.rows);
  for (let r = 0; r < layout.rows; r++) positions[r] = n - 1 + layout.depth[r];
  const walk = await walkOf(model);
  // The walk's inputs are written first, then it is recorded in the pass's own command buffer:
  // one submit and one small readback per step. The repetition penalty's history at the root
  // is the committed text (root included); the kernel adds each row's own path.
  const greedy = !needsDistribution(sampling);
  const pending = !greedy
    ? walk.prepareSample(tree, layout, sampling, committed, rng, allRows)
    : walk.prepareGreedy(tree, layout, allRows);
  const after = inSubmit ? (encoder: GPUCommandEncoder) => inSubmit.record(encoder, walk.gpuBuffers().result) : undefined;
  model.forward(rowTokens(root, tree), positions, layout.mask, { after: (encoder) => pending.record(encoder, after), topK: fullTopK || !greedy });
  model.checkPassRows(layout.rows);
  const { nodes, bonus, topK, k, tail } = await pending.result();
  checkBonus(bonus, model.outVocab, n - 1 + nodes.length);
  inSubmit?.receive(tail, bonus);
  return { nodes, bonus, topK, k };
}
