import { describe, expect, it } from 'vitest';
import { makeFixture, type FixtureShape } from '../../src/model/fixture.ts';
import { MemorySource } from '../../src/model/source.ts';
import { expectedTensors, loadModelFiles, tensorF32 } from '../../src/model/weights.ts';
import { parseSafetensors, serializeSafetensors, type RawTensor } from '../../src/model/safetensors.ts';
import { ConfigError, ModelSourceError, SafetensorsError, TokenizerError } from '../../src/errors.ts';

const SHAPE: FixtureShape = { vocabSize: 300, hiddenSize: 16, intermediateSize: 24, numLayers: 2, numHeads: 2, numKvHeads: 1, dtype: 'f16' };
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

function files(): Map<string, Uint8Array> {
  return makeFixture(SHAPE, 1);
}

function tensorsOf(f: Map<string, Uint8Array>): RawTensor[] {
  return [...parseSafetensors(f.get('model.safetensors')!).values()];
}

function withTensors(list: RawTensor[]): Map<string, Uint8Array> {
  const f = files();
  f.set('model.safetensors', serializeSafetensors(list));
  return f;
}

describe('loadModelFiles', () => {
  it('loads a sharded model through model.safetensors.index.json', async () => {
    const f = files();
    const list = tensorsOf(f);
    const half = Math.floor(list.length / 2);
    const shards = [list.slice(0, half), list.slice(half)];
    const weightMap: Record<string, string> = {};
    f.delete('model.safetensors');
    shards.forEach((s, i) => {
      const name = `model-0000${i + 1}-of-00002.safetensors`;
      f.set(name, serializeSafetensors(s));
      for (const t of s) weightMap[t.name] = name;
    });
    f.set('model.safetensors.index.json', enc({ metadata: { total_size: 0 }, weight_map: weightMap }));
    const loaded = await loadModelFiles(new MemorySource(f));
    expect(loaded.tensors.size).toBe(list.length);
    const single = await loadModelFiles(new MemorySource(files()));
    for (const [name, t] of single.tensors) expect(tensorF32(loaded.tensors.get(name)!)).toEqual(tensorF32(t));
  });

  it('refuses an index pointing a tensor at the wrong shard and a shard with unlisted tensors', async () => {
    const f = files();
    const list = tensorsOf(f);
    f.delete('model.safetensors');
    f.set('s1.safetensors', serializeSafetensors(list.slice(1)));
    f.set('s2.safetensors', serializeSafetensors(list.slice(0, 1)));
    const wm = Object.fromEntries(list.map((t) => [t.name, 's1.safetensors']));
    f.set('model.safetensors.index.json', enc({ weight_map: wm }));
    await expect(loadModelFiles(new MemorySource(f))).rejects.toThrow(new RegExp(`s1.safetensors: tensor "${list[0].name}" listed in`));
    f.set('model.safetensors.index.json', enc({ weight_map: { ...wm, [list[0].name]: 's2.safetensors', extra: '../x.safetensors' } }));
    await expect(loadModelFiles(new MemorySource(f))).rejects.toThrow(ModelSourceError);
    f.set('model.safetensors.index.json', enc({ weight_map: [] }));
    await expect(loadModelFiles(new MemorySource(f))).rejects.toThrow(SafetensorsError);
  });

  it('names missing, extra and misshapen tensors', async () => {
    const list = tensorsOf(files());
    const missing = withTensors(list.filter((t) => t.name !== 'model.layers.1.mlp.up_proj.weight'));
    await expect(loadModelFiles(new MemorySource(missing))).rejects.toThrow(/1 tensor\(s\) required by the config are missing: model\.layers\.1\.mlp\.up_proj\.weight/);
    const extraT: RawTensor = { name: 'model.layers.2.mlp.up_proj.weight', dtype: 'F32', shape: [1], data: new Uint8Array(4) };
    await expect(loadModelFiles(new MemorySource(withTensors([...list, extraT])))).rejects.toThrow(/not part of a llama model with this config: model\.layers\.2\.mlp\.up_proj\.weight/);
    const bad = list.map((t) => (t.name === 'model.norm.weight' ? { ...t, shape: [8, 2] } : t));
    await expect(loadModelFiles(new MemorySource(withTensors(bad)))).rejects.toThrow(/"model\.norm\.weight" has shape \[8,2\], expected \[16\]/);
  });

  it('ignores tensors transformers ignores (rotary inv_freq)', async () => {
    const inv: RawTensor = { name: 'model.layers.0.self_attn.rotary_emb.inv_freq', dtype: 'F32', shape: [4], data: new Uint8Array(16) };
    const loaded = await loadModelFiles(new MemorySource(withTensors([...tensorsOf(files()), inv])));
    expect(loaded.tensors.size).toBe(expectedTensors(loaded.config).size);
  });

  it('merges generation_config eos ids, and names bad JSON files by their error class', async () => {
    const f = files();
    f.set('generation_config.json', enc({ eos_token_id: [2, 7] }));
    expect((await loadModelFiles(new MemorySource(f))).config.eosTokenIds).toEqual([0, 2, 7]);
    f.set('generation_config.json', enc({ eos_token_id: 300 }));
    await expect(loadModelFiles(new MemorySource(f))).rejects.toThrow(ConfigError);
    const g = files();
    g.set('config.json', new TextEncoder().encode('{"model_type": '));
    await expect(loadModelFiles(new MemorySource(g))).rejects.toThrow(/config\.json: not valid UTF-8 JSON/);
    const h = files();
    h.delete('tokenizer.json');
    await expect(loadModelFiles(new MemorySource(h))).rejects.toThrow(TokenizerError);
    const k = files();
    k.delete('model.safetensors');
    await expect(loadModelFiles(new MemorySource(k))).rejects.toThrow(ModelSourceError);
  });
});
