/** Fixture models with unusable values, for the numerical-fault tests (unit and GPU). */
import { FIXTURE_SHAPES, makeFixture } from '../../src/model/fixture';
import { parseSafetensors } from '../../src/model/safetensors';

/** A tiny fixture with element `at` of `tensor` set to the bits of `bits` (little-endian, the dtype's width). */
export function damaged(dtype: 'f32' | 'f16' | 'bf16', tensor: string, at: number, bits: number): Map<string, Uint8Array> {
  const files = makeFixture({ ...FIXTURE_SHAPES.tiny, dtype }, 7);
  const t = parseSafetensors(files.get('model.safetensors')!, 'model.safetensors').get(tensor)!;
  const size = dtype === 'f32' ? 4 : 2;
  for (let b = 0; b < size; b++) t.data[at * size + b] = (bits >>> (8 * b)) & 0xff;
  return files;
}

/**
 * Layer 0's input norm weights at 3e38 (finite): the normed activations overflow to infinities
 * of both signs, so q, k and v are NaN (inf - inf) in any summation order, and so is every logit.
 */
export function overflowing(): Map<string, Uint8Array> {
  const files = makeFixture({ ...FIXTURE_SHAPES.tiny, dtype: 'f32' }, 7);
  const t = parseSafetensors(files.get('model.safetensors')!, 'model.safetensors').get('model.layers.0.input_layernorm.weight')!;
  const v = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  for (let i = 0; i < t.data.byteLength / 4; i++) v.setFloat32(4 * i, 3e38, true);
  return files;
}

/** Tokens whose LM-head rows partlyOverflowing() sets to 3e38. */
export const OVERFLOWING_TOKENS = [100, 101, 102, 103];

/**
 * Rows OVERFLOWING_TOKENS of the (untied) LM head at 3e38 (finite, so the load-time scan passes
 * them): those few logits overflow to infinity or NaN, every other logit stays finite. An argmax
 * over the finite rest would be a wrong token; the generation must end with ModelError.
 */
export function partlyOverflowing(): Map<string, Uint8Array> {
  const files = makeFixture({ ...FIXTURE_SHAPES.tiny, dtype: 'f32' }, 7);
  const t = parseSafetensors(files.get('model.safetensors')!, 'model.safetensors').get('lm_head.weight')!;
  const v = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const hidden = FIXTURE_SHAPES.tiny.hiddenSize;
  for (const tok of OVERFLOWING_TOKENS) for (let j = 0; j < hidden; j++) v.setFloat32(4 * (tok * hidden + j), 3e38, true);
  return files;
}
