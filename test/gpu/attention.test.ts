/**
 * RoPE + KV write and tree attention against the CPU reference (src/model/cpu-ops.ts) on
 * seeded random trees, cache lengths and awkward head shapes.
 */
import { describe, expect, it } from 'vitest';
import { attention, rmsNorm, rope, ropeInvFreq, type RopeScaling } from '../../src/model/cpu-ops.ts';
import { createStorage, uploadStorage } from '../../src/gpu/buffers.ts';
import { RopeKvWrite, ropeTable } from '../../src/ops/rope.ts';
import { TreeAttention } from '../../src/ops/attention.ts';
import { chain, randomTree, sees, type TestTree } from './tree-util.ts';
import { alternating } from './runtime.ts';
import { expectClose, randomF32, readF32, readU32, roundF16, runPass, testGpu } from './util.ts';
import { packKvF16 } from './kv-f16.ts';
import { f32ToF16Bits } from '../../src/model/f16.ts';
import type { KvDtype } from '../../src/kv/cache.ts';

/** window: a sliding window (rows see keys of positions > their own - window); absent: none. */
interface Case { name: string; nHeads: number; nKv: number; hd: number; prefix: number; tree: TestTree; window?: number }

const LLAMA3: RopeScaling = { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 };

describe('rope + kv write', () => {
  // qkNorm: Qwen3's / Gemma 3's per-head RMSNorm of q and k first (the 'normed' entry, a
  // workgroup of 32 per head): a head of fewer elements than the workgroup, and one wider.
  // rotary: the rotated leading dims of a head (Phi-3's partial rotary factor), the rest pass through.
  for (const [name, hd, scaling, prefix, rows, qkNorm, rotary] of [
    ['plain theta, GQA, hd 24', 24, null, 0, 5, false, 24],
    ['llama-3 scaling, hd 40, long prefix', 40, LLAMA3, 913, 17, false, 40],
    ['per-head q/k RMSNorm first, hd 10', 10, null, 3, 4, true, 10],
    ['per-head q/k RMSNorm first, hd 128', 128, null, 0, 3, true, 128],
    ['partial rotary (Phi-4-mini\'s 0.75): 18 of hd 24', 24, null, 5, 6, false, 18],
    ['partial rotary after per-head q/k RMSNorm: 10 of hd 40', 40, null, 2, 3, true, 10],
  ] as const) {
    it(name, async () => {
      const gpu = await testGpu();
      const { device } = gpu;
      const nHeads = 6, nKv = 2, slots = prefix + rows + 3, maxPos = slots;
      const eps = 1e-6;
      const qw = randomF32(hd, 9, 0.5, 1.5), kw = randomF32(hd, 10, 0.5, 1.5);
      const theta = 10000;
      const q = randomF32(rows * nHeads * hd, 1), k = randomF32(rows * nKv * hd, 2), v = randomF32(rows * nKv * hd, 3);
      // the fused projection's rows: [q heads | k heads | v heads]
      const qkv = new Float32Array(rows * (nHeads + 2 * nKv) * hd);
      for (let r = 0; r < rows; r++) {
        const at = r * (nHeads + 2 * nKv) * hd;
        qkv.set(q.subarray(r * nHeads * hd, (r + 1) * nHeads * hd), at);
        qkv.set(k.subarray(r * nKv * hd, (r + 1) * nKv * hd), at + nHeads * hd);
        qkv.set(v.subarray(r * nKv * hd, (r + 1) * nKv * hd), at + (nHeads + nKv) * hd);
      }
      const positions = Uint32Array.from({ length: rows }, (_, r) => (prefix + r * 7) % maxPos);
      const cacheInit = randomF32(slots * nKv * hd, 4);
      const b = {
        positions: uploadStorage(device, 'test.positions', positions),
        table: uploadStorage(device, 'test.ropeTable', ropeTable(rotary, theta, scaling, maxPos)),
        qkv: uploadStorage(device, 'test.qkv', qkv), q: createStorage(device, 'test.q', q.byteLength),
        kCache: uploadStorage(device, 'test.kCache', cacheInit), vCache: uploadStorage(device, 'test.vCache', cacheInit),
        qkNorm: qkNorm ? uploadStorage(device, 'test.qkNorm', Float32Array.of(...qw, ...kw)) : null,
      };
      const env = { device, pipelines: gpu.pipelines, step: gpu.step.buffer };
      const op = new RopeKvWrite(env, 'test.rope', b, { nHeads, nKvHeads: nKv, headDim: hd, rotaryDim: rotary, maxRows: rows, eps });
      await runPass(gpu, rows, (p) => op.encode(p, rows), prefix);

      const inv = ropeInvFreq(rotary, theta, scaling); // rope() rotates the first 2 * inv.length dims
      // the CPU rmsNorm normalises rows of its weight's width: here each head
      const qRef = qkNorm ? rmsNorm(q, qw, eps) : q.slice(), kRef = qkNorm ? rmsNorm(k, kw, eps) : k.slice();
      rope(qRef, nHeads, hd, positions, inv);
      rope(kRef, nKv, hd, positions, inv);
      const kCacheRef = cacheInit.slice(), vCacheRef = cacheInit.slice();
      kCacheRef.set(kRef, prefix * nKv * hd);
      vCacheRef.set(v, prefix * nKv * hd);
      // Angles agree exactly (the table is built from the same f32 frequencies); only the f32
      // rounding of cos/sin and of the products remains.
      expectClose(await readF32(device, b.q, q.length), qRef, 2e-6, 1e-5, 'rotated q');
      expectClose(await readF32(device, b.kCache, slots * nKv * hd), kCacheRef, 2e-6, 1e-5, 'k cache');
      expectClose(await readF32(device, b.vCache, slots * nKv * hd), vCacheRef, 0, 0, 'v cache');
    });
  }
});

