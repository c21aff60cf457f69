/**
 * Greedy speculative output is bit-identical to plain decoding (DESIGN section 5): a tree row's
 * logits must not depend on where the row sits in its pass. For every matmul entry and weight
 * format, seeded random trees after prefixes on both sides of attention's 64-key tile
 * boundaries: each tree row's logits equal, bit for bit, those of plain decoding of the same
 * tokens (one-row passes, as `ar` runs them), and the K/V that committing a path moves equal
 * the K/V plain decoding wrote (an f16 KV cache with every weight format but f32). A row's
 * slot in the pass (prefix + its row index) crosses a tile
 * boundary that its position (prefix + depth) does not reach in most cases here, so attention
 * tiled by slot rather than by logical key fails this test. A sliding window (Mistral's) masks
 * by the same logical positions, and skips the tiles no row of a block sees.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { makeFixture, type FixtureShape } from '../../src/model/fixture.ts';
import { GpuModel } from '../../src/model/gpu-model.ts';
import { MemorySource } from '../../src/model/source.ts';
import type { WeightDtype } from '../../src/model/upload.ts';
import type { MatmulVariant } from '../../src/ops/matmul.ts';
import type { MatmulTiling } from '../../src/ops/matmul-tuning.ts';
import { loadModelFiles, type ModelFiles } from '../../src/model/weights.ts';
import { treeFromParents, type TestTree } from './tree-util.ts';
import { randomU32, readF32, rng, testGpu } from './util.ts';
import { mine } from './runtime.ts';
import { kvSlotWords } from '../../src/kv/cache.ts';

// Head dim 16 (keys of 16 products), GQA 2/1, an intermediate width of 1.5 quant blocks.
const SHAPE: FixtureShape = { modelType: 'llama', vocabSize: 260, hiddenSize: 32, intermediateSize: 48, numLayers: 2, numHeads: 2, numKvHeads: 1, headDim: 16, dtype: 'f32' };
const ROWS = 16;
const MAX_CONTEXT = 160;
/**
 * Prefix ranges on both sides of the tile boundaries at 64 and 128 keys: before one (most tree
 * rows' slots cross it, their positions do not) and just after it.
 */
const BEFORE = [[54, 61], [118, 125]];
const AFTER = [[64, 70], [128, 134]];

/**
 * A random tree of `rows` rows, somewhat deeper than uniform parents (a long committed path):
 * a row continues the row before with probability 0.3. Most rows still sit at a slot index well
 * past their depth, which is what moves them across a tile boundary.
 */
function randomDeepTree(rows: number, seed: number): TestTree {
  const r = rng(seed);
  return treeFromParents(Int32Array.from({ length: rows }, (_, i) => (i === 0 ? -1 : r() < 0.3 ? i - 1 : Math.floor(r() * i))));
}

/** The rows from the root to `row`. */
function pathTo(tree: TestTree, row: number): number[] {
  const path: number[] = [];
  for (let a = row; a >= 0; a = tree.parents[a]) path.unshift(a);
  return path;
}

/** Per layer the K and V words of slots from..from+n-1 (f32 values or f16 pairs), concatenated. */
async function readKv(model: GpuModel, from: number, n: number): Promise<Float32Array[]> {
  const w = kvSlotWords(model.kv.shape);
  const out: Float32Array[] = [];
  for (let l = 0; l < model.kv.shape.numLayers; l++) {
    const [k, v] = [model.kv.k[l], model.kv.v[l]];
    out.push(await readF32(model.device, k.buffer, n * w, k.offset / 4 + from * w), await readF32(model.device, v.buffer, n * w, v.offset / 4 + from * w));
  }
  return out;
}

/** Indices where a and b differ in any bit (-0 and +0, and NaN payloads, count as different). */
function bitDiffs(a: Float32Array, b: Float32Array): number {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let n = x.length === y.length ? 0 : Math.max(x.length, y.length);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) n++;
  return n;
}

/**
 * Plain decoding of every tree row: a depth-first walk running one one-row pass per row after
 * its committed path (the cache truncated back on the way up). Returns each row's logits and
 * the K/V of the prefix's continuation along `keep` (a path), as plain decoding wrote them.
 */
async function plainRows(model: GpuModel, prefix: number, tree: TestTree, tokens: Int32Array, keep: number[]): Promise<{ logits: Float32Array[]; kv: Float32Array[] }> {
  const rows = tree.parents.length;
  const logits: Float32Array[] = new Array(rows);
  let kv: Float32Array[] = [];
  const stack = [0];
  while (stack.length) {
    const r = stack.pop()!;
    const pos = prefix + tree.depths[r];
    model.truncate(pos); // the cache holds the prefix and r's ancestors
    model.forward(tokens.subarray(r, r + 1), Int32Array.of(pos), Uint32Array.of(1, 0, 0, 0));
    logits[r] = await model.readLogits(1);
    model.commit([0]);
    if (r === keep[keep.length - 1]) kv = await readKv(model, prefix, keep.length);
    for (let c = rows - 1; c > r; c--) if (tree.parents[c] === r) stack.push(c);
  }
  return { logits, kv };
}

type Mismatch = string;

