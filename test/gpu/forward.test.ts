/**
 * The GPU forward pass against the CPU reference forward (src/model/reference.ts) on two
 * fixture shapes: logits of causal chunks and of a tree pass, greedy generation token for token,
 * and the speculative primitive (tree pass + commit of a path == a plain causal run).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argmax, softmax, topK } from '../../src/model/cpu-ops.ts';
import { makeFixture, type FixtureShape } from '../../src/model/fixture.ts';
import { GpuModel } from '../../src/model/gpu-model.ts';
import { ReferenceModel } from '../../src/model/reference.ts';
import { MemorySource } from '../../src/model/source.ts';
import { loadModelFiles, type ModelFiles } from '../../src/model/weights.ts';
import { randomTree, sees } from './tree-util.ts';
import { ATOL_F16_KV, expectClose, randomU32, rng, testGpu } from './util.ts';

const shapes: Record<string, FixtureShape> = {
  // Llama-3 RoPE scaling, head dim 40 (two query heads per KV head), untied, f32 weights.
  'llama-gqa-f32': {
    modelType: 'llama', vocabSize: 397, hiddenSize: 80, intermediateSize: 136, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 40,
    ropeScaling: { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 32 }, dtype: 'f32',
  },
  // Qwen2 q/k/v biases, head dim 24 (three query heads per KV head), tied, f16 weights, and an
  // f16 KV cache (the reference rounds its cache the same way).
  'qwen2-bias-f16': {
    modelType: 'qwen2', vocabSize: 333, hiddenSize: 72, intermediateSize: 100, numLayers: 3, numHeads: 3, numKvHeads: 1, headDim: 24,
    tieWordEmbeddings: true, dtype: 'f16',
  },
};

/**
 * Logits have std about 3 and reach about 11 (src/model/fixture.ts); GPU and CPU differ only in
 * f32 summation order and f32 exp/rsqrt. The largest error observed on these shapes is 6e-6
 * (both in SwiftShader); 2e-4 leaves a wide margin and stays far below argmax margins.
 */
const ATOL = 2e-4;
const RTOL = 0;

const MAX_CONTEXT = 200;

/** Top-k, argmax and probabilities read from the GPU agree with the CPU ops on the GPU's own logits. */
async function expectHeadsOf(model: GpuModel, logits: Float32Array, rows: number, vocab: number): Promise<void> {
  const { argmax: am, topK: tk, k } = await model.readArgmaxTopK(rows);
  expect(k).toBe(8);
  for (let r = 0; r < rows; r++) {
    expect(am[r], `argmax of row ${r}`).toBe(argmax(logits, r * vocab, vocab));
    expect(Array.from(tk.subarray(r * k, (r + 1) * k)), `top-k of row ${r}`).toEqual(Array.from(topK(logits, k, r * vocab, vocab)));
  }
  const picked = [rows - 1, 0, 5];
  const probs = await model.readProbs(picked, 0.7);
  picked.forEach((r, i) => expectClose(probs[i], softmax(logits, 0.7, r * vocab, vocab), 1e-6, 1e-4, `probs of row ${r}`));
}

