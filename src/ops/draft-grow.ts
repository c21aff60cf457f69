/**
 * The kernels of a draft tree grown on the GPU (src/draft/gpu-grow.ts): per level the
 * selection (shaders/draft_level_f32.wgsl; under sampling the draws of
 * shaders/draft_sample_f32.wgsl), then the finished tree written into the target's
 * verify inputs and the walk's tree (shaders/draft_tree_u32.wgsl), then after the walk both
 * caches' commit paths (shaders/draft_commit_u32.wgsl). Each is one workgroup.
 */
import { OpShapeError } from '../gpu/errors.ts';
import { bindBuffers, type PipelineCache } from '../gpu/pipelines.ts';

const LEVEL_WG = 256;
/** Most children per node and frontier nodes per level (MAX_W in shaders/common/draft_grow.wgsl). */
export const MAX_GROW_WIDTH = 16;

export interface DraftGrowBuffers {
  /** GrowParams uniform (32 bytes). */
  params: GPUBuffer;
  /** GrowState (GROW_STATE_BYTES). */
  state: GPUBuffer;
  /** The draft pass's outputs: logits (maxRows, V) f32, top-k ids (maxRows, K) u32, values (maxRows, K) f32. */
  draftLogits: GPUBuffer;
  draftTopKIds: GPUBuffer;
  draftTopKValues: GPUBuffer;
  /** (V) u32 token of each LM-head row under VocabTrim (any 4 bytes otherwise). */
  kept: GPUBuffer;
  /** The draft's pass inputs: tokens (maxRows) u32, positions (maxRows) u32, mask (maxRows, 4) u32. */
  draftInputs: { tokens: GPUBuffer; positions: GPUBuffer; mask: GPUBuffer };
  /** The target's pass inputs, same shapes. */
  targetInputs: { tokens: GPUBuffer; positions: GPUBuffer; mask: GPUBuffer };
  /** The acceptance walk's tree (4, MAX_ROWS) u32 and result (HEADER + ...) u32. */
  walkTree: GPUBuffer;
  walkResult: GPUBuffer;
  /** (2, 4 + 128) u32 commit paths, target then draft, then the next step's (prefix, root) (COMMIT_BYTES). */
  commit: GPUBuffer;
  /** The Step words (rows, prefix, rowBase, 0) of every pass of a step: a step encoded ahead writes the next one's prefixes. */
  steps: GPUBuffer;
  /**
   * The sampled levels' buffers, all the acceptance walk's (src/verify/gpu-walk.ts), absent
   * where this draft cannot grow sampled trees: AcceptParams uniform (the request's sampling
   * options), (capacity) u32 committed tokens, (3, vocab) f32 scratch, vocab = the target's
   * (the width of q; the draft's rows are that vocabulary, or the kept ids into it). The q
   * buffer, which the walk replaces when it grows, is given per level (encodeSampleLevel).
   */
  sample?: { params: GPUBuffer; history: GPUBuffer; scratch: GPUBuffer };
  /** A ring of the request's raw draws that the CPU fills ahead, for sampled steps encoded ahead (draft_uniforms_u32.wgsl); absent without sampled levels. */
  pool?: GPUBuffer;
}

/** Byte offset of GrowState.draws (shaders/common/draft_grow.wgsl): 4 + 2 * 128 + 16 + 6 * 128 u32, then 128 vec4. */
export const GROW_DRAWS_OFFSET = (4 + 2 * 128 + 16 + 6 * 128) * 4 + 128 * 16;
/** Byte offset of GrowState.uniforms (GROW_UNIFORMS u32). */
export const GROW_UNIFORMS_OFFSET = GROW_DRAWS_OFFSET + 4;
/** Uniforms a step may take ahead: the sampled levels' (at most one per node) and the walk's (one per row). */
export const GROW_UNIFORMS = 256;
/** Bytes of GrowState, rounded up to its 16-byte alignment (the vec4 masks). */
export const GROW_STATE_BYTES = Math.ceil((GROW_UNIFORMS_OFFSET + GROW_UNIFORMS * 4) / 16) * 16;
/** Bytes of the state's head the CPU reads back: kept, count, frontierCount, level, tree tokens, tree parents. */
export const GROW_TREE_BYTES = (4 + 2 * 128) * 4;
/** Bytes of one cache's commit section: Compact { prefix, count, 0, 0 }, then 128 path words. */
export const COMMIT_SECTION_BYTES = (4 + 128) * 4;
/** Byte offset of the next step's (prefix, root) in the commit buffer, written by a step encoded ahead. */
export const COMMIT_NEXT_OFFSET = 2 * COMMIT_SECTION_BYTES;
/** Bytes of the commit buffer: both sections, then the next step's (prefix, root, stream position of its uniforms), padded to 16. */
export const COMMIT_BYTES = COMMIT_NEXT_OFFSET + 16;

