/**
 * The memory estimate without a GPU (its exactness against real allocations is in
 * test/gpu/memory-estimate.test.ts): parameter counts of published models, the buffers that
 * bind real sizes, safetensors headers read without the weights, and `treespec inspect`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/model/config';
import { kvCacheBytes, kvGroupsOf, kvLayerGroups, kvLayout, kvSlotWords } from '../../src/kv/cache';
import { checkKvDtype, OptionsError, resolveKvDtype, type WeightDtype } from '../../src/engine/options';
import { estimateMemory, parameterCount, shortfall, WEIGHT_FORMATS } from '../../src/model/memory';
import { readStoredWeights } from '../../src/model/stored-weights';
import { FIXTURE_SHAPES, makeFixture, writeFixture } from '../../src/model/fixture';
import { partBytes } from '../../src/gpu/limits';
import { MemorySource, UrlSource } from '../../src/model/source';
import { runCli } from './run-cli';

/** config.json of meta-llama/Llama-3.2-1B (the fields that size it). */
const LLAMA32_1B = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 128256, hidden_size: 2048, intermediate_size: 8192,
  num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 64, max_position_embeddings: 131072,
  rms_norm_eps: 1e-5, rope_theta: 500000, tie_word_embeddings: true, bos_token_id: 128000, eos_token_id: 128001,
  rope_scaling: { factor: 32, high_freq_factor: 4, low_freq_factor: 1, original_max_position_embeddings: 8192, rope_type: 'llama3' },
};

/** config.json of Qwen/Qwen3-0.6B. */
const QWEN3_06B = {
  architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', vocab_size: 151936, hidden_size: 1024, intermediate_size: 3072,
  num_hidden_layers: 28, num_attention_heads: 16, num_key_value_heads: 8, head_dim: 128, max_position_embeddings: 40960,
  rms_norm_eps: 1e-6, rope_theta: 1000000, tie_word_embeddings: true, bos_token_id: 151643, eos_token_id: 151645,
};

/** config.json of google/gemma-3-1b-it (the fields that size it): 22 local layers of window 512, 4 global. */
const GEMMA3_1B = {
  architectures: ['Gemma3ForCausalLM'], model_type: 'gemma3_text', vocab_size: 262144, hidden_size: 1152, intermediate_size: 6912,
  num_hidden_layers: 26, num_attention_heads: 4, num_key_value_heads: 1, head_dim: 256, max_position_embeddings: 32768,
  rope_theta: 1000000, rope_local_base_freq: 10000, rms_norm_eps: 1e-6, tie_word_embeddings: true, query_pre_attn_scalar: 256,
  sliding_window: 512, sliding_window_pattern: 6, hidden_activation: 'gelu_pytorch_tanh', bos_token_id: 2, eos_token_id: [1, 106],
};

/** A MemorySource whose weights cannot be read whole: only their heads. */
class HeadOnlySource extends MemorySource {
  override async read(file: string): Promise<Uint8Array> {
    if (file.endsWith('.safetensors')) throw new Error(`${file} was read whole`);
    return super.read(file);
  }
}

