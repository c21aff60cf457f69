/**
 * Kernel micro-benchmark (issue 10): effective GB/s of each mat-vec variant and weight dtype
 * (f32, f16, q8, q4: bytes of the stored weights, packed quants and scales included, over the
 * time) next to a plain copy kernel's GB/s on the same device in the same run (the practical
 * bandwidth limit), and the cost of one tree-verification matmul for 1..128 rows relative to 1 row.
 *
 * The weights of `layers` distinct matrices are swept per pass, like a model's layers, so that
 * on a real GPU they do not fit in L2 and every pass streams them from memory. Times come from
 * timestamp queries when the adapter has them, else from the CPU (submit to idle, over `iters`
 * passes in one submit).
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
 *   --layers N, --iters N, --copy-mb N, --rows 1,4,16 (tree sizes), --variants split,dot,
 *   --dtypes f32,f16,q8,q4, --json FILE.
 */
import { createStorage, unpackF16Rows, uploadStorage } from '../src/gpu/buffers.ts';
import { CopyOp } from '../src/gpu/copy.ts';
import { acquireDevice } from '../src/gpu/device.ts';
import { PipelineCache, type KernelEnv } from '../src/gpu/pipelines.ts';
import { cpuTimeSubmit, GpuTimer } from '../src/gpu/profiler.ts';
import { StepUniform } from '../src/gpu/step.ts';
import { matmul } from '../src/model/cpu-ops.ts';
import { dequantizeRows, isQuantDtype } from '../src/model/quantize.ts';
import { packMatrix } from '../src/model/upload.ts';
import { MatmulOp, preferredMatmulVariant, type MatmulVariant, type MatrixDtype } from '../src/ops/matmul.ts';

interface Options {
  inDim: number;
  outDim: number;
  layers: number;
  iters: number;
  copyMb: number;
  rows: number[];
  /** Matmul entries to measure; default: the adapter's preferred one. */
  variants: MatmulVariant[];
  dtypes: MatrixDtype[];
  json: string | null;
}

const PRESETS: Record<string, Omit<Options, 'json' | 'variants' | 'dtypes'>> = {
  // 4096 x 4096 (a 7B model's attention projection); 16 f32 / 32 f16 matrices = 1 GB per pass, far beyond L2.
  gpu: { inDim: 4096, outDim: 4096, layers: 16, iters: 10, copyMb: 1024, rows: [1, 2, 4, 8, 16, 32, 64, 128] },
  // SmolLM2-135M's MLP shape; SwiftShader runs on the CPU, so keep a pass well under a second.
  small: { inDim: 576, outDim: 1536, layers: 4, iters: 3, copyMb: 32, rows: [1, 4, 16, 64, 128] },
};

function parseArgs(argv: string[], swiftshader: boolean, preferred: MatmulVariant): Options {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) if (argv[i].startsWith('--') && i + 1 < argv.length) flags.set(argv[i].slice(2), argv[++i]);
  const base = PRESETS[flags.get('preset') ?? (swiftshader ? 'small' : 'gpu')];
  if (!base) throw new Error(`--preset must be one of ${Object.keys(PRESETS).join(', ')}`);
  const num = (k: string, d: number) => (flags.has(k) ? Number(flags.get(k)) : d);
  return {
    inDim: num('in', base.inDim),
    outDim: num('out', base.outDim),
    layers: num('layers', base.layers),
    iters: num('iters', base.iters),
    copyMb: num('copy-mb', base.copyMb),
    rows: flags.has('rows') ? flags.get('rows')!.split(',').map(Number) : base.rows,
    variants: flags.has('variants') ? (flags.get('variants')!.split(',') as MatmulVariant[]) : [preferred],
    dtypes: (flags.get('dtypes') ?? 'f32,f16,q8,q4').split(',') as MatrixDtype[],
    json: flags.get('json') ?? null,
  };
}

/** Milliseconds per pass of `encode`, over `iters` passes in one submit (after one warm-up submit). */
async function timePerPass(device: GPUDevice, timer: GpuTimer | null, iters: number, encode: (pass: GPUComputePassEncoder) => void): Promise<number> {
  const submit = (profile: boolean) => {
    const enc = device.createCommandEncoder({ label: 'bench.encoder' });
    for (let i = 0; i < iters; i++) {
      const pass = enc.beginComputePass({ label: 'bench.pass', timestampWrites: profile && timer ? timer.pass(`iter${i}`) : undefined });
      encode(pass);
      pass.end();
    }
    if (profile && timer) timer.resolve(enc);
    device.queue.submit([enc.finish()]);
  };
  await cpuTimeSubmit(device, () => submit(false));
  if (!timer) return (await cpuTimeSubmit(device, () => submit(false))) / iters;
  submit(true);
  const spans = await timer.read();
  // the median pass: robust to one pass delayed by clock ramp-up or a preempting context
  const ms = spans.map((s) => s.ms).sort((a, b) => a - b);
  return ms[Math.floor(ms.length / 2)];
}

