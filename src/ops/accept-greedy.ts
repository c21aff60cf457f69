/**
 * Greedy tree acceptance on the GPU (shaders/accept_greedy_u32.wgsl): walks the draft tree
 * against each row's argmax (column 0 of the pass's top-k ids) and writes the accepted nodes,
 * the bonus token and the path rows' top-k into a small result buffer (layout in
 * shaders/common/accept_result.wgsl). One workgroup.
 */
import { OpShapeError } from '../gpu/errors.ts';
import { bindBuffers, type KernelEnv } from '../gpu/pipelines.ts';

const WG = 64;

export interface AcceptGreedyBuffers {
  /** AcceptParams uniform (48 bytes). */
  params: GPUBuffer;
  /** (maxRows, k) u32 top-k ids of the pass, best first. */
  topKIds: GPUBuffer;
  /** (4, MAX_ROWS) u32 tree sections: node tokens, parent rows, q slots, uniforms. */
  tree: GPUBuffer;
  /** (HEADER + maxDepth + rows * k) u32 result. */
  result: GPUBuffer;
}

export class AcceptGreedyOp {
  private readonly pipeline: GPUComputePipeline;
  private readonly bind: GPUBindGroup;

  constructor(env: Pick<KernelEnv, 'device' | 'pipelines'>, label: string, b: AcceptGreedyBuffers, readonly k: number) {
    if (!Number.isInteger(k) || k < 1 || b.topKIds.size < 4 * k) throw new OpShapeError(`AcceptGreedyOp "${label}": k ${k} does not fit top-k ids of ${b.topKIds.size} bytes`);
    this.pipeline = env.pipelines.get('accept_greedy_u32', { WG, K: k });
    this.bind = bindBuffers(env.device, `${label}.bind`, this.pipeline, [b.params, b.topKIds, b.tree, b.result]);
  }

  encode(pass: GPUComputePassEncoder): void {
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bind);
    pass.dispatchWorkgroups(1);
  }
}