describe('memory estimate', () => {
  it('parameter counts equal the published ones (Llama-3.2-1B 1,235,814,400; Qwen3-0.6B 596,049,920 of which 440,466,432 non-embedding)', () => {
    expect(parameterCount(parseConfig(LLAMA32_1B))).toBe(1_235_814_400);
    const q = parseConfig(QWEN3_06B);
    expect(parameterCount(q)).toBe(596_049_920);
    expect(parameterCount(q) - q.vocabSize * q.hiddenSize - q.hiddenSize).toBe(440_466_432);
  });

  it('Llama-3.2-1B at q4: the f16 embedding is the largest weight buffer; above a 128 MiB binding it is split by rows, every other buffer must fit', () => {
    const c = parseConfig(LLAMA32_1B);
    // (an f32 KV cache named: the layer groups below are those of 4.25 MiB layers)
    const e = estimateMemory(c, { dtype: 'q4', maxContext: 2048, kvDtype: 'f32' });
    const embed = e.largest.find((b) => b.label === 'weights.model.embed_tokens.weight')!;
    expect(embed.bytes).toBe(128256 * 2048 * 2);
    expect(embed.rowBytes).toBe(2048 * 2);
    // q4: 64 blocks of 4 words + 32 words of scales per row of 2048
    // rows x words x 4: q, k, v, o, gate/up over 2048 inputs (288 words), down over 8192 (256 blocks: 1152 words); two f32 norms
    const layer = 2048 * 288 * 4 + 2 * 512 * 288 * 4 + 2048 * 288 * 4 + 16384 * 288 * 4 + 2048 * 1152 * 4 + 2 * 2048 * 4;
    // the f16 embedding, its q4 copy as the tied head, 16 layers, the final norm
    expect(e.weights).toBe(128256 * 2048 * 2 + 128256 * 288 * 4 + 16 * layer + 2048 * 4);
    expect(e.kvCache).toBe(2 * 16 * (2048 + 128) * 8 * 64 * 4);
    // the K (and V) of all 16 layers, 4.25 MiB each, in one buffer where a binding holds them
    // all (WebGPU's default 128 MiB does); under a 32 MiB binding limit, groups of 7 (one
    // compaction dispatch each)
    const kvLayer = (2048 + 128) * 8 * 64 * 4;
    expect(kvLayerGroups(16, kvLayer, { maxStorageBufferBindingSize: 128 * 2 ** 20, maxBufferSize: 256 * 2 ** 20 })).toEqual([16]);
    expect(kvLayerGroups(16, kvLayer, { maxStorageBufferBindingSize: 32 * 2 ** 20, maxBufferSize: 2 ** 30 })).toEqual([7, 7, 2]);
    expect(kvLayerGroups(16, kvLayer, { maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 3 * kvLayer })).toEqual([3, 3, 3, 3, 3, 1]);
    expect(kvLayerGroups(2, kvLayer, { maxStorageBufferBindingSize: kvLayer - 1, maxBufferSize: 2 ** 30 })).toEqual([1, 1]);
    expect(e.largest.find((b) => b.label === 'kv.k0')!.bytes).toBe(kvLayer);
    // WebGPU's default limits (128 MiB binding, 256 MiB buffer): the 501 MiB embedding goes in parts of 32768 rows
    expect(shortfall(e, { maxStorageBufferBindingSize: 128 * 2 ** 20, maxBufferSize: 256 * 2 ** 20 })).toBeNull();
    expect(partBytes(embed, { maxStorageBufferBindingSize: 128 * 2 ** 20, maxBufferSize: 256 * 2 ** 20 })).toBe(32768 * 4096);
    // a binding below the gate/up matrix (16384 rows of 288 words) refuses it; a binding below one embedding row refuses the embedding
    expect(shortfall(e, { maxStorageBufferBindingSize: 16 * 2 ** 20, maxBufferSize: 2 ** 30 })).toEqual({
      limit: 'maxStorageBufferBindingSize', needed: 16384 * 288 * 4, available: 16 * 2 ** 20, buffer: 'weights.model.layers.0.mlp.gate_up_proj',
    });
    expect(shortfall(e, { maxStorageBufferBindingSize: 4092, maxBufferSize: 2 ** 30 })).toMatchObject({ needed: 4096, buffer: 'weights.model.embed_tokens.weight' });
    expect(shortfall(e, { maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 30 })).toBeNull();
    expect(shortfall(e, { maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 30 }, e.total - 1)).toMatchObject({ limit: 'memoryBudget', needed: e.total });
  });

  it('an untied head is a matrix of its own at every format (tiny: vocab 512, hidden 64, 2 layers, kv 2 x 16, MLP 160)', () => {
    const c = parseConfig(JSON.parse(new TextDecoder().decode(makeFixture(FIXTURE_SHAPES.tiny, 1).get('config.json')!)));
    expect(c.tieWordEmbeddings).toBe(false);
    // f16: 32 words per row of 64; down_proj rows of 160: 80 words
    const layer = 2 * 64 * 4 + (64 + 32 + 32 + 64 + 320) * 32 * 4 + 64 * 80 * 4;
    expect(estimateMemory(c, { dtype: 'f16', maxContext: 16 }).weights).toBe(2 * 512 * 32 * 4 + 2 * layer + 64 * 4);
    // q8: the embedding f16, the head 2 blocks of 8 words + 1 word of scales per row
    expect(estimateMemory(c, { dtype: 'q8', maxContext: 16 }).weights - estimateMemory(c, { dtype: 'f16', maxContext: 16 }).weights)
      .toBe(512 * (17 - 32) * 4 + 2 * ((64 + 32 + 32 + 64 + 320) * (17 - 32) * 4 + 64 * (5 * 8 + 3 - 80) * 4));
  });

  it('formats shrink in order of precision; the KV cache grows with the context', () => {
    const c = parseConfig(QWEN3_06B);
    const totals = WEIGHT_FORMATS.map((dtype) => estimateMemory(c, { dtype, maxContext: 4096 }).weights);
    expect([...totals].sort((a, b) => b - a)).toEqual(totals);
    // (q4 weights: an f16 cache by default, 2 bytes a value)
    const kv = (maxContext: number) => estimateMemory(c, { dtype: 'q4', maxContext }).kvCache;
    expect(kv(4096 * 2 - 128) - kv(4096 - 128)).toBe(2 * 28 * 4096 * 8 * 128 * 2);
  });

  it('an f16 KV cache takes half the bytes (Llama-3.2-1B, context 2048: 16 layers x 2176 slots x 8 x 64 values)', () => {
    const c = parseConfig(LLAMA32_1B);
    const e = (kvDtype: 'f32' | 'f16') => estimateMemory(c, { dtype: 'q4', maxContext: 2048, kvDtype });
    expect(e('f32').kvCache).toBe(2 * 16 * 2176 * 8 * 64 * 4);
    expect(e('f16').kvCache).toBe(2 * 16 * 2176 * 8 * 64 * 2);
    expect(e('f32').total - e('f16').total).toBe(e('f16').kvCache);
    expect(e('f16').largest.find((b) => b.label === 'kv.k0')!.bytes).toBe(2176 * 8 * 64 * 2);
    // an odd row of f16 values rounds up to whole words per slot: 1 head of 5 over 3 slots = 9 words, one layer padded to 256 bytes
    expect(kvCacheBytes({ numLayers: 1, nKvHeads: 1, headDim: 5, capacity: 3, maxRows: 1, dtype: 'f16' })).toBe(2 * 256);
    expect(kvSlotWords({ numLayers: 1, nKvHeads: 1, headDim: 5, capacity: 3, maxRows: 1, dtype: 'f16' })).toBe(3);
  });

  it('sliding-window layers count rings of window + maxRows slots where fewer than the context (Gemma 3 1B: 22 local layers, window 512)', () => {
    const c = parseConfig(GEMMA3_1B);
    const kv = (maxContext: number) => estimateMemory(c, { dtype: 'f16', maxContext }).kvCache;
    // f16, one KV head of 256: 512 bytes a slot; 4 global layers of context + 128 slots, 22 rings of 512 + 128
    expect(kv(2048)).toBe(2 * (4 * 2176 + 22 * 640) * 512);
    expect(kv(8192)).toBe(2 * (4 * 8320 + 22 * 640) * 512);
    // a context within the window: every layer full (a ring would not be smaller)
    expect(kv(256)).toBe(2 * 26 * 384 * 512);
    // the largest K range is a global layer's
    expect(estimateMemory(c, { dtype: 'f16', maxContext: 2048 }).largest.find((b) => b.label === 'kv.k0')!.bytes).toBe(2176 * 512);
    const shape = { numLayers: 3, nKvHeads: 1, headDim: 4, capacity: 300, maxRows: 20, layerWindows: [0, 10, 0] };
    // a ring of 10 + 20 slots of 16 bytes is 480 bytes, widened to its 512-byte range: 32 slots
    expect(kvLayout(shape)).toMatchObject({ ring: 32, window: 10, rings: [false, true, false], fullBytes: 4864, ringBytes: 512, order: [0, 2, 1] });
    expect(kvCacheBytes(shape)).toBe(2 * (2 * 4864 + 512));
    expect(kvGroupsOf([4864, 4864, 512], { maxStorageBufferBindingSize: 5376, maxBufferSize: 1 << 30 })).toEqual([1, 2]);
  });

  it('kvDtype unnamed follows the weights (f32 for f32, f16 for f16, q8, q4), named it wins; anything but "f32" or "f16" is a named OptionsError', () => {
    expect(WEIGHT_FORMATS.map((w) => resolveKvDtype(undefined, w))).toEqual(['f32', 'f16', 'f16', 'f16']);
    expect(WEIGHT_FORMATS.map((w) => resolveKvDtype('f32', w))).toEqual(['f32', 'f32', 'f32', 'f32']);
    expect(WEIGHT_FORMATS.map((w) => resolveKvDtype('f16', w))).toEqual(['f16', 'f16', 'f16', 'f16']);
    expect(checkKvDtype(undefined)).toBeUndefined();
    // the estimate (treespec inspect, the memory refusal) takes the same default as the load
    const c = parseConfig(LLAMA32_1B);
    const e = (dtype: WeightDtype, kvDtype?: 'f32' | 'f16') => estimateMemory(c, { dtype, maxContext: 2048, kvDtype });
    expect(WEIGHT_FORMATS.map((w) => [e(w).kvDtype, e(w).kvCache])).toEqual(WEIGHT_FORMATS.map((w) => (w === 'f32' ? ['f32', e(w, 'f32').kvCache] : ['f16', e(w, 'f16').kvCache])));
    expect(e('q4', 'f32').kvDtype).toBe('f32');
    expect(() => resolveKvDtype('bf16', 'f16')).toThrow(OptionsError);
    expect(() => checkKvDtype('bf16')).toThrow(/^engine option "kvDtype" \(--kv-dtype\) is "bf16"; expected "f32" or "f16"$/);
  });
});