describe('rope + kv write, f16 cache', () => {
  // Values whose rounding to f16 is a corner: ties to even (down and up), the largest finite,
  // overflow to infinity, subnormals, underflow to zero, with both signs.
  const corners = [1 + 2 ** -11, 1 + 3 * 2 ** -11, 65504, 65519.99, 65520, 1e6, 2 ** -20, 3 * 2 ** -25, 2 ** -25, 2 ** -26, 5.960464477539063e-8 * 1.5, 0];
  // hd 6 and a rotary 6 of hd 10: half the rotated dims odd, so a thread's dims (2t, 2t + 1)
  // straddle the rotated halves; the second also has pass-through dims
  for (const [name, hd, qkNorm, rotary] of [['main entry, hd 6', 6, false, 6], ['per-head q/k RMSNorm first, partial rotary 6 of hd 10', 10, true, 6]] as const) {
    it(`${name}: every word is the f32 cache's values rounded to nearest even`, async () => {
      const gpu = await testGpu();
      const { device } = gpu;
      const nHeads = 4, nKv = 2, rows = 5, prefix = 3, slots = prefix + rows + 2;
      const width = nKv * hd;
      const qkv = randomF32(rows * (nHeads + 2 * nKv) * hd, 21, -3, 3);
      // the V heads of rows 0 and 1 hold the corners (V is copied, so they reach the cache as given)
      for (let r = 0; r < 2; r++) {
        const at = r * (nHeads + 2 * nKv) * hd + (nHeads + nKv) * hd;
        for (let j = 0; j < width; j++) qkv[at + j] = (j % 2 ? -1 : 1) * corners[(j + r * width) % corners.length];
      }
      const positions = Uint32Array.from({ length: rows }, (_, r) => prefix + r);
      const env = { device, pipelines: gpu.pipelines, step: gpu.step.buffer };
      const inputs = {
        positions: uploadStorage(device, 'test.positions', positions),
        table: uploadStorage(device, 'test.ropeTable', ropeTable(rotary, 10000, null, slots)),
        qkv: uploadStorage(device, 'test.qkv', qkv),
        qkNorm: qkNorm ? uploadStorage(device, 'test.qkNorm', randomF32(2 * hd, 22, 0.5, 1.5)) : null,
      };
      const init32 = randomF32(slots * width, 23);
      const init16 = packKvF16(roundF16(init32), width);
      const run = async (kvDtype: 'f32' | 'f16', init: Float32Array | Uint32Array) => {
        const b = { ...inputs, q: createStorage(device, 'test.q', rows * nHeads * hd * 4), kCache: uploadStorage(device, 'test.kCache', init), vCache: uploadStorage(device, 'test.vCache', init) };
        const op = new RopeKvWrite(env, 'test.rope', b, { nHeads, nKvHeads: nKv, headDim: hd, rotaryDim: rotary, maxRows: rows, eps: 1e-6, kvDtype });
        await runPass(gpu, rows, (p) => op.encode(p, rows), prefix);
        return b;
      };
      const f32 = await run('f32', init32);
      const f16 = await run('f16', init16);
      const words = (slots * width) / 2;
      const expected = (cache: Float32Array) => {
        const w = packKvF16(cache, width);
        w.set(init16.subarray(0, (prefix * width) / 2)); // slots before the pass untouched
        w.set(init16.subarray(((prefix + rows) * width) / 2), ((prefix + rows) * width) / 2);
        return w;
      };
      const k32 = await readF32(device, f32.kCache, slots * width), v32 = await readF32(device, f32.vCache, slots * width);
      expect(Array.from(await readU32(device, f16.kCache, words))).toEqual(Array.from(expected(k32)));
      expect(Array.from(await readU32(device, f16.vCache, words))).toEqual(Array.from(expected(v32)));
      // the corners did reach the cache: infinity, a subnormal and a tie among the V words
      expect(f32ToF16Bits(65520)).toBe(0x7c00);
      expect(Array.from(expected(v32)).some((w) => (w & 0xffff) === 0x7c00 || w >>> 16 === 0xfc00)).toBe(true);
      // queries are not stored in the cache: the same in both runs
      expect(Array.from(await readF32(device, f16.q, rows * nHeads * hd))).toEqual(Array.from(await readF32(device, f32.q, rows * nHeads * hd)));
    });
  }
});

