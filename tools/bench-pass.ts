/**
 * Cost of one target verification pass by tree size (issue 3; DESIGN section 7): the wall time
 * of GpuModel.forward over 1 + m rows (a random tree of m nodes below the root) followed by the
 * per-step readback (argmax and top-k), median over repeats, relative to a 1-row pass. This is
 * the cost curve the `auto` controller learns online.
 *
 * Fusion and tiling settings given as lists (`--fuse-silu off,on`, `--tiling split:64,split-wide:64`)
 * load one model per combination and interleave their passes, repeat by repeat, so that the
 * comparison shares the machine's state (SwiftShader here shares two cores with whatever else
 * runs). Each model's matmul tiling is printed, with the load-time measurement where 'auto' made one.
 *
 * Run (the `?raw` shader glob needs Vite's module runner):
 *   node --input-type=module -e "await (await import('vite')).runnerImport('./tools/bench-pass.ts')" -- \
 *     --model public/models/tinystories-target [--sizes 1,8,16,32,64,128] [--repeats 5] [--context 256] [--weights f16|f32|q8|q4]
 *     [--fuse-norm auto|on|off[,...]] (RMSNorm fused into the projections; auto = the engine's default)
 *     [--fuse-silu auto|on|off[,...]] (SwiGLU fused into the down projection; auto = the engine's default)
 *     [--tiling engine|auto|default|VARIANT:WG[,...]] (GpuModelOptions.matmulTiling: engine = the option
 *       left out; VARIANT:WG = the split candidate of that entry and workgroup size, e.g. split-wide:128)
 */
import { parseArgs } from 'node:util';
import { acquireDevice } from '../src/gpu/device.ts';
import { GpuModel } from '../src/model/gpu-model.ts';
import type { GpuModelOptions } from '../src/model/gpu-model-setup.ts';
import { splitTilings, type MatmulTiling } from '../src/ops/matmul-tuning.ts';
import type { WeightDtype } from '../src/model/upload.ts';
import { FolderSource } from '../src/model/source.ts';
import { loadModelFiles } from '../src/model/weights.ts';
import { layoutTree } from '../src/tree/layout.ts';
import { RandomDrafter } from '../src/draft/random.ts';
import { Rng } from '../src/verify/rng.ts';
import { defaultSampling } from '../src/verify/sampler.ts';

const { values: f } = parseArgs({
  // Under `node -e` (Vite's module runner) argv has no script path: the flags start at argv[1].
  args: process.argv.slice(1).filter((a) => a !== '--' && !a.endsWith('bench-pass.js')),
  options: {
    model: { type: 'string', default: 'public/models/tinystories-target' },
    sizes: { type: 'string', default: '1,8,16,32,64,128' },
    repeats: { type: 'string', default: '5' },
    context: { type: 'string', default: '256' },
    weights: { type: 'string', default: 'f16' },
    'fuse-norm': { type: 'string', default: 'auto' },
    'fuse-silu': { type: 'string', default: 'auto' },
    tiling: { type: 'string', default: 'engine' },
  },
});
const sizes = f.sizes!.split(',').map(Number);
const repeats = Number(f.repeats);
const context = Number(f.context);

/** A fusion flag's settings: undefined = the engine's default. */
function fusionSettings(flag: string): (boolean | undefined)[] {
  return f[flag as 'fuse-norm']!.split(',').map((v) => {
    if (v !== 'auto' && v !== 'on' && v !== 'off') throw new Error(`--${flag} has "${v}"; expected auto, on or off`);
    return v === 'auto' ? undefined : v === 'on';
  });
}
const show = (v: boolean | undefined) => (v === undefined ? 'auto' : v ? 'on' : 'off');

const { device, adapterInfo } = await acquireDevice();