/** One tree pass against plain decoding; what differs, as readable lines. */
async function compareCase(model: GpuModel, files: ModelFiles, seed: number, prefix: number): Promise<Mismatch[]> {
  const vocab = files.config.vocabSize;
  const prompt = Int32Array.from(randomU32(prefix + 1, vocab, seed)); // prefix committed tokens + the root
  const tree = randomDeepTree(ROWS, seed + 1);
  const tokens = Int32Array.from(randomU32(ROWS, vocab, seed + 2));
  tokens[0] = prompt[prefix];
  let deepest = 0;
  for (let r = 0; r < ROWS; r++) if (tree.depths[r] > tree.depths[deepest]) deepest = r;
  const keep = pathTo(tree, deepest);

  model.prefill(prompt);
  const plain = await plainRows(model, prefix, tree, tokens, keep);

  model.truncate(prefix);
  model.forward(tokens, Int32Array.from(tree.depths, (d) => prefix + d), tree.mask);
  const logits = await model.readLogits(ROWS);
  model.commit(keep);
  model.kv.flush();
  const kv = await readKv(model, prefix, keep.length);

  const bad: Mismatch[] = [];
  const at = `prefix ${prefix}, seed ${seed}`;
  for (let r = 0; r < ROWS; r++) {
    const n = bitDiffs(logits.subarray(r * vocab, (r + 1) * vocab), plain.logits[r]);
    if (n) bad.push(`${at}: row ${r} (slot ${prefix + r}, depth ${tree.depths[r]}) differs in ${n} of ${vocab} logits`);
  }
  const n = kv.reduce((s, x, i) => s + bitDiffs(x, plain.kv[i]), 0);
  if (n) bad.push(`${at}: the committed path ${keep.join(',')} has ${n} K/V values unlike plain decoding's`);
  return bad;
}

/**
 * Tilings: plain passes run row tier 1, the tree pass tier 4 (rows at every offset of a tile).
 * The split entries with 16 threads (the least that tier 4 allows): on SwiftShader every
 * reduction step of theirs is a barrier, and a one-row pass of 64 threads cost about a second
 * here. Their reduction order is fixed per model like any other workgroup size's.
 */
const TILINGS: Record<MatmulVariant, MatmulTiling> = {
  dot: { variant: 'dot', workgroupSize: 64, rowTiles: [1, 4] },
  split: { variant: 'split', workgroupSize: 16, rowTiles: [1, 4] },
  'split-wide': { variant: 'split-wide', workgroupSize: 16, rowTiles: [1, 4] },
};
const DTYPES: WeightDtype[] = ['f32', 'f16', 'q8', 'q4'];

describe('tree rows are bit-identical to plain decoding', () => {
  let files: ModelFiles;
  beforeAll(async () => {
    files = await loadModelFiles(new MemorySource(makeFixture(SHAPE, 17)));
  });

  // Each variant meets every dtype across the two gpu projects (./runtime.ts), two in each.
  for (const [v, [variant, matmulTiling]] of (Object.entries(TILINGS) as [MatmulVariant, MatmulTiling][]).entries()) {
    for (const [d, weightDtype] of DTYPES.entries()) {
      it.runIf(mine(v + d))(`${variant} entry, ${weightDtype} weights, ${weightDtype === 'f32' ? 'f32' : 'f16'} KV cache`, async () => {
        const { device } = await testGpu();
        // the KV cache follows the weights: f32 with f32 weights, f16 (rounded when written) else
        const kvDtype = weightDtype === 'f32' ? 'f32' : 'f16';
        const model = await GpuModel.load(device, files, { maxContext: MAX_CONTEXT, maxTreeRows: ROWS, weightDtype, matmulTiling, kvDtype });
        try {
          const bad: Mismatch[] = [];
          // Before a boundary (alternating 64 and 128 between the models); the dot entry, whose
          // passes are cheap on SwiftShader, also just after one.
          const k = d + variant.length;
          const ranges = variant === 'dot' ? [BEFORE[k % 2], AFTER[(k + 1) % 2]] : [BEFORE[k % 2]];
          for (const [c, [lo, hi]] of ranges.entries()) {
            const seed = 1000 * d + 100 * c + variant.length;
            const prefix = lo + Math.floor(rng(seed)() * (hi - lo + 1));
            bad.push(...(await compareCase(model, files, seed, prefix)));
          }
          expect(bad).toEqual([]);
        } finally {
          model.destroy();
        }
      });
    }
  }
});

describe('tree rows are bit-identical to plain decoding under a sliding window', () => {
  // window 70 (wider than a tile: a row's keys span two) after prefixes 140 and 190: the tiles
  // outside every row's window are skipped, the next is partly masked, inside the prefix (140)
  // or across its end (190); tiles start at multiples of 64 whatever the block's first key
  it.runIf(mine(12))('Mistral fixture, window 70, dot entry, f32 weights', async () => {
    const files = await loadModelFiles(new MemorySource(makeFixture({ ...SHAPE, modelType: 'mistral', slidingWindow: 70 }, 17)));
    expect(files.config.layerWindows).toEqual([70, 70]);
    const { device } = await testGpu();
    const model = await GpuModel.load(device, files, { maxContext: 224, maxTreeRows: ROWS, weightDtype: 'f32', matmulTiling: TILINGS.dot });
    try {
      const bad = [...(await compareCase(model, files, 4001, 140)), ...(await compareCase(model, files, 4002, 190))];
      expect(bad).toEqual([]);
    } finally {
      model.destroy();
    }
  });
});
