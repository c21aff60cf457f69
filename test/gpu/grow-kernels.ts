/**
 * What the tests of the draft-tree kernels (draft-grow.test.ts: greedy levels, tree and commit;
 * draft-sample.test.ts: sampled levels) share: GrowState's word offsets, slot-mask rows, the
 * kernels' buffers sized for a test's shapes, and one-pass submission.
 */
import { createStorage, createUniform } from '../../src/gpu/buffers';
import { COMMIT_BYTES, GROW_DRAWS_OFFSET, GROW_STATE_BYTES } from '../../src/ops/draft-grow';

export const NONE = 0xffffffff;

/** Word offsets of GrowState's fields (shaders/common/draft_grow.wgsl). */
export const STATE_WORDS = { treeToken: 4, treeParent: 132, token: 404, parent: 532, depth: 660, logp: 788, slot: 916, draws: GROW_DRAWS_OFFSET / 4 };

/** A (4) u32 slot-mask row with bits js set. */
export function bits(...js: number[]): number[] {
  const m = [0, 0, 0, 0];
  for (const j of js) m[j >> 5] |= 1 << (j & 31);
  return m.map((x) => x >>> 0);
}

/** The buffers of the grow kernels for a draft of logits rows V wide, top-k K and width W; `keptRows`: the kept map's length (VocabTrim). */
export function growBuffers(device: GPUDevice, V: number, K: number, W: number, keptRows = 1) {
  const storage = (label: string, bytes: number) => createStorage(device, `test.${label}`, bytes);
  return {
    params: createUniform(device, 'test.params', 32), state: storage('state', GROW_STATE_BYTES),
    draftLogits: storage('logits', W * V * 4), draftTopKIds: storage('ids', W * K * 4), draftTopKValues: storage('values', W * K * 4), kept: storage('kept', keptRows * 4),
    draftInputs: { tokens: storage('dTokens', 512), positions: storage('dPositions', 512), mask: storage('dMask', 2048) },
    targetInputs: { tokens: storage('tTokens', 512), positions: storage('tPositions', 512), mask: storage('tMask', 2048) },
    walkTree: storage('walkTree', 4 * 128 * 4), walkResult: storage('walkResult', 512), commit: storage('commit', COMMIT_BYTES), steps: storage('steps', 16 * 16),
  };
}

export type GrowBuffers = ReturnType<typeof growBuffers>;

export function destroyGrowBuffers(b: GrowBuffers): void {
  for (const buf of [b.params, b.state, b.draftLogits, b.draftTopKIds, b.draftTopKValues, b.kept, b.walkTree, b.walkResult, b.commit, b.steps, ...Object.values(b.draftInputs), ...Object.values(b.targetInputs)]) buf.destroy();
}

/** One compute pass with what `encode` records, submitted. */
export function runOne(device: GPUDevice, encode: (pass: GPUComputePassEncoder) => void): void {
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  encode(pass);
  pass.end();
  device.queue.submit([enc.finish()]);
}