const cases: Case[] = [
  { name: 'prefix 0, single row (first decode step)', nHeads: 4, nKv: 2, hd: 24, prefix: 0, tree: chain(1) },
  { name: 'single row over a long cache (several tiles), MHA hd 64', nHeads: 3, nKv: 3, hd: 64, prefix: 700, tree: chain(1) },
  { name: 'chain of 10 after 37 slots, GQA 6/2, hd 40', nHeads: 6, nKv: 2, hd: 40, prefix: 37, tree: chain(10) },
  { name: 'random 23-row tree at prefix 0, odd hd 17', nHeads: 2, nKv: 1, hd: 17, prefix: 0, tree: randomTree(23, 5) },
  { name: 'full 128-row random tree after 150 slots, GQA 4/1, odd hd 17', nHeads: 4, nKv: 1, hd: 17, prefix: 150, tree: randomTree(128, 6) },
  { name: 'causal prefill chunk of 128 rows at prefix 0, hd 96 (> one tile of dims)', nHeads: 2, nKv: 2, hd: 96, prefix: 0, tree: chain(128) },
  { name: 'random 64-row tree after 65 slots, GQA 8/2, hd 12', nHeads: 8, nKv: 2, hd: 12, prefix: 65, tree: randomTree(64, 7) },
  // sliding windows: leading tiles skipped, a partly masked tile inside the prefix and past it
  { name: 'window 70, random 40-row tree after 200 slots, GQA 4/1, hd 17', nHeads: 4, nKv: 1, hd: 17, prefix: 200, tree: randomTree(40, 8), window: 70 },
  { name: 'window 3, causal chunk of 20 after 10 slots (masks among the pass rows)', nHeads: 2, nKv: 1, hd: 8, prefix: 10, tree: chain(20), window: 3 },
];

/** Position of slot s of a pass at `prefix`: the slot in the prefix, else the prefix plus the pass row's depth. */
const positionOf = (tree: TestTree, prefix: number, s: number): number => (s < prefix ? s : prefix + tree.depths[s - prefix]);

/** The oracle's visibility: the tree mask, and within the window of the row's position when there is one. */
function visible(c: Case, r: number, s: number): boolean {
  if (!sees(c.tree, c.prefix, r, s)) return false;
  return c.window === undefined || positionOf(c.tree, c.prefix, s) > c.prefix + c.tree.depths[r] - c.window;
}

/**
 * Output of the kernel (rows, nHeads, hd) for a case with random q, K, V over `slots` slots; an
 * f16 cache holds K and V packed (inputs already rounded to f16, see inputsOf).
 */