function makeLayers(env: KernelEnv, o: Options, variant: MatmulVariant, dtype: MatrixDtype, x: GPUBuffer, y: GPUBuffer): { ops: MatmulOp[]; weightBytes: number } {
  // One random matrix, uploaded into every layer's own buffer: values do not change the timing.
  const w = new Float32Array(o.inDim * o.outDim);
  for (let i = 0; i < w.length; i++) w[i] = Math.sin(i * 12.9898) * 0.05;
  const data = packMatrix(w, o.outDim, o.inDim, dtype);
  // about the bytes per pass of `layers` f32 matrices for every dtype
  const layers = Math.max(1, Math.round((o.layers * w.byteLength) / data.byteLength));
  const ops: MatmulOp[] = [];
  for (let l = 0; l < layers; l++) {
    const wBuf = uploadStorage(env.device, `bench.w${dtype}.${l}`, data);
    ops.push(new MatmulOp(env, `bench.matmul${dtype}.${l}`, { x, w: wBuf, y }, { inDim: o.inDim, outDim: o.outDim, dtype, variant }));
  }
  return { ops, weightBytes: layers * data.byteLength };
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

async function main(): Promise<void> {
  const ctx = await acquireDevice();
  const { device } = ctx;
  const o = parseArgs(process.argv.slice(1), /swiftshader/i.test(ctx.adapterInfo), preferredMatmulVariant(device));
  const pipelines = new PipelineCache(device);
  const step = new StepUniform(device, 'bench.step');
  const env: KernelEnv = { device, pipelines, step: step.buffer };
  const timer = ctx.hasTimestamps ? new GpuTimer(device, Math.max(o.iters, 1), 'bench.timer') : null;
  const log = (s: string) => process.stderr.write(`${s}\n`);
  log(`adapter: ${ctx.adapterInfo}; timing: ${timer ? 'timestamp queries' : 'CPU'}; ${JSON.stringify(o)}`);

  const copyBytes = o.copyMb * 2 ** 20;
  const src = createStorage(device, 'bench.copy.src', copyBytes);
  const dst = createStorage(device, 'bench.copy.dst', copyBytes);
  const copy = new CopyOp(pipelines, 'bench.copy', src, dst);
  step.write(1);
  const copyMs = await timePerPass(device, timer, o.iters, (p) => copy.encode(p));
  const copyGBs = (2 * copyBytes) / (copyMs * 1e6); // bytes read + written
  log(`copy ${o.copyMb} MB: ${copyMs.toFixed(3)} ms, ${copyGBs.toFixed(1)} GB/s`);
  src.destroy();
  dst.destroy();

  const x = uploadStorage(device, 'bench.x', Float32Array.from({ length: 128 * o.inDim }, (_, i) => Math.cos(i) * 0.5));
  const y = createStorage(device, 'bench.y', 128 * o.outDim * 4);
  const results: Record<string, unknown>[] = [];
  for (const variant of o.variants) for (const dtype of o.dtypes) {
    const maxError = await checkMatmul(env, step, variant, dtype);
    log(`${variant} ${dtype} check vs CPU reference (5 x 101 -> 37): max |error| ${maxError.toExponential(2)}`);
    const { ops, weightBytes } = makeLayers(env, o, variant, dtype, x, y);
    await pipelines.checkCompilation();
    const perRows: { rows: number; ms: number; relative: number }[] = [];
    for (const rows of o.rows) {
      step.write(rows);
      const ms = await timePerPass(device, timer, o.iters, (p) => { for (const op of ops) op.encode(p, rows); });
      perRows.push({ rows, ms, relative: ms / (perRows[0]?.ms ?? ms) });
      log(`${variant} ${dtype} ${ops.length} x (${o.outDim}, ${o.inDim}) rows ${rows}: ${ms.toFixed(3)} ms (x${(ms / perRows[0].ms).toFixed(2)} of 1 row)`);
    }
    const matvecGBs = weightBytes / (perRows[0].ms * 1e6);
    log(`${variant} ${dtype} mat-vec: ${matvecGBs.toFixed(1)} GB/s = ${((100 * matvecGBs) / copyGBs).toFixed(1)}% of copy`);
    results.push({ variant, dtype, maxError, matrices: ops.length, weightBytes, matvecGBs, ratioToCopy: matvecGBs / copyGBs, perRows });
  }
  const report = { adapter: ctx.adapterInfo, timing: timer ? 'timestamp' : 'cpu', options: o, copy: { bytes: copyBytes, ms: copyMs, GBs: copyGBs }, matmul: results };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  if (o.json) {
    const fs = await import(/* @vite-ignore */ 'node:fs');
    fs.writeFileSync(o.json, JSON.stringify(report, null, 2));
  }
  device.destroy();
}

await main();
