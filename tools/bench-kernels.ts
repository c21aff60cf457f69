/**
 * Kernel micro-benchmark (issue 10): effective GB/s of each mat-vec variant and weight dtype
 * (f32, f16, q8, q4: bytes of the stored weights, packed quants and scales included, over the
 * time) next to a plain copy kernel's GB/s on the same device in the same run (the practical
 * bandwidth limit), the cost of one tree-verification matmul for 1..128 rows relative to 1 row,
 * and the time of the per-row top-k over the vocabulary (the largest non-matmul kernel of a
 * decode step on a GPU).
 *
 * The weights of `layers` distinct matrices are swept per pass, like a model's layers, so that
 * on a real GPU they do not fit in L2 and every pass streams them from memory. Times come from
 * timestamp queries when the adapter has them, else from the CPU (submit to idle, over `iters`
 * passes in one submit). Each timed pass repeats its work `batch` times, so that a pass lasts
 * well above the timestamps' granularity (Dawn rounds them to about 65 us on NVIDIA).
 * Before any timing, and again before each dtype, the device runs copies for `warmMs` of GPU
 * time: a one-row time measured right after a 1 GB upload once came out 3x slower than the
 * same kernel measured first, while multi-row times were stable (clocks or lazy state, not
 * established); each dtype's weights are freed before the next is uploaded. Every figure
 * carries the spread (min and max pass) next to the median.
 *
 * Run (the `?raw` shader glob needs Vite's module runner):
 *   node --input-type=module -e "await (await import('vite')).runnerImport('./tools/bench-kernels.ts')" -- [options]
 * On a machine without the repository's node_modules (a rented GPU), bundle it first, shaders
 * inlined, and carry the bundle with the `webgpu` package (index.js, package.json and
 * dist/<platform>/dawn.node) in a node_modules/ beside it:
 *   node --input-type=module -e "await (await import('vite')).build({ configFile: false, publicDir: false,
 *     build: { outDir: 'out', lib: { entry: { 'bench-kernels': 'tools/bench-kernels.ts' }, formats: ['es'] },
 *     rolldownOptions: { external: [/^node:/, 'webgpu'] } } })"
 *   node out/bench-kernels.js [options]
 * With NVIDIA's Vulkan driver and no desktop libraries, Dawn also needs libvulkan.so.1 and the
 * glvnd libraries (libGLdispatch, libGLX, libEGL, libGL) on LD_LIBRARY_PATH, and
 * VK_DRIVER_FILES pointing at nvidia_icd.json.
 * Options: --preset gpu|small (default: small on SwiftShader, else gpu), --in N --out N,
 *   --layers N, --iters N, --batch N, --warm-ms N, --copy-mb N, --rows 1,4,16 (tree sizes),
 *   --variants split,split-wide,dot, --dtypes f32,f16,q8,q4 (none: skip), --wg 64,128 (workgroup sizes to compare, split
 *   entries with the tuning's row tiles for each; default the op's), --topk-vocab 32000,49152 (none: skip), --topk-rows 1,16,64, --json FILE.
 */
import { createStorage, unpackF16Rows, uploadStorage } from '../src/gpu/buffers.ts';
import { CopyOp } from '../src/gpu/copy.ts';
import { acquireDevice } from '../src/gpu/device.ts';
import { PipelineCache, type KernelEnv } from '../src/gpu/pipelines.ts';
import { GpuTimer, timePasses } from '../src/gpu/profiler.ts';
import { StepUniform } from '../src/gpu/step.ts';
import { TopKOp } from '../src/ops/topk.ts';
import { matmul } from '../src/model/cpu-ops.ts';
import { dequantizeRows, isQuantDtype } from '../src/model/quantize.ts';
import { packMatrix } from '../src/model/upload.ts';
import { isSplitVariant, MatmulOp, preferredMatmulVariant, type MatmulVariant, type MatrixDtype } from '../src/ops/matmul.ts';
import { splitTilings } from '../src/ops/matmul-tuning.ts';

interface Options {
  inDim: number;
  outDim: number;
  layers: number;
  iters: number;
  /** Repeats of the measured work inside one timed pass. */
  batch: number;
  /** Milliseconds of copies run before timing and before each dtype. */
  warmMs: number;
  copyMb: number;
  rows: number[];
  /** Matmul entries to measure; default: the adapter's preferred one. */
  variants: MatmulVariant[];
  dtypes: MatrixDtype[];
  /** Workgroup sizes to compare (MatmulOptions.workgroupSize); [0] = the op's default. */
  wgs: number[];
  topkVocabs: number[];
  topkRows: number[];
  json: string | null;
}