async function runAttention(c: Case, b: { hpw: number; rb: number } | undefined, inputs: { q: Float32Array; kCache: Float32Array; vCache: Float32Array }, window = c.window, kvDtype: KvDtype = 'f32'): Promise<{ out: Float32Array; op: TreeAttention }> {
  const gpu = await testGpu();
  const { device } = gpu;
  const rows = c.tree.parents.length;
  const maxRows = 128;
  const mask = new Uint32Array(maxRows * 4);
  mask.set(c.tree.mask);
  const out = createStorage(device, 'test.attnOut', maxRows * c.nHeads * c.hd * 4);
  const env = { device, pipelines: gpu.pipelines, step: gpu.step.buffer };
  const op = new TreeAttention(env, 'test.attention', {
    mask: uploadStorage(device, 'test.mask', mask),
    q: uploadStorage(device, 'test.q', inputs.q),
    kCache: uploadStorage(device, 'test.kCache', kvDtype === 'f16' ? packKvF16(inputs.kCache, c.nKv * c.hd) : inputs.kCache),
    vCache: uploadStorage(device, 'test.vCache', kvDtype === 'f16' ? packKvF16(inputs.vCache, c.nKv * c.hd) : inputs.vCache),
    out,
  }, { nHeads: c.nHeads, nKvHeads: c.nKv, headDim: c.hd, maxRows, headsPerWorkgroup: b?.hpw, rowsPerWorkgroup: b?.rb, window, kvDtype });
  await runPass(gpu, rows, (p) => op.encode(p, rows), c.prefix);
  return { out: await readF32(device, out, rows * c.nHeads * c.hd), op };
}

/**
 * Seeded inputs of a case; spare slots past the pass hold garbage that must stay invisible. For
 * an f16 cache K and V are rounded to f16: the values the cache holds, which the reference reads.
 */
function inputsOf(c: Case, kvDtype: KvDtype = 'f32'): { q: Float32Array; kCache: Float32Array; vCache: Float32Array; slots: number } {
  const slots = c.prefix + c.tree.parents.length + 5;
  const held = (a: Float32Array) => (kvDtype === 'f16' ? roundF16(a) : a);
  return { q: randomF32(128 * c.nHeads * c.hd, 11, -2, 2), kCache: held(randomF32(slots * c.nKv * c.hd, 12, -2, 2)), vCache: held(randomF32(slots * c.nKv * c.hd, 13)), slots };
}

describe('tree attention', () => {
  // Every case with the default blocking (the whole head group and as many rows as fit), and
  // with one head and one row per workgroup; grouped cases also with a proper divisor of the
  // group, and tree cases with a row block that does not divide the row count.
  const runs = cases.flatMap((c) => {
    const group = c.nHeads / c.nKv;
    const rows = c.tree.parents.length;
    // (window cases, suite time: the default and blocks of 5 rows, whose rows' windows start apart)
    const blockings: ({ hpw: number; rb: number } | undefined)[] = c.window === undefined ? [undefined, { hpw: 1, rb: 1 }] : [undefined];
    if (group % 2 === 0 && group > 2 && c.window === undefined) blockings.push({ hpw: 2, rb: 3 });
    if (rows > 5) blockings.push({ hpw: 1, rb: 5 });
    return blockings.map((b) => ({ ...c, b, kv: 'f32' as KvDtype }));
  });
  // an f16 cache (two values per word; an odd row of 17 leaves half a word per slot unused),
  // past the prefix (a tree at prefix 0) and in a tile inside it (prefix 65)
  for (const i of [3, 6]) runs.push({ ...cases[i], b: undefined, kv: 'f16' });
  // window runs alternate between the two gpu projects (suite time; the same WGSL runs in both)
  const windowIt = alternating();
  for (const c of runs) {
    (c.window === undefined ? it : windowIt)(`${c.name}${c.b ? `, ${c.b.hpw} head(s) x ${c.b.rb} row(s) per workgroup` : ''}${c.kv === 'f16' ? ', f16 cache' : ''}`, async () => {
      const rows = c.tree.parents.length;
      const inputs = inputsOf(c, c.kv);
      const { out, op } = await runAttention(c, c.b, inputs, c.window, c.kv);
      if (!c.b) expect(op.hpw * op.rb).toBe(c.nHeads / c.nKv === 3 ? 15 : 16);
      const ref = attention(inputs.q.subarray(0, rows * c.nHeads * c.hd), inputs.kCache, inputs.vCache, rows, c.nHeads, c.nKv, c.hd, inputs.slots, (r, s) => visible(c, r, s));
      expectClose(out, ref, 1e-5, 1e-4, 'attention output');
    });
  }

  windowIt('a window that covers every key changes no bit of the output (window 0 and a window reaching key 0 from every row)', async () => {
    const c = cases.find((x) => x.window === 70)!;
    const inputs = inputsOf(c);
    const full = (await runAttention(c, undefined, inputs, 0)).out;
    // the deepest row's position is at most prefix + 39
    expect((await runAttention(c, undefined, inputs, c.prefix + 40)).out).toEqual(full);
  });
});
