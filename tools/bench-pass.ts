/**
 * Cost of one target verification pass by tree size (issue 3; DESIGN section 7): the wall time
 * of GpuModel.forward over 1 + m rows (a random tree of m nodes below the root) followed by the
 * per-step readback (argmax and top-k), median over repeats, relative to a 1-row pass. This is
 * the cost curve the `auto` controller learns online.
 *
 * Run (the `?raw` shader glob needs Vite's module runner):
 *   node --input-type=module -e "await (await import('vite')).runnerImport('./tools/bench-pass.ts')" -- \
 *     --model public/models/tinystories-target [--sizes 1,8,16,32,64,128] [--repeats 5] [--context 256] [--weights f16|f32|q8|q4]
 *     [--fuse-norm auto|on|off] (RMSNorm fused into the projections; auto = the engine's default, unfused)
 */
import { parseArgs } from 'node:util';
import { acquireDevice } from '../src/gpu/device.ts';
import { GpuModel } from '../src/model/gpu-model.ts';
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
  },
});
const sizes = f.sizes!.split(',').map(Number);
const repeats = Number(f.repeats);
const context = Number(f.context);

const { device, adapterInfo } = await acquireDevice();
const files = await loadModelFiles(new FolderSource(f.model!));
const fuse = f['fuse-norm'];
if (fuse !== 'auto' && fuse !== 'on' && fuse !== 'off') throw new Error(`--fuse-norm is "${fuse}"; expected auto, on or off`);
const fuseNorm = fuse === 'auto' ? undefined : fuse === 'on';
const model = await GpuModel.load(device, files, { maxContext: context, maxTreeRows: 128, weightDtype: f.weights as WeightDtype, fuseNorm });
const vocab = files.config.vocabSize;
// A committed prefix of 64 tokens, so attention reads a realistic cache.
const prefix = Int32Array.from({ length: 64 }, (_, i) => (i * 7919) % vocab);
model.prefill(prefix);
const drafter = new RandomDrafter({ vocabSize: vocab, seed: 5 });
const rng = new Rng(1);

async function pass(rows: number): Promise<number> {
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
await pass(1);
await pass(Math.max(...sizes)); // warm-up: pipelines, first-touch of buffers
const results: { rows: number; ms: number }[] = [];
for (const rows of sizes) {
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) times.push(await pass(rows));
  results.push({ rows, ms: median(times) });
}
const base = results.find((r) => r.rows === 1)?.ms ?? results[0].ms;
console.log(`adapter: ${adapterInfo}; model: ${f.model} (${f.weights}, fuse-norm ${fuse}); prefix 64; median of ${repeats}`);
console.log('rows  ms/pass  relative to 1 row');
for (const r of results) console.log(`${String(r.rows).padStart(4)}  ${r.ms.toFixed(1).padStart(7)}  ${(r.ms / base).toFixed(2)}`);
process.exit(0);