/** The --tiling settings: undefined = the option left out. */
function tilingSettings(): { name: string; tiling: GpuModelOptions['matmulTiling'] }[] {
  return f.tiling!.split(',').map((v) => {
    if (v === 'engine') return { name: v, tiling: undefined };
    if (v === 'auto' || v === 'default') return { name: v, tiling: v };
    const [variant, wg] = v.split(':');
    const tiling = splitTilings(device.limits).find((t) => t.variant === variant && t.workgroupSize === Number(wg));
    if (!tiling) throw new Error(`--tiling has "${v}"; expected engine, auto, default or one of ${splitTilings(device.limits).map((t) => `${t.variant}:${t.workgroupSize}`).join(', ')}`);
    return { name: v, tiling };
  });
}
const showTiling = (t: MatmulTiling | null) => (t ? `${t.variant} wg ${t.workgroupSize} tiles [${t.rowTiles}]` : "the adapter's default");
const files = await loadModelFiles(new FolderSource(f.model!));
const vocab = files.config.vocabSize;
// A committed prefix of 64 tokens, so attention reads a realistic cache.
const prefix = Int32Array.from({ length: 64 }, (_, i) => (i * 7919) % vocab);
const configs: { name: string; model: GpuModel }[] = [];
for (const fuseNorm of fusionSettings('fuse-norm')) {
  for (const fuseSilu of fusionSettings('fuse-silu')) {
    for (const { name: tilingName, tiling } of tilingSettings()) {
      const model = await GpuModel.load(device, files, { maxContext: context, maxTreeRows: 128, weightDtype: f.weights as WeightDtype, fuseNorm, fuseSilu, matmulTiling: tiling });
      model.prefill(prefix);
      const name = `norm ${show(fuseNorm)}, silu ${show(fuseSilu)}, tiling ${tilingName}`;
      configs.push({ name, model });
      console.log(`${name}: matmuls tiled ${showTiling(model.matmul.tiling)}`);
      const tuning = model.matmul.tuning;
      if (tuning) for (const t of tuning.timings) console.log(`  measured at load: ${showTiling(t.tiling)}: ${t.ms.map((ms, i) => `${ms.toFixed(3)} ms at ${tuning.rows[i]} rows`).join(', ')}`);
    }
  }
}
const drafter = new RandomDrafter({ vocabSize: vocab, seed: 5 });
const rng = new Rng(1);

async function pass(model: GpuModel, rows: number): Promise<number> {
  // A random tree of exactly rows - 1 nodes (the drafter draws sizes up to the budget).
  let tree = drafter.propose({ tokens: prefix, sampling: false, options: defaultSampling, rng }, rows - 1);
  while (tree.tokens.length !== rows - 1) tree = drafter.propose({ tokens: prefix, sampling: false, options: defaultSampling, rng }, rows - 1);
  const layout = layoutTree(tree, vocab);
  const tokens = Int32Array.from([prefix[prefix.length - 1], ...tree.tokens]);
  const positions = Int32Array.from(layout.depth, (d) => prefix.length - 1 + d);
  const t0 = performance.now();
  model.forward(tokens, positions, layout.mask);
  await model.readArgmaxTopK(rows);
  return performance.now() - t0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const { model } of configs) {
  await pass(model, 1);
  await pass(model, Math.max(...sizes)); // warm-up: pipelines, first-touch of buffers
}
// ms[config][size index]
const ms = configs.map(() => sizes.map(() => [] as number[]));
for (const [s, rows] of sizes.entries()) {
  for (let i = 0; i < repeats; i++) for (const [c, { model }] of configs.entries()) ms[c][s].push(await pass(model, rows));
}
console.log(`adapter: ${adapterInfo}; model: ${f.model} (${f.weights}); prefix 64; median of ${repeats}, configurations interleaved`);
for (const [c, { name }] of configs.entries()) {
  const med = ms[c].map(median);
  const base = med[sizes.indexOf(1)] ?? med[0];
  console.log(`\n${name}\nrows  ms/pass  relative to 1 row${c > 0 ? `  ms vs ${configs[0].name}` : ''}`);
  for (const [s, rows] of sizes.entries()) {
    const vsFirst = c > 0 ? `  ${(med[s] / median(ms[0][s])).toFixed(2)}` : '';
    console.log(`${String(rows).padStart(4)}  ${med[s].toFixed(1).padStart(7)}  ${(med[s] / base).toFixed(2).padStart(17)}${vsFirst}`);
  }
}
process.exit(0);
