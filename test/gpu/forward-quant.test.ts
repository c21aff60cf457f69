/**
 * The GPU forward pass with q8 / q4 weights against the CPU reference forward on the weights the
 * GPU computes with (dequantizedFiles: dequantized matrices, f16 embeddings), on two fixture
 * shapes (untied with GQA, tied with q/k/v bias; hidden sizes not multiples of 32); and a
 * pre-quantized file (src/model/quantized-files.ts) giving the same logits as quantizing at load.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeFixture, type FixtureShape } from '../../src/model/fixture.ts';
import { GpuModel } from '../../src/model/gpu-model.ts';
import { serializeQuantized } from '../../src/model/quantized-files.ts';
import type { QuantDtype } from '../../src/model/quantize.ts';
import { ReferenceModel } from '../../src/model/reference.ts';
import { MemorySource } from '../../src/model/source.ts';
import { dequantizedFiles, loadModelFiles, tensorF32, type ModelFiles } from '../../src/model/weights.ts';
import { ATOL_F16_KV, expectClose, randomU32, testGpu } from './util.ts';
import { mine } from './runtime.ts';

const shapes: Record<string, FixtureShape> = {
  // GQA, untied, f32 file; hidden 88 = 2 blocks + 24 (padded), intermediate 150
  'llama-gqa-untied-f32': {
    modelType: 'llama', vocabSize: 301, hiddenSize: 88, intermediateSize: 150, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 22, dtype: 'f32',
  },
  // q/k/v biases, tied (the LM head gets its own quantized copy of the f16 embedding), f16 file
  'qwen2-bias-tied-f16': {
    modelType: 'qwen2', vocabSize: 263, hiddenSize: 72, intermediateSize: 100, numLayers: 2, numHeads: 3, numKvHeads: 1, headDim: 24,
    attentionBias: true, tieWordEmbeddings: true, dtype: 'f16',
  },
};

const MAX_CONTEXT = 160;

async function causalLogits(model: GpuModel, tokens: Int32Array): Promise<Float32Array> {
  const mask = new Uint32Array(tokens.length * 4);
  for (let r = 0; r < tokens.length; r++) for (let j = 0; j <= r; j++) mask[r * 4 + (j >> 5)] |= 1 << (j & 31);
  model.truncate(0);
  model.forward(tokens, Int32Array.from(tokens, (_, r) => r), mask);
  return model.readLogits(tokens.length);
}

// Each fixture meets both formats across the two gpu projects (./runtime.ts), one in each.
for (const [s, [name, shape]] of Object.entries(shapes).entries()) {
  for (const [q, dtype] of (['q8', 'q4'] as QuantDtype[]).entries()) {
    describe.runIf(mine(s + q))(`GPU forward with ${dtype} weights on ${name}`, () => {
      let files: ModelFiles;
      let model: GpuModel;
      const vocab = shape.vocabSize;
      // q8/q4 weights load an f16 KV cache by default: the reference rounds its cache the same way
      const refModel = () => ReferenceModel.fromFiles(dequantizedFiles(files, dtype), MAX_CONTEXT + 128, MAX_CONTEXT + 128, 'f16');
      beforeAll(async () => {
        files = await loadModelFiles(new MemorySource(makeFixture(shape, 11)));
        model = await GpuModel.load((await testGpu()).device, files, { maxContext: MAX_CONTEXT, weightDtype: dtype });
        expect(model.kv.dtype).toBe('f16');
      });
      afterAll(() => model?.destroy());

      it('a causal chunk matches the reference on the dequantized weights', async () => {
        const tokens = Int32Array.from(randomU32(70, vocab, 1));
        expectClose(await causalLogits(model, tokens), refModel().forward(tokens), ATOL_F16_KV, 0, `${dtype} logits`);
      });

      it('greedy generation equals the reference token for token (24 tokens)', async () => {
        const prompt = Int32Array.from(randomU32(9, vocab, 2));
        const expected = refModel().generateGreedy(prompt, 24);
        model.prefill(prompt);
        const out: number[] = [];
        let last = prompt[prompt.length - 1];
        while (out.length < 24) {
          model.forward(Int32Array.of(last), Int32Array.of(model.kv.length), Uint32Array.of(1, 0, 0, 0));
          last = (await model.readArgmaxTopK(1)).argmax[0];
          model.commit([0]);
          out.push(last);
        }
        expect(out).toEqual(Array.from(expected));
      });

      it('a pre-quantized file loads to the same weights and logits as quantizing at load', async () => {
        const fixture = makeFixture(shape, 11);
        fixture.set('model.safetensors', serializeQuantized(files.config, files.tensors, tensorF32, dtype));
        const pre = await loadModelFiles(new MemorySource(fixture));
        expect(pre.quantized?.dtype).toBe(dtype);
        const preModel = await GpuModel.load((await testGpu()).device, pre, { maxContext: MAX_CONTEXT, weightDtype: dtype });
        try {
          const tokens = Int32Array.from(randomU32(20, vocab, 3));
          expect(Array.from(await causalLogits(preModel, tokens))).toEqual(Array.from(await causalLogits(model, tokens)));
          // and the CPU view of the stored file is the CPU view of load-time quantization
          const a = ReferenceModel.fromFiles(dequantizedFiles(pre, dtype), 64, 64, 'f16').forward(tokens);
          expect(Array.from(a)).toEqual(Array.from(refModel().forward(tokens)));
        } finally {
          preModel.destroy();
        }
      });
    });
  }
}