for (const [name, shape] of Object.entries(shapes)) {
  describe(`GPU forward on ${name}`, () => {
    let files: ModelFiles;
    let model: GpuModel;
    const vocab = shape.vocabSize;
    const kvDtype = shape.dtype === 'f32' ? 'f32' : 'f16';
    const refModel = () => ReferenceModel.fromFiles(files, MAX_CONTEXT + 128, MAX_CONTEXT + 128, kvDtype);
    const atol = kvDtype === 'f16' ? ATOL_F16_KV : ATOL;
    beforeAll(async () => {
      files = await loadModelFiles(new MemorySource(makeFixture(shape, 11)));
      const { device } = await testGpu();
      // Weights stored like the file: the reference decodes the same values exactly.
      model = await GpuModel.load(device, files, { maxContext: MAX_CONTEXT, weightDtype: shape.dtype === 'f32' ? 'f32' : 'f16', kvDtype });
      expect(model.kv.dtype).toBe(kvDtype);
    });
    afterAll(() => model?.destroy());

    it('causal chunks match the reference logits (prefix 0, then after committed slots)', async () => {
      const tokens = Int32Array.from(randomU32(150, vocab, 1));
      const ref = refModel();
      model.truncate(0);
      for (const [start, end] of [[0, 128], [128, 129], [129, 150]]) {
        const chunk = tokens.subarray(start, end);
        const expected = ref.forward(chunk);
        const positions = Int32Array.from({ length: chunk.length }, (_, r) => start + r);
        const mask = new Uint32Array(chunk.length * 4);
        for (let r = 0; r < chunk.length; r++) for (let j = 0; j <= r; j++) mask[r * 4 + (j >> 5)] |= 1 << (j & 31);
        model.forward(chunk, positions, mask);
        expectClose(await model.readLogits(chunk.length), expected, atol, RTOL, `logits of rows ${start}..${end - 1}`);
        model.commit(Int32Array.from({ length: chunk.length }, (_, r) => r));
      }
      expect(model.kv.length).toBe(150);
      if (kvDtype === 'f16') {
        // the f16 cache shows in the logits: the f32 cache's reference is further away than the bound
        const f32 = ReferenceModel.fromFiles(files, MAX_CONTEXT + 128, MAX_CONTEXT + 128, 'f32').forward(tokens).subarray(129 * vocab);
        const got = await model.readLogits(150 - 129);
        expect(Math.max(...got.map((v, i) => Math.abs(v - f32[i])))).toBeGreaterThan(atol);
      }
    });

    it('greedy generation equals the reference token for token (40 tokens)', async () => {
      const prompt = Int32Array.from(randomU32(9, vocab, 2));
      const expected = refModel().generateGreedy(prompt, 40);
      model.prefill(prompt);
      expect(model.kv.length).toBe(prompt.length - 1);
      const out: number[] = [];
      let last = prompt[prompt.length - 1];
      while (out.length < 40) {
        model.forward(Int32Array.of(last), Int32Array.of(model.kv.length), Uint32Array.of(1, 0, 0, 0));
        last = (await model.readArgmaxTopK(1)).argmax[0];
        model.commit([0]);
        out.push(last);
      }
      expect(out).toEqual(Array.from(expected));
    });

    it('a tree pass matches the reference rows, and committing a path equals a plain causal run', async () => {
      const prompt = Int32Array.from(randomU32(40, vocab, 3));
      const n = prompt.length;
      const rows = 37;
      const tree = randomTree(rows, 4);
      const rowTokens = Int32Array.from(randomU32(rows, vocab, 5));
      rowTokens[0] = prompt[n - 1]; // row 0 is the root
      const positions = Int32Array.from(tree.depths, (d) => n - 1 + d);

      // Reference tree pass: same slots, same visibility.
      const ref = refModel();
      ref.forward(prompt.subarray(0, n - 1));
      const slots = Int32Array.from({ length: rows }, (_, r) => n - 1 + r);
      const expected = ref.forwardRows(rowTokens, positions, slots, (r, s) => sees(tree, n - 1, r, s));

      model.prefill(prompt);
      model.forward(rowTokens, positions, tree.mask);
      const logits = await model.readLogits(rows);
      expectClose(logits, expected, atol, RTOL, 'tree pass logits');
      await expectHeadsOf(model, logits, rows, vocab);

      // Commit the path to the deepest row, then run one more token causally.
      let deepest = 0;
      for (let r = 0; r < rows; r++) if (tree.depths[r] > tree.depths[deepest]) deepest = r;
      const path: number[] = [];
      for (let a = deepest; a >= 0; a = tree.parents[a]) path.unshift(a);
      expect(path.length).toBeGreaterThan(3);
      model.commit(path);
      expect(model.kv.length).toBe(n - 1 + path.length);
      const next = Math.floor(rng(6)() * vocab);
      model.forward(Int32Array.of(next), Int32Array.of(model.kv.length), Uint32Array.of(1, 0, 0, 0));
      const plain = refModel().forward(Int32Array.from([...prompt.subarray(0, n - 1), ...path.map((r) => rowTokens[r]), next]));
      expectClose(await model.readLogits(1), plain.subarray(plain.length - vocab), atol, RTOL, 'next-token logits after commit');
    });
  });
}
