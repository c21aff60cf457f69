/**
 * The GPU forward against Hugging Face transformers (test/fixtures/hf, made by
 * tools/hf-oracle/make_goldens.py), in Node's WebGPU and in Chromium's: for every family, f32
 * weights (the file's bf16 values, exact), the first prompt's last-position logits within
 * F32_ATOL of transformers' float32 run and its greedy continuation token for token (the CPU
 * reference checks every prompt). (Both
 * config layouts parse to the same config: test/unit/hf-goldens.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuModel } from '../../src/model/gpu-model.ts';
import { F32_ATOL, HF_FAMILIES, hfGolden, maxAbsDiff, type HfGolden } from '../hf-goldens.ts';
import { isSoftwareAdapter } from '../../src/gpu/adapter.ts';
import { preferredTopKSlice, topKSlices } from '../../src/ops/topk.ts';
import { testGpu } from './util.ts';

const MAX_CONTEXT = 32;

/** (rows, 4) u32 causal chain mask: row r sees rows 0..r. */
function chain(rows: number): Uint32Array {
  const mask = new Uint32Array(rows * 4);
  for (let r = 0; r < rows; r++) for (let j = 0; j <= r; j++) mask[r * 4 + (j >> 5)] |= 1 << (j & 31);
  return mask;
}

/**
 * A pass's dispatches in the adapter's default plan: the embedding; per layer the input norm
 * (fused into q/k/v on GPU adapters), q/k/v as one matmul, RoPE + K/V write (Qwen3's and
 * Gemma 3's per-head q/k norms inside it), attention, o, the MLP's input norm (likewise),
 * gate/up, act * up (GeGLU only: SwiGLU's is fused into down), down, and Gemma's two branch
 * norms with their adds; the LM head (final norm fused in), Gemma 2's logit soft-capping,
 * top-k in one or two stages.
 */
function passDispatches(g: HfGolden, model: GpuModel): number {
  const c = g.files.config;
  const perLayer = (isSoftwareAdapter(model.device) ? 8 : 6) + (c.hiddenAct === 'silu' ? 0 : 1) + (c.sandwichNorms ? 4 : 0);
  const topK = topKSlices(c.vocabSize, preferredTopKSlice(model.device)) > 1 ? 2 : 1;
  return 1 + c.numLayers * perLayer + 1 + (c.finalSoftcap === null ? 0 : 1) + topK;
}

// Suite time: of the sliding-window families the GPU runs Mistral's (every layer slides) and
// Gemma 2's (alternating sliding and global layers, soft-capped scores); Gemma 3's and Qwen2's
// windows run the same kernel, and their config reading is checked on the CPU reference
// (test/unit/hf-goldens.test.ts).
const GPU_FAMILIES = HF_FAMILIES.filter((f) => f !== 'gemma3-window' && f !== 'qwen2-window');

for (const family of GPU_FAMILIES) {
  describe(`${family} on the GPU against transformers`, () => {
    let g: HfGolden;
    let model: GpuModel;
    beforeAll(async () => {
      g = await hfGolden(family);
      const { device } = await testGpu();
      // one pass holds the first prompt (phi3-long's is longer than 16 tokens); a context of 32 is
      // within phi3's original length (short factors) and beyond phi3-long's (long factors)
      const maxTreeRows = Math.max(16, g.goldens.prompts[0].ids.length);
      model = await GpuModel.load(device, g.files, { maxContext: MAX_CONTEXT, maxTreeRows, weightDtype: 'f32', topK: 1 });
    });
    afterAll(() => model?.destroy());

    it('last-position logits and greedy tokens', async () => {
      const vocab = g.files.config.vocabSize;
      let worst = 0;
      // the first prompt (suite time: every pass runs a full-vocabulary LM head; the CPU
      // reference checks every prompt)
      for (const [i, p] of g.goldens.prompts.slice(0, 1).entries()) {
        const ids = Int32Array.from(p.ids);
        model.truncate(0);
        const before = model.counter.snapshot().dispatches;
        model.forward(ids, Int32Array.from(ids, (_, r) => r), chain(ids.length));
        expect(model.counter.snapshot().dispatches - before, 'dispatches of a pass').toBe(passDispatches(g, model));
        const all = await model.readLogits(ids.length);
        worst = Math.max(worst, maxAbsDiff(all.subarray((ids.length - 1) * vocab), g.logitsF32.subarray(i * vocab, (i + 1) * vocab)));
        // greedy decoding: prefill all but the last prompt token, then one row per step
        model.prefill(ids);
        const out: number[] = [];
        let last = ids[ids.length - 1];
        while (out.length < g.goldens.newTokens) {
          model.forward(Int32Array.of(last), Int32Array.of(model.kv.length), Uint32Array.of(1, 0, 0, 0));
          last = (await model.readArgmaxTopK(1)).argmax[0];
          model.commit([0]);
          out.push(last);
        }
        expect(out, `prompt ${i}: greedy tokens`).toEqual(p.greedy);
      }
      expect(worst).toBeLessThan(F32_ATOL);
      console.log(`${family} GPU (${typeof window === 'undefined' ? 'node' : 'chromium'}): max |logit - transformers f32| = ${worst.toExponential(2)}`);
    });
  });
}
