/** The block (diffusion) drafter's files (src/model/diffusion.ts) and CPU reference (src/model/diffusion-reference.ts). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { diffusionFiles, parseDiffusion, randomDiffusion } from '../../src/model/diffusion';
import { blockLogits, inputRows, trimIndex } from '../../src/model/diffusion-reference';
import { parseConfig } from '../../src/model/config';
import { fixtureConfigJson } from '../../src/model/fixture';

const TARGET = 'public/models/tinystories-target';

describe('diffusion drafter files', () => {
  const config = parseConfig(fixtureConfigJson({ vocabSize: 300, hiddenSize: 8, intermediateSize: 16, numLayers: 1, numHeads: 2, numKvHeads: 2, dtype: 'f32' }), 'config.json');
  const m = randomDiffusion(config, { context: 5, block: 3, layers: 2, dim: 8, heads: 2, ffn: 6, trim: 20, seed: 3 });
  const { json, weights } = diffusionFiles(m);

  it('round-trips the weights and refuses bad files with the field named', () => {
    const parsed = parseDiffusion(json, weights, config);
    expect(Array.from(parsed.layers[1].down)).toEqual(Array.from(m.layers[1].down));
    expect(Array.from(parsed.emb)).toEqual(Array.from(m.emb));
    expect(() => parseDiffusion({ ...json, format: 'dllm' }, weights, config)).toThrow(/"format" is "dllm"/);
    expect(() => parseDiffusion({ ...json, heads: 3 }, weights, config)).toThrow(/"heads" is 3; expected an integer in 1..64 dividing dim 8/);
    expect(() => parseDiffusion({ ...json, vocab_ids: [...json.vocab_ids as number[]].slice(1).concat(300) }, weights, config)).toThrow(/"vocab_ids"/);
    expect(() => parseDiffusion({ ...json, layers: 3 }, weights, config)).toThrow(/"blocks.2.attn_norm" is missing/);
    expect(() => parseDiffusion({ ...json, ffn: 5 }, weights, config)).toThrow(/"blocks.0.gate" has shape \[6,8\], expected \[5,8\]/);
  });

  it('pads a short context on the left and maps tokens outside the trimmed vocabulary to UNK', () => {
    const trim = trimIndex(m);
    const outside = [...Array(300).keys()].find((t) => !trim.has(t))!;
    const rows = inputRows(m, [m.vocabIds[4], outside], trim);
    expect(Array.from(rows)).toEqual([21, 21, 21, 4, 20, 22, 22, 22]);
  });
});

describe('diffusion drafter CPU reference', () => {
  it('reproduces the training script\'s probe logits on the shipped drafter (PyTorch, f16 weights)', () => {
    const json = JSON.parse(readFileSync(`${TARGET}/diffusion-drafter.json`, 'utf8'));
    const config = parseConfig(JSON.parse(readFileSync(`${TARGET}/config.json`, 'utf8')), 'config.json');
    const m = parseDiffusion(json, new Uint8Array(readFileSync(`${TARGET}/${json.weights}`)), config);
    const { context_trimmed: ctx, top5_trimmed: ids, top5_logits: logits } = json.probe as Record<string, number[][] & number[]>;
    const rows = Int32Array.from([...ctx, ...Array(m.block).fill(m.vocabIds.length + 2)]);
    const out = blockLogits(m, rows);
    const V = m.vocabIds.length;
    for (let j = 0; j < m.block; j++) {
      const row = out.subarray(j * V, (j + 1) * V);
      ids[j].forEach((t: number, r: number) => expect(row[t]).toBeCloseTo(logits[j][r], 2));
      expect(Math.max(...row)).toBeCloseTo(logits[j][0], 2);
    }
  });
});
