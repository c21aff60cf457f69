import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURE_SHAPES, makeFixture, writeFixture, type FixtureShape } from '../../src/model/fixture.ts';
import { FolderSource, MemorySource } from '../../src/model/source.ts';
import { loadModelFiles, tensorF32 } from '../../src/model/weights.ts';
import { parseSafetensors } from '../../src/model/safetensors.ts';
import { OptionsError } from '../../src/errors.ts';

const SMALL: FixtureShape = { vocabSize: 400, hiddenSize: 24, intermediateSize: 40, numLayers: 2, numHeads: 3, numKvHeads: 1, dtype: 'f32' };

describe('makeFixture', () => {
  it('is deterministic in the seed', () => {
    const a = makeFixture(SMALL, 1).get('model.safetensors')!;
    const b = makeFixture(SMALL, 1).get('model.safetensors')!;
    const c = makeFixture(SMALL, 2).get('model.safetensors')!;
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('round-trips through disk, FolderSource and loadModelFiles', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'treespec-fixture-'));
    try {
      const files = makeFixture({ ...SMALL, modelType: 'qwen2', headDim: 6, tieWordEmbeddings: true }, 5);
      await writeFixture(dir, files);
      const loaded = await loadModelFiles(new FolderSource(dir));
      expect(loaded.config).toMatchObject({ modelType: 'qwen2', vocabSize: 400, headDim: 6, attentionBias: true, tieWordEmbeddings: true, eosTokenIds: [0, 2] });
      expect(loaded.tensors.get('model.layers.1.self_attn.q_proj.weight')!.shape).toEqual([18, 24]);
      expect(loaded.tensors.get('model.layers.0.self_attn.k_proj.bias')!.shape).toEqual([6]);
      expect(loaded.tensors.has('lm_head.weight')).toBe(false);
      const fromMemory = await loadModelFiles(new MemorySource(files));
      expect(tensorF32(loaded.tensors.get('model.norm.weight')!)).toEqual(tensorF32(fromMemory.tensors.get('model.norm.weight')!));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('f16 and bf16 fixtures hold the f32 fixture values rounded', () => {
    const f32 = parseSafetensors(makeFixture(SMALL, 9).get('model.safetensors')!);
    for (const [dtype, rel] of [['f16', 2 ** -11], ['bf16', 2 ** -8]] as const) {
      const t = parseSafetensors(makeFixture({ ...SMALL, dtype }, 9).get('model.safetensors')!);
      const name = 'model.layers.0.mlp.up_proj.weight';
      expect(t.get(name)!.dtype).toBe(dtype.toUpperCase());
      const a = tensorF32(f32.get(name)!);
      const b = tensorF32(t.get(name)!);
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(Math.abs(a[i]) * rel + 1e-7);
    }
  });

  it('weights have the documented scales (embeddings std 1, linear std 1/sqrt(fan_in))', () => {
    const t = parseSafetensors(makeFixture({ ...SMALL, hiddenSize: 96, numHeads: 4 }, 4).get('model.safetensors')!);
    const std = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
    expect(std(tensorF32(t.get('model.embed_tokens.weight')!))).toBeCloseTo(1, 1);
    expect(std(tensorF32(t.get('model.layers.0.self_attn.q_proj.weight')!)) * Math.sqrt(96)).toBeCloseTo(1, 1);
  });

  it('uses the Llama-2 tokenizer for vocabulary 32000 and refuses too-small vocabularies', async () => {
    const files = makeFixture({ ...SMALL, vocabSize: 32000 }, 1);
    const loaded = await loadModelFiles(new MemorySource(files));
    expect(loaded.config.bosTokenId).toBe(1);
    expect(loaded.config.eosTokenIds).toEqual([2]);
    expect(Object.keys((loaded.tokenizerJson as { model: { vocab: object } }).model.vocab).length).toBe(32000);
    expect(() => makeFixture({ ...SMALL, vocabSize: 100 }, 1)).toThrow(OptionsError);
  });

  it('named shapes are valid models', () => {
    for (const name of ['tiny', 'awkward'] as const) {
      expect(makeFixture(FIXTURE_SHAPES[name], 1).size).toBe(4);
    }
  });
});
