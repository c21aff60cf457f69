/**
 * The engine worker's pre-flight limit check (src/worker/limits.ts), in Node: no browser is
 * needed to decide whether a model fits an adapter, and a real adapter that small is not at hand.
 */
import { expect, test } from 'playwright/test';
import { checkWeightsFit, gpuWeightBytes } from '../src/worker/limits';
import { GpuLimitsError } from '../src/errors';

/** The weight shapes of a small Llama (vocabulary 512, hidden 64, 2 layers); only shapes matter here. */
function tinyLlama(): Map<string, { shape: number[] }> {
  const t = new Map<string, { shape: number[] }>([['model.embed_tokens.weight', { shape: [512, 64] }], ['model.norm.weight', { shape: [64] }]]);
  for (let l = 0; l < 2; l++) {
    t.set(`model.layers.${l}.self_attn.q_proj.weight`, { shape: [64, 64] });
    t.set(`model.layers.${l}.mlp.gate_proj.weight`, { shape: [160, 64] });
    t.set(`model.layers.${l}.mlp.down_proj.weight`, { shape: [64, 160] });
  }
  return t;
}

test('f16 weights pack two per u32, an odd count padding one half', () => {
  expect(gpuWeightBytes(6, 'f16')).toBe(12);
  expect(gpuWeightBytes(7, 'f16')).toBe(16);
  expect(gpuWeightBytes(7, 'f32')).toBe(28);
});

test('a model whose largest weight exceeds the binding limit is refused with GpuLimitsError naming it', () => {
  const files = tinyLlama();
  // The embedding, vocabulary 512 x hidden 64, is the largest weight: 128 kB in f32, 64 kB in f16.
  const embed = 512 * 64;
  const at = (bytes: number) => ({ maxStorageBufferBindingSize: bytes, maxBufferSize: 1 << 30 });

  expect(() => checkWeightsFit(files, 'f32', at(embed * 4))).not.toThrow();
  expect(() => checkWeightsFit(files, 'f16', at(embed * 2))).not.toThrow();

  const refuse = () => checkWeightsFit(files, 'f32', at(embed * 4 - 4));
  expect(refuse).toThrow(GpuLimitsError);
  expect(refuse).toThrow(/model\.embed_tokens\.weight \(512 x 64, f32\).*f16 weights halves it/);
  expect(() => checkWeightsFit(files, 'f16', at(embed * 2 - 4))).toThrow(/smaller model/);
  // maxBufferSize binds too, whichever limit is lower.
  expect(() => checkWeightsFit(files, 'f16', { maxStorageBufferBindingSize: 1 << 30, maxBufferSize: 1024 })).toThrow(GpuLimitsError);
});