describe('stored weights from safetensors headers', () => {
  it('size and dtypes of a model without reading its weights', async () => {
    const files = makeFixture(FIXTURE_SHAPES.tiny, 1);
    const s = await readStoredWeights(new HeadOnlySource(files));
    expect(s).toEqual({ files: ['model.safetensors'], tensors: expect.any(Number), bytes: files.get('model.safetensors')!.length, elements: { F32: parameterCount(parseConfig(JSON.parse(new TextDecoder().decode(files.get('config.json')!)))) } });
  });

  it('UrlSource.readHead asks for a Range, and cuts the body of a server that ignores it', async () => {
    const body = new Uint8Array(1000).map((_, i) => i & 255);
    const ranges: (string | null)[] = [];
    const serve = (honour: boolean) => async (_url: RequestInfo | URL, init?: RequestInit) => {
      const range = new Headers(init?.headers).get('Range');
      ranges.push(range);
      const m = /bytes=0-(\d+)/.exec(range ?? '');
      return honour && m ? new Response(body.slice(0, Number(m[1]) + 1), { status: 206 }) : new Response(body, { status: 200 });
    };
    for (const honour of [true, false]) {
      const src = new UrlSource('https://example.test/m/', { fetch: serve(honour), cacheStorage: null });
      expect(Array.from(await src.readHead('model.safetensors', 10))).toEqual(Array.from(body.slice(0, 10)));
    }
    expect(ranges).toEqual(['bytes=0-9', 'bytes=0-9']);
  });
});

