/**
 * Runs tokens through a model causally and commits them to its KV cache, in chunks of at
 * most `maxRows` rows (a chunk is a chain tree: row r sees the committed prefix and rows 0..r).
 */
import type { GpuModel } from '../model/gpu-model';

/** (rows*4) ancestor masks of a chain: bits 0..r set for row r. */
export function chainMask(rows: number): Uint32Array {
  const mask = new Uint32Array(rows * 4);
  for (let r = 0; r < rows; r++) {
    for (let w = 0; w < 4; w++) {
      const lo = w * 32;
      const bits = Math.min(Math.max(r + 1 - lo, 0), 32);
      mask[r * 4 + w] = bits === 32 ? 0xffffffff : (1 << bits) - 1;
    }
  }
  return mask;
}

/** Appends `tokens` (positions kv.length, ...) to the model's cache. */
export async function appendTokens(model: GpuModel, tokens: Int32Array, maxRows: number): Promise<void> {
  for (let start = 0; start < tokens.length; start += maxRows) {
    const chunk = tokens.subarray(start, Math.min(tokens.length, start + maxRows));
    const base = model.kv.length;
    const positions = new Int32Array(chunk.length).map((_, i) => base + i);
    model.forward(chunk, positions, chainMask(chunk.length));
    model.commit(Int32Array.from({ length: chunk.length }, (_, i) => i));
  }
  // Surface GPU errors of the prefill here rather than in the first decode step.
  await model.device.queue.onSubmittedWorkDone();
}
