/**
 * The kernels of a Hydra step encoded ahead (src/draft/hydra-ahead.ts): before the verify pass,
 * the tree the last step's heads drafted written into the target's inputs and the walk's tree
 * (shaders/hydra_tree_u32.wgsl); after the walk, the target's commit path and the next step's
 * prefix and root (shaders/hydra_commit_u32.wgsl). Each is one workgroup.
 */
import { OpShapeError } from '../gpu/errors.ts';
import { bindBuffers, type PipelineCache } from '../gpu/pipelines.ts';
import { MAX_ROWS } from '../gpu/step.ts';

/** Bytes of the plan: rows, 0, 0, 0, then (word, depth) per node. */
export const PLAN_BYTES = (4 + 2 * MAX_ROWS) * 4;
/** Bytes of the commit path: Compact { prefix, count, 0, 0 }, then MAX_ROWS path words (src/kv/cache.ts encodeCompaction). */
export const HYDRA_COMMIT_BYTES = (4 + MAX_ROWS) * 4;

export interface HydraAheadBuffers {
  /** (4 + 2 * MAX_ROWS) u32 written by the CPU per step: rows, then each node's word in `drafted` and depth. */
  plan: GPUBuffer;
  /** (4) u32 the next step's prefix and root. */
  next: GPUBuffer;
  /** (levels, frontier, k) u32 trimmed ids of the last drafting. */
  drafted: GPUBuffer;
  /** (trim) u32 token id of each trimmed index. */
  vocabIds: GPUBuffer;
  /** The target's pass inputs: tokens (maxRows) u32, positions (maxRows) u32. */
  tokens: GPUBuffer;
  positions: GPUBuffer;
  /** The acceptance walk's tree (4, MAX_ROWS) u32 and result u32. */
  walkTree: GPUBuffer;
  walkResult: GPUBuffer;
  /** (4) u32 the verify pass's Step words. */
  step: GPUBuffer;
  /** (4 + MAX_ROWS) u32 the target's commit path. */
  commit: GPUBuffer;
}

export class HydraAheadOps {
  private readonly tree: GPUComputePipeline;
  private readonly commit: GPUComputePipeline;
  private readonly treeBind: GPUBindGroup;
  private readonly commitBind: GPUBindGroup;

  constructor(pipelines: PipelineCache, label: string, b: HydraAheadBuffers) {
    if (b.plan.size < PLAN_BYTES || b.commit.size < HYDRA_COMMIT_BYTES || b.next.size < 16 || b.step.size < 16) {
      throw new OpShapeError(`${label}: plan ${b.plan.size}, commit ${b.commit.size}, next ${b.next.size} or step ${b.step.size} bytes too small`);
    }
    const device = pipelines.device;
    this.tree = pipelines.get('hydra_tree_u32');
    this.commit = pipelines.get('hydra_commit_u32');
    this.treeBind = bindBuffers(device, `${label}.treeBind`, this.tree, [b.plan, b.next, b.drafted, b.vocabIds, b.tokens, b.positions, b.walkTree, b.step]);
    this.commitBind = bindBuffers(device, `${label}.commitBind`, this.commit, [b.walkResult, b.next, b.commit]);
  }

  /** The drafted tree into the verify pass's inputs, the walk's tree and the Step words. */
  encodeTree(pass: GPUComputePassEncoder): void {
    pass.setPipeline(this.tree);
    pass.setBindGroup(0, this.treeBind);
    pass.dispatchWorkgroups(1);
  }

  /** The target's commit path and the next step's prefix and root, from the walk's result. */
  encodeCommit(pass: GPUComputePassEncoder): void {
    pass.setPipeline(this.commit);
    pass.setBindGroup(0, this.commitBind);
    pass.dispatchWorkgroups(1);
  }
}