describe('treespec inspect', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'treespec-inspect-'));
    await writeFixture(dir, makeFixture({ ...FIXTURE_SHAPES.tiny, maxPositionEmbeddings: 4096 }, 1));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('prints shape, parameters, stored weights and a row per format and context', async () => {
    const r = await runCli(['inspect', '--model', dir, '--max-context', '4096']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const c = parseConfig(JSON.parse(new TextDecoder().decode(makeFixture(FIXTURE_SHAPES.tiny, 1).get('config.json')!)));
    expect(r.stdout).toContain(`parameters: ${parameterCount(c)}`);
    expect(r.stdout).toMatch(/stored weights: 1 file\(s\), \d+ tensors, \d+ bytes/);
    for (const f of WEIGHT_FORMATS) for (const ctx of [2048, 4096]) expect(r.stdout).toMatch(new RegExp(`^ *${f} +${ctx} `, 'm'));
  });

  it('--json: the estimates in bytes, as estimateMemory computes them', async () => {
    const r = await runCli(['inspect', '--model', dir, '--json']);
    const j = JSON.parse(r.stdout) as { parameters: number; estimates: { dtype: string; total: number; maxContext: number }[]; config: unknown };
    expect(j.estimates.map((e) => e.dtype)).toEqual([...WEIGHT_FORMATS]);
    const c = parseConfig(JSON.parse(new TextDecoder().decode(makeFixture(FIXTURE_SHAPES.tiny, 1).get('config.json')!)));
    expect(j.estimates[1].total).toBe(estimateMemory(c, { dtype: 'f16', maxContext: 2048, maxRows: 128 }).total);
  });

  it('generate --memory-budget: ModelTooLargeError before the weights are read (auto included); an OptionsError on the CPU', async () => {
    const gen = (...a: string[]) => runCli(['generate', '--model', dir, '--prompt', 'hi', '--max-tokens', '1', ...a]);
    const r = await gen('--weights', 'auto', '--memory-budget', '1000');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ModelTooLargeError: the model does not fit in any weight format \(f32, f16, q8, q4\): at q4 weights .* memoryBudget is 1000 bytes/);
    const cpu = await gen('--device', 'cpu', '--memory-budget', '1000');
    expect(cpu.stderr).toMatch(/^OptionsError: --memory-budget limits GPU memory; it needs --device gpu/);
  });

  it('a bad --max-context is an OptionsError', async () => {
    const r = await runCli(['inspect', '--model', dir, '--max-context', '1.5']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^OptionsError: --max-context is "1.5"; expected an integer >= 2/);
  });
});
