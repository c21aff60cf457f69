import { describe, expect, it } from 'vitest';
import { makeFixture, type FixtureShape } from '../../src/model/fixture.ts';
import { MemorySource } from '../../src/model/source.ts';
import { loadModelFiles, type ModelFiles } from '../../src/model/weights.ts';
import { ReferenceModel } from '../../src/model/reference.ts';
import { argmax } from '../../src/model/cpu-ops.ts';
import { ContextLengthError, TreespecError } from '../../src/errors.ts';

// GQA (4 query heads on 2 KV heads), q/k/v biases, odd head dim 10, vocab not a multiple of 64.
const SHAPE: FixtureShape = {
  modelType: 'qwen2', vocabSize: 300, hiddenSize: 40, intermediateSize: 56, numLayers: 2,
  numHeads: 4, numKvHeads: 2, dtype: 'f32', maxPositionEmbeddings: 64,
};

async function files(shape = SHAPE, seed = 3): Promise<ModelFiles> {
  return loadModelFiles(new MemorySource(makeFixture(shape, seed)));
}

function row(logits: Float32Array, r: number, vocab: number): Float32Array {
  return logits.subarray(r * vocab, (r + 1) * vocab);
}

/** The bit patterns of a's elements (bit-identity: -0 and +0 differ). */
function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.slice().buffer);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('ReferenceModel', () => {
  it('causal forward in chunks equals forwardRows with an explicit causal chain, bit for bit', async () => {
    const f = await files();
    const seq = Int32Array.of(5, 17, 299, 0, 42, 42, 7);
    const a = ReferenceModel.fromFiles(f, 16);
    const first = a.forward(seq.subarray(0, 3));
    const second = a.forward(seq.subarray(3));
    expect(a.length).toBe(7);
    const b = ReferenceModel.fromFiles(f, 16);
    const idx = Int32Array.from({ length: 7 }, (_, i) => i);
    const all = b.forwardRows(seq, idx, idx, (r, s) => s <= r);
    expect(all).toEqual(Float32Array.from([...first, ...second]));
  });

  it('incremental greedy decoding equals recomputing the whole sequence at every step', async () => {
    const f = await files();
    const prompt = Int32Array.of(1, 2, 3);
    const gen = ReferenceModel.fromFiles(f, 32).generateGreedy(prompt, 12);
    expect(gen.length).toBe(12);
    const seq = [...prompt];
    for (let i = 0; i < 12; i++) {
      const fresh = ReferenceModel.fromFiles(f, 32);
      const logits = fresh.forward(Int32Array.from(seq));
      const tok = argmax(logits, (seq.length - 1) * f.config.vocabSize, f.config.vocabSize);
      expect(tok).toBe(gen[i]);
      seq.push(tok);
    }
  });

  // Bit for bit (DESIGN section 5): attention sums a row's visible slots in ascending slot order,
  // which for a tree in BFS order (a parent before its children) is the order of a causal run.
  it('tree attention: every tree row gets the logits of a causal run over its root path, bit for bit', async () => {
    const f = await files();
    const V = f.config.vocabSize;
    const prompt = Int32Array.of(11, 22, 33, 44); // committed; the last one is the root
    // Tree below the root, BFS order: node i has parents[i] (-1 = root).
    const tokens = Int32Array.of(5, 6, 7, 8, 9, 10, 12);
    const parents = Int32Array.of(-1, -1, 0, 0, 1, 2, 5);
    const n = prompt.length;
    const m = ReferenceModel.fromFiles(f, 32);
    m.forward(prompt.subarray(0, n - 1)); // cache holds positions 0..n-2
    const rows = tokens.length + 1;
    const depth = new Int32Array(rows); // (rows) row 0 = root
    const anc: Set<number>[] = [new Set([0])]; // ancestor-or-self rows
    for (let i = 0; i < tokens.length; i++) {
      const p = parents[i] + 1;
      depth[i + 1] = depth[p] + 1;
      anc.push(new Set([...anc[p], i + 1]));
    }
    const rowTokens = Int32Array.of(prompt[n - 1], ...tokens);
    const positions = depth.map((d) => n - 1 + d);
    const slots = Int32Array.from({ length: rows }, (_, i) => n - 1 + i);
    const logits = m.forwardRows(rowTokens, positions, slots, (r, s) => s < n - 1 || anc[r].has(s - (n - 1)));
    for (let r = 0; r < rows; r++) {
      const path = [...anc[r]].sort((a, b) => a - b).map((x) => rowTokens[x]);
      const causal = ReferenceModel.fromFiles(f, 32).forward(Int32Array.from([...prompt.subarray(0, n - 1), ...path]));
      const want = row(causal, n - 1 + path.length - 1, V);
      expect(bits(row(logits, r, V))).toEqual(bits(want));
    }
    // The check can fail: letting every row see every tree row changes some row's logits.
    const wrong = ReferenceModel.fromFiles(f, 32);
    wrong.forward(prompt.subarray(0, n - 1));
    const leaky = wrong.forwardRows(rowTokens, positions, slots, () => true);
    expect(maxAbsDiff(leaky, logits)).toBeGreaterThan(1e-2);
  });

  it('moveSlot compaction then truncate continues exactly like a causal run over the accepted path, bit for bit', async () => {
    const f = await files();
    const V = f.config.vocabSize;
    const m = ReferenceModel.fromFiles(f, 32);
    m.forward(Int32Array.of(3, 4)); // slots 0,1; root token 5 goes to slot 2
    // rows: root(5) slot 2 pos 2; a(6) child of root slot 3 pos 3; b(7) child of root slot 4 pos 3; c(8) child of b slot 5 pos 4
    const parentRow = [-1, 0, 0, 2];
    const visible = (r: number, s: number) => {
      if (s < 2) return true;
      for (let x = r; x >= 0; x = parentRow[x]) if (s === 2 + x) return true;
      return false;
    };
    m.forwardRows(Int32Array.of(5, 6, 7, 8), Int32Array.of(2, 3, 3, 4), Int32Array.of(2, 3, 4, 5), visible);
    // accept root -> b -> c: move slot 4 -> 3 and slot 5 -> 4, keep 5 slots
    m.moveSlot(4, 3);
    m.moveSlot(5, 4);
    m.truncate(5);
    const next = m.forward(Int32Array.of(9));
    const causal = ReferenceModel.fromFiles(f, 32).forward(Int32Array.of(3, 4, 5, 7, 8, 9));
    expect(bits(next)).toEqual(bits(row(causal, 5, V)));
  });

  it('refuses positions beyond the context, slots beyond the cache, and reading empty slots', async () => {
    const f = await files();
    const m = ReferenceModel.fromFiles(f, 8);
    expect(() => m.forwardRows(Int32Array.of(1), Int32Array.of(64), Int32Array.of(0), () => true)).toThrow(ContextLengthError);
    expect(() => m.forwardRows(Int32Array.of(1), Int32Array.of(0), Int32Array.of(8), () => true)).toThrow(ContextLengthError);
    expect(() => m.forwardRows(Int32Array.of(1), Int32Array.of(3), Int32Array.of(3), (_r, s) => s <= 3)).toThrow(/holds no K\/V/);
    expect(() => m.generateGreedy(Int32Array.of(1, 2, 3), 7)).toThrow(ContextLengthError);
    expect(() => m.moveSlot(6, 0)).toThrow(TreespecError);
  });

  it('stops at a stop id and includes it', async () => {
    const f = await files();
    const m = ReferenceModel.fromFiles(f, 32);
    const free = m.generateGreedy(Int32Array.of(1, 2), 10);
    const stop = free[4];
    const first = free.indexOf(stop);
    const stopped = m.generateGreedy(Int32Array.of(1, 2), 10, [stop]);
    expect([...stopped]).toEqual([...free.subarray(0, first + 1)]);
  });
});
