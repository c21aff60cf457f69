/**
 * Numerical faults are named (issue 20): a NaN or infinity in a weight is a ModelError naming
 * the tensor when the model loads (f32, f16 and bf16 files); logits that overflow to NaN while
 * decoding end a CPU generation with ModelError instead of an empty text with exit code 0,
 * also when only a few logits of a row are not finite (never the argmax of the finite rest).
 * test/gpu/engine-faults.test.ts covers the GPU engine.
 */
import { describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelError } from '../../src/errors';
import { runCli } from './run-cli';
import { writeFixture } from '../../src/model/fixture';
import { damaged, overflowing, OVERFLOWING_TOKENS, partlyOverflowing } from '../gpu/damaged-models';
import { ReferenceModel } from '../../src/model/reference';
import { MemorySource } from '../../src/model/source';
import { loadModelFiles } from '../../src/model/weights';

async function loadError(files: Map<string, Uint8Array>): Promise<Error> {
  return loadModelFiles(new MemorySource(files)).then(
    () => {
      throw new Error('expected a ModelError');
    },
    (e: Error) => e,
  );
}

describe('non-finite weights are found at load', () => {
  const cases: [string, 'f32' | 'f16' | 'bf16', number, string][] = [
    ['f32 NaN', 'f32', 0x7fc00000, 'NaN'],
    ['f32 -infinity', 'f32', 0xff800000, 'infinity'],
    ['f16 NaN', 'f16', 0x7e00, 'NaN'],
    ['f16 infinity', 'f16', 0x7c00, 'infinity'],
    ['bf16 NaN', 'bf16', 0x7fc0, 'NaN'],
  ];
  for (const [label, dtype, bits, what] of cases) {
    it(`${label}: ModelError naming the tensor and element`, async () => {
      const e = await loadError(damaged(dtype, 'model.layers.1.mlp.up_proj.weight', 77, bits));
      expect(e).toBeInstanceOf(ModelError);
      expect(e.message).toBe(`model.safetensors: tensor "model.layers.1.mlp.up_proj.weight" holds ${what} at element 77 of ${160 * 64}; the weights are damaged (re-download or re-export the model)`);
    });
  }

  it('the largest finite values load', async () => {
    await loadModelFiles(new MemorySource(damaged('f32', 'model.norm.weight', 3, 0x7f7fffff)));
    await loadModelFiles(new MemorySource(damaged('f16', 'model.norm.weight', 3, 0x7bff)));
  });
});

const run = runCli;

describe('non-finite logits end a CPU generation with ModelError', () => {
  it('treespec generate --device cpu: NaN weights at load, overflowing logits while decoding', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'treespec-numerics-'));
    try {
      await writeFixture(join(dir, 'nan'), damaged('f32', 'model.embed_tokens.weight', 5, 0x7fc00000));
      await writeFixture(join(dir, 'overflow'), overflowing());
      await writeFixture(join(dir, 'partly'), partlyOverflowing());
      const nan = await run(['generate', '--model', join(dir, 'nan'), '--prompt', 'hi', '--device', 'cpu']);
      expect(nan.code).toBe(1);
      expect(nan.stderr).toMatch(/^ModelError: model\.safetensors: tensor "model\.embed_tokens\.weight" holds NaN/);
      for (const [model, sampling] of [['overflow', []], ['overflow', ['--temperature', '0.8']], ['partly', []], ['partly', ['--temperature', '0.8']]] as const) {
        const r = await run(['generate', '--model', join(dir, model), '--prompt', 'hi', '--device', 'cpu', '--max-tokens', '3', ...sampling]);
        expect(r.code, `${model} ${sampling.join(' ')}: ${r.stdout}`).toBe(1);
        expect(r.stderr).toMatch(/^ModelError: the model's logits at position \d+ are not finite/);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the partly overflowing fixture', () => {
  it('has non-finite logits at exactly its few tokens, finite ones elsewhere', async () => {
    const logits = ReferenceModel.fromFiles(await loadModelFiles(new MemorySource(partlyOverflowing())), 8).forward(Int32Array.of(5));
    const bad = Array.from(logits.keys()).filter((i) => !Number.isFinite(logits[i]));
    expect(bad).toEqual(OVERFLOWING_TOKENS);
  });
});