export class DraftGrowOps {
  private readonly level: GPUComputePipeline;
  private readonly tree: GPUComputePipeline;
  private readonly commit: GPUComputePipeline;
  private readonly device: GPUDevice;
  private readonly sample: GPUComputePipeline | null = null;
  private sampleBind: GPUBindGroup | null = null;
  /** The q buffer sampleBind binds. */
  private sampleQ: GPUBuffer | null = null;
  private readonly levelBind: GPUBindGroup;
  private readonly treeBind: GPUBindGroup;
  private readonly commitBind: GPUBindGroup;
  private readonly uniforms: { pipeline: GPUComputePipeline; bind: GPUBindGroup } | null = null;

  /** k: the draft's top-k width; outVocab: its logits row width; vocab: the target's vocabulary, the width of a sampled level's q (default outVocab). */
  constructor(pipelines: PipelineCache, private readonly label: string, private readonly b: DraftGrowBuffers, k: number, outVocab: number, vocab = outVocab) {
    if (b.state.size < GROW_STATE_BYTES || b.commit.size < COMMIT_BYTES) throw new OpShapeError(`${label}: state ${b.state.size} or commit ${b.commit.size} bytes too small`);
    const device = pipelines.device;
    this.device = device;
    this.level = pipelines.get('draft_level_f32', { WG: LEVEL_WG, K: k, V: outVocab });
    this.tree = pipelines.get('draft_tree_u32');
    this.commit = pipelines.get('draft_commit_u32');
    const d = b.draftInputs;
    const t = b.targetInputs;
    this.levelBind = bindBuffers(device, `${label}.levelBind`, this.level, [b.params, b.draftLogits, b.draftTopKIds, b.draftTopKValues, b.kept, b.state, d.tokens, d.positions, d.mask]);
    this.treeBind = bindBuffers(device, `${label}.treeBind`, this.tree, [b.params, b.state, t.tokens, t.positions, t.mask, b.walkTree]);
    this.commitBind = bindBuffers(device, `${label}.commitBind`, this.commit, [b.params, b.state, b.walkResult, b.commit, b.steps, d.tokens, d.positions]);
    if (b.sample) {
      if (b.sample.scratch.size < 12 * vocab) throw new OpShapeError(`${label}: scratch ${b.sample.scratch.size} bytes, expected (3, ${vocab}) f32`);
      this.sample = pipelines.get('draft_sample_f32', { WG: LEVEL_WG, VOCAB: vocab, ROWS: outVocab });
    }
    if (b.pool) {
      const pipeline = pipelines.get('draft_uniforms_u32');
      this.uniforms = { pipeline, bind: bindBuffers(device, `${label}.uniformsBind`, pipeline, [b.commit, b.pool, b.state]) };
    }
  }

  /** A sampled step encoded ahead: its uniforms from the ring, at the stream position the step before left. */
  encodeUniforms(pass: GPUComputePassEncoder): void {
    if (!this.uniforms) throw new OpShapeError(`${this.label}: built without the ring of draws`);
    this.dispatch(pass, this.uniforms.pipeline, this.uniforms.bind);
  }

  /**
   * One sampled level's draws after its draft pass, its q written into `q` (the walk's q
   * buffer, which the walk replaces when it grows: bound at the first level and again when it changed).
   */
  encodeSampleLevel(pass: GPUComputePassEncoder, q: GPUBuffer): void {
    const s = this.b.sample;
    if (!this.sample || !s) throw new OpShapeError(`${this.label}: built without the sampled level's buffers`);
    if (this.sampleQ !== q) {
      const d = this.b.draftInputs;
      this.sampleBind = bindBuffers(this.device, `${this.label}.sampleBind`, this.sample, [this.b.params, s.params, this.b.draftLogits, s.history, this.b.state, d.tokens, d.positions, d.mask, q, s.scratch, this.b.kept]);
      this.sampleQ = q;
    }
    this.dispatch(pass, this.sample, this.sampleBind!);
  }

  /** One level's selection after its draft pass. */
  encodeLevel(pass: GPUComputePassEncoder): void {
    this.dispatch(pass, this.level, this.levelBind);
  }

  /** The finished tree into the target's inputs and the walk's tree. */
  encodeTree(pass: GPUComputePassEncoder): void {
    this.dispatch(pass, this.tree, this.treeBind);
  }

  /** Both caches' commit paths from the walk's result (and, for a step encoded ahead, the next step's state). */
  encodeCommit(pass: GPUComputePassEncoder): void {
    this.dispatch(pass, this.commit, this.commitBind);
  }

  private dispatch(pass: GPUComputePassEncoder, pipeline: GPUComputePipeline, bind: GPUBindGroup): void {
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(1);
  }
}
