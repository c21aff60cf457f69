/**
 * The demo's model catalog (demo/model-catalog.ts): its config fields give each checkpoint's
 * published parameter count, and the sizes the picker shows are memory.ts's estimate, checked
 * against an adapter's buffer limits.
 */
import { describe, expect, it } from 'vitest';
import { CATALOG, catalogConfig, catalogSizing } from '../../demo/model-catalog';
import { parseConfig } from '../../src/model/config';
import { estimateMemory, parameterCount } from '../../src/model/memory';
import { ConfigError } from '../../src/errors';

/**
 * Parameters as each model card (or paper) states them. Exact: Llama-3.2-1B and Qwen3-0.6B (as in
 * memory.test.ts). Rounded as published: SmolLM2 "135M" / "360M"; Qwen2.5-0.5B "0.49B" (card);
 * Gemma 3 "1B"; Gemma 2 "2.6B" (Gemma 2 report); Phi-3.5-mini and Phi-4-mini "3.8B" (cards);
 * SmolLM3 "3.08B" and Mistral-7B-v0.3 "7.25B" (the hub's safetensors parameter count).
 */
const PUBLISHED: Record<string, number> = {
  'HuggingFaceTB/SmolLM2-135M-Instruct': 135e6,
  'HuggingFaceTB/SmolLM2-360M-Instruct': 360e6,
  'meta-llama/Llama-3.2-1B-Instruct': 1_235_814_400,
  'Qwen/Qwen2.5-0.5B-Instruct': 0.49e9,
  'Qwen/Qwen3-0.6B': 596_049_920,
  'google/gemma-3-1b-it': 1e9,
  'google/gemma-2-2b-it': 2.6e9,
  'microsoft/Phi-3.5-mini-instruct': 3.8e9,
  'microsoft/Phi-4-mini-instruct': 3.8e9,
  'HuggingFaceTB/SmolLM3-3B': 3.08e9,
  'mistralai/Mistral-7B-Instruct-v0.3': 7.25e9,
};

describe('model catalog', () => {
  it('lists every supported family, each entry with its published parameter count within 1%', () => {
    expect(CATALOG.map((e) => e.id)).toEqual(Object.keys(PUBLISHED));
    expect(new Set(CATALOG.map((e) => e.config.model_type))).toEqual(new Set(['llama', 'qwen2', 'qwen3', 'gemma3_text', 'gemma2', 'phi3', 'smollm3', 'mistral']));
    for (const e of CATALOG) {
      const n = parameterCount(parseConfig(e.config));
      expect(Math.abs(n / PUBLISHED[e.id] - 1), `${e.id}: ${n} parameters`).toBeLessThan(0.01);
    }
  });

  it('Gemma 3 1B and Gemma 2 2B: sliding local layers (512 / 4096), global layers full, the context max_position_embeddings', () => {
    const cfg = (id: string) => CATALOG.find((e) => e.id === id)!.config;
    const g3 = parseConfig(cfg('google/gemma-3-1b-it'));
    expect([g3.maxPositionEmbeddings, g3.layerWindows.slice(0, 6)]).toEqual([32768, [512, 512, 512, 512, 512, 0]]);
    expect(g3.layerWindows.map((w) => w > 0)).toEqual(g3.localLayers);
    // an explicit null: transformers' sliding layers see every key
    expect(parseConfig({ ...cfg('google/gemma-3-1b-it'), sliding_window: null }).layerWindows.every((w) => w === 0)).toBe(true);
    const g2 = parseConfig(cfg('google/gemma-2-2b-it'));
    expect([g2.maxPositionEmbeddings, g2.layerWindows.slice(0, 4)]).toEqual([8192, [4096, 0, 4096, 0]]);
  });

  it('sizes are memory.ts estimates at the engine default context (Gemma 3 1B: 2048, its sliding window no longer caps it) and 128 rows; download = bf16 parameters', () => {
    const e = CATALOG.find((x) => x.id === 'google/gemma-3-1b-it')!;
    const s = catalogSizing(e, 'q8', null);
    const c = catalogConfig(e);
    expect(s).toEqual({ family: 'gemma3_text', download: 2 * 999_885_952, maxContext: 2048, refused: null,
      memory: estimateMemory(c, { dtype: 'q8', maxContext: 2048, maxRows: 128, topKSlice: 2048 }).total });
    // a software adapter runs the top-k as one slice per row: no stage-1 scratch
    const sw = catalogSizing(e, 'q8', { limits: { maxStorageBufferBindingSize: 2 ** 31, maxBufferSize: 2 ** 31 }, software: true });
    expect(sw.unsupported === undefined && sw.memory).toBe(estimateMemory(c, { dtype: 'q8', maxContext: 2048, maxRows: 128, topKSlice: Infinity }).total);
  });

  it("an entry over the adapter's buffer limits is marked with the limit; a config the engine refuses names its ConfigError", () => {
    const defaults = { limits: { maxStorageBufferBindingSize: 128 * 2 ** 20, maxBufferSize: 256 * 2 ** 20 }, software: false };
    const mistral = CATALOG.find((x) => x.id.startsWith('mistralai/'))!;
    // f16: the (2 x 14336, 4096) gate/up matrix, 224 MiB, exceeds a 128 MiB binding
    expect(catalogSizing(mistral, 'f16', defaults)).toMatchObject({
      refused: { limit: 'maxStorageBufferBindingSize', needed: 28672 * 4096 * 2, buffer: 'weights.model.layers.0.mlp.gate_up_proj' },
    });
    expect(catalogSizing(CATALOG[2], 'q4', defaults)).toMatchObject({ refused: null });
    // Phi-4-mini: partial rotary (96 of 128 dims), so its RoPE table is 96 wide; a factor giving no even dim count is refused
    const phi4 = CATALOG.find((x) => x.id === 'microsoft/Phi-4-mini-instruct')!;
    expect(catalogConfig(phi4).rotaryDim).toBe(96);
    expect(catalogSizing(phi4, 'q4', defaults)).toEqual({ family: 'phi3', download: 2 * parameterCount(catalogConfig(phi4)), maxContext: 2048, refused: null,
      memory: estimateMemory(catalogConfig(phi4), { dtype: 'q4', maxContext: 2048, maxRows: 128, topKSlice: 2048 }).total });
    const odd = { ...phi4, config: { ...phi4.config, partial_rotary_factor: 0.3 } };
    expect(() => catalogConfig(odd)).toThrow(ConfigError);
    expect(catalogSizing(odd, 'q4', defaults)).toEqual({ family: 'phi3', unsupported: expect.stringMatching(/partial_rotary_factor" is 0.3/) });
  });
});