type Preset = Omit<Options, 'json' | 'variants' | 'dtypes' | 'wgs'>;
const PRESETS: Record<string, Preset> = {
  // 4096 x 4096 (a 7B model's attention projection); 16 f32 / 32 f16 matrices = 1 GB per pass, far beyond L2.
  gpu: { inDim: 4096, outDim: 4096, layers: 16, iters: 10, batch: 4, warmMs: 300, copyMb: 1024, rows: [1, 2, 4, 8, 16, 32, 64, 128], topkVocabs: [32000, 49152, 128256], topkRows: [1, 16, 64] },
  // SmolLM2-135M's MLP shape; SwiftShader runs on the CPU, so keep a pass well under a second.
  small: { inDim: 576, outDim: 1536, layers: 4, iters: 3, batch: 1, warmMs: 0, copyMb: 32, rows: [1, 4, 16, 64, 128], topkVocabs: [32000, 49152], topkRows: [1, 16] },
};

function parseArgs(argv: string[], swiftshader: boolean, preferred: MatmulVariant): Options {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) if (argv[i].startsWith('--') && i + 1 < argv.length) flags.set(argv[i].slice(2), argv[++i]);
  const base = PRESETS[flags.get('preset') ?? (swiftshader ? 'small' : 'gpu')];
  if (!base) throw new Error(`--preset must be one of ${Object.keys(PRESETS).join(', ')}`);
  const num = (k: string, d: number) => (flags.has(k) ? Number(flags.get(k)) : d);
  const list = (k: string, d: number[]) => (flags.get(k) === 'none' ? [] : flags.has(k) ? flags.get(k)!.split(',').map(Number) : d);
  return {
    inDim: num('in', base.inDim),
    outDim: num('out', base.outDim),
    layers: num('layers', base.layers),
    iters: num('iters', base.iters),
    batch: num('batch', base.batch),
    warmMs: num('warm-ms', base.warmMs),
    copyMb: num('copy-mb', base.copyMb),
    rows: list('rows', base.rows),
    variants: flags.has('variants') ? (flags.get('variants')!.split(',') as MatmulVariant[]) : [preferred],
    dtypes: flags.get('dtypes') === 'none' ? [] : ((flags.get('dtypes') ?? 'f32,f16,q8,q4').split(',') as MatrixDtype[]),
    wgs: list('wg', [0]),
    topkVocabs: list('topk-vocab', base.topkVocabs),
    topkRows: list('topk-rows', base.topkRows),
    json: flags.get('json') ?? null,
  };
}

/** Progress lines go to stderr; stdout carries the JSON report. */
const log = (line: string) => process.stderr.write(`${line}\n`);

/** Milliseconds of one run of the measured work: the median, fastest and slowest timed pass. */
interface Timing {
  ms: number;
  min: number;
  max: number;
}

const spread = (t: Timing) => `${t.ms.toFixed(3)} ms [${t.min.toFixed(3)}..${t.max.toFixed(3)}]`;

/**
 * Time of one `encode`, over `iters` passes in one submit (after one warm-up submit), each pass
 * encoding it `batch` times. Without timestamps the CPU times whole submits (min = max = mean).
 */
async function timePerPass(device: GPUDevice, timer: GpuTimer | null, o: Options, encode: (pass: GPUComputePassEncoder) => void): Promise<Timing> {
  await timePasses(device, null, o.iters, o.batch, encode, 'bench'); // warm-up
  // the median pass: robust to one pass delayed by clock ramp-up or a preempting context
  const ms = (await timePasses(device, timer, o.iters, o.batch, encode, 'bench')).sort((a, b) => a - b);
  return { ms: ms[Math.floor(ms.length / 2)], min: ms[0], max: ms[ms.length - 1] };
}

/** Runs `copy` until `ms` of wall time have passed (clocks up, caches and lazy state settled). */
async function warmUp(device: GPUDevice, copy: CopyOp, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end) await timePasses(device, null, 1, 1, (pass) => copy.encode(pass), 'bench.warm');
}

/**
 * Workgroup size and row tiles for --wg: on the split entries, the load-time tuning's candidate
 * of that size (a wider workgroup holds fewer rows per tile in 16 KiB of workgroup memory); on
 * 'dot', columns per workgroup with the default tiles; 0 = the op's defaults.
 */
function tilingOf(device: GPUDevice, variant: MatmulVariant, wg: number): { workgroupSize?: number; rowTiles?: number[] } {
  if (!wg) return {};
  if (!isSplitVariant(variant)) return { workgroupSize: wg };
  const t = splitTilings(device.limits).find((c) => c.variant === variant && c.workgroupSize === wg);
  if (!t) throw new Error(`--wg ${wg}: the ${variant} entry's candidates on this device have ${splitTilings(device.limits).filter((c) => c.variant === variant).map((c) => c.workgroupSize).join(', ')} threads`);
  return { workgroupSize: t.workgroupSize, rowTiles: t.rowTiles };
}

function makeLayers(env: KernelEnv, o: Options, variant: MatmulVariant, dtype: MatrixDtype, wg: number, x: GPUBuffer, y: GPUBuffer): { ops: MatmulOp[]; buffers: GPUBuffer[]; weightBytes: number } {
  // One random matrix, uploaded into every layer's own buffer: values do not change the timing.
  const w = new Float32Array(o.inDim * o.outDim);
  for (let i = 0; i < w.length; i++) w[i] = Math.sin(i * 12.9898) * 0.05;
  const data = packMatrix(w, o.outDim, o.inDim, dtype);
  // about the bytes per pass of `layers` f32 matrices for every dtype
  const layers = Math.max(1, Math.round((o.layers * w.byteLength) / data.byteLength));
  const buffers = Array.from({ length: layers }, (_, l) => uploadStorage(env.device, `bench.w${dtype}.${l}`, data));
  const ops = buffers.map((w, l) => new MatmulOp(env, `bench.matmul${dtype}.${l}`, { x, w, y }, { inDim: o.inDim, outDim: o.outDim, dtype, variant, ...tilingOf(env.device, variant, wg) }));
  return { ops, buffers, weightBytes: layers * data.byteLength };
}

/**
 * Largest |GPU - CPU reference| of one small awkward matmul (odd widths, 5 rows), so that a
 * benchmark on an untested adapter also says whether the kernel it timed is correct there.
 */
async function checkMatmul(env: KernelEnv, step: StepUniform, variant: MatmulVariant, dtype: MatrixDtype): Promise<number> {
  const { device } = env;
  const [rows, inDim, outDim] = [5, 101, 37];
  const x = Float32Array.from({ length: rows * inDim }, (_, i) => Math.sin(i * 1.7));
  let w: Float32Array = Float32Array.from({ length: outDim * inDim }, (_, i) => Math.cos(i * 0.37));
  const packed = packMatrix(w, outDim, inDim, dtype);
  // the reference multiplies the values the kernel sees
  if (dtype === 'f16') w = unpackF16Rows(packed as Uint32Array, outDim, inDim);
  if (isQuantDtype(dtype)) w = dequantizeRows(packed as Uint32Array, outDim, inDim, dtype);
  const y = createStorage(device, 'bench.check.y', rows * outDim * 4);
  const op = new MatmulOp(env, 'bench.check', { x: uploadStorage(device, 'bench.check.x', x), w: uploadStorage(device, 'bench.check.w', packed), y }, { inDim, outDim, dtype, variant });
  step.write(rows);
  const staging = device.createBuffer({ label: 'bench.check.read', size: y.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  op.encode(pass, rows);
  pass.end();
  enc.copyBufferToBuffer(y, 0, staging, 0, y.size);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const got = new Float32Array(staging.getMappedRange().slice(0));
  const ref = matmul(x, w, inDim, outDim);
  return ref.reduce((m, v, i) => Math.max(m, Math.abs(v - got[i])), 0);
}

/** Matmul timings of one (variant, dtype, workgroup size): mat-vec GB/s and the cost by tree size. */
async function benchMatmul(env: KernelEnv, step: StepUniform, timer: GpuTimer | null, o: Options, m: { variant: MatmulVariant; dtype: MatrixDtype; wg: number; x: GPUBuffer; y: GPUBuffer; copyGBs: number }) {
  const name = `${m.variant} ${m.dtype}${m.wg ? ` wg ${m.wg}` : ''}`;
  const maxError = await checkMatmul(env, step, m.variant, m.dtype);
  log(`${name} check vs CPU reference (5 x 101 -> 37): max |error| ${maxError.toExponential(2)}`);
  const { ops, buffers, weightBytes } = makeLayers(env, o, m.variant, m.dtype, m.wg, m.x, m.y);
  await env.pipelines.checkCompilation();
  const perRows: ({ rows: number; relative: number } & Timing)[] = [];
  for (const rows of o.rows) {
    step.write(rows);
    const t = await timePerPass(env.device, timer, o, (p) => { for (const op of ops) op.encode(p, rows); });
    perRows.push({ rows, ...t, relative: t.ms / (perRows[0]?.ms ?? t.ms) });
    log(`${name} ${ops.length} x (${o.outDim}, ${o.inDim}) rows ${rows}: ${spread(t)} (x${(t.ms / perRows[0].ms).toFixed(2)} of 1 row)`);
  }
  for (const b of buffers) b.destroy();
  const matvecGBs = weightBytes / (perRows[0].ms * 1e6);
  log(`${name} mat-vec: ${matvecGBs.toFixed(1)} GB/s = ${((100 * matvecGBs) / m.copyGBs).toFixed(1)}% of copy`);
  return { variant: m.variant, dtype: m.dtype, workgroupSize: m.wg || 'default', maxError, matrices: ops.length, weightBytes, matvecGBs, ratioToCopy: matvecGBs / m.copyGBs, perRows };
}

/** Per-row top-8 over each vocabulary (the forward pass's TopKOp), by row count. */
async function benchTopK(env: KernelEnv, step: StepUniform, timer: GpuTimer | null, o: Options) {
  const k = 8;
  const maxRows = Math.max(...o.topkRows);
  const results: { vocab: number; rows: number; ms: number; min: number; max: number }[] = [];
  for (const vocab of o.topkVocabs) {
    const logits = uploadStorage(env.device, 'bench.topk.logits', Float32Array.from({ length: maxRows * vocab }, (_, i) => Math.sin(i * 0.618)));
    const ids = createStorage(env.device, 'bench.topk.ids', maxRows * k * 4);
    const values = createStorage(env.device, 'bench.topk.values', maxRows * k * 4);
    const op = new TopKOp(env, 'bench.topk', { logits, ids, values }, vocab, k);
    await env.pipelines.checkCompilation();
    for (const rows of o.topkRows) {
      step.write(rows);
      const t = await timePerPass(env.device, timer, o, (p) => op.encode(p, rows));
      results.push({ vocab, rows, ...t });
      log(`top-${k} of ${vocab}, rows ${rows}: ${spread(t)}`);
    }
    for (const b of [logits, ids, values]) b.destroy();
  }
  return results;
}

async function main(): Promise<void> {
  const ctx = await acquireDevice();
  const { device } = ctx;
  const o = parseArgs(process.argv.slice(1), /swiftshader/i.test(ctx.adapterInfo), preferredMatmulVariant(device));
  const pipelines = new PipelineCache(device);
  const step = new StepUniform(device, 'bench.step');
  const env: KernelEnv = { device, pipelines, step: step.buffer };
  const timer = ctx.hasTimestamps ? new GpuTimer(device, Math.max(o.iters, 1), 'bench.timer') : null;
  log(`adapter: ${ctx.adapterInfo}; timing: ${timer ? 'timestamp queries' : 'CPU'}; ${JSON.stringify(o)}`);

  const copyBytes = o.copyMb * 2 ** 20;
  const src = createStorage(device, 'bench.copy.src', copyBytes);
  const dst = createStorage(device, 'bench.copy.dst', copyBytes);
  const copy = new CopyOp(pipelines, 'bench.copy', src, dst);
  step.write(1);
  await warmUp(device, copy, o.warmMs);
  const copyTime = await timePerPass(device, timer, o, (p) => copy.encode(p));
  const copyGBs = (2 * copyBytes) / (copyTime.ms * 1e6); // bytes read + written
  log(`copy ${o.copyMb} MB: ${spread(copyTime)}, ${copyGBs.toFixed(1)} GB/s`);

  const x = uploadStorage(device, 'bench.x', Float32Array.from({ length: 128 * o.inDim }, (_, i) => Math.cos(i) * 0.5));
  const y = createStorage(device, 'bench.y', 128 * o.outDim * 4);
  const matmuls: Awaited<ReturnType<typeof benchMatmul>>[] = [];
  // the variants of one dtype side by side
  for (const dtype of o.dtypes) for (const variant of o.variants) for (const wg of o.wgs) {
    await warmUp(device, copy, o.warmMs);
    matmuls.push(await benchMatmul(env, step, timer, o, { variant, dtype, wg, x, y, copyGBs }));
  }
  await warmUp(device, copy, o.warmMs);
  const topK = await benchTopK(env, step, timer, o);
  const report = { adapter: ctx.adapterInfo, timing: timer ? 'timestamp' : 'cpu', options: o, copy: { bytes: copyBytes, ...copyTime, GBs: copyGBs }, matmul: matmuls, topK };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  if (o.json) {
    const fs = await import(/* @vite-ignore */ 'node:fs');
    fs.writeFileSync(o.json, JSON.stringify(report, null, 2));
  }
  device.destroy();
}

await main();
