/**
 * Tile sizes of the matmul kernels per adapter (issue 10): the kernel entry, the threads per
 * workgroup and the row-tile tiers, measured on the device at load rather than guessed per
 * vendor.
 *
 * The 'split' entry (GPUs) keeps WG * TR vec4 partial sums in workgroup memory, so a wider
 * workgroup (more threads reading each weight row) buys fewer rows per register tile: the
 * candidates trade decode (1 row, bound by how fast a few workgroups stream their weights)
 * against tree verification (16 rows, bound by how often the weights are re-read per tile).
 * `tuneMatmul` times each candidate on one projection of the model, all layers' matrices in a
 * sweep as in a pass (one matrix alone would sit in a GPU's L2), at 1 and 16 rows, interleaved
 * round by round, and keeps the fastest sum. Each tiling is timed with a word per column per
 * thread step ('split') and with a run of words ('split-wide'). The 'dot' entry (SwiftShader) is not
 * tuned: each pipeline compiles for seconds there, and its one measured setting is the default.
 */
import { createStorage } from '../gpu/buffers.ts';
import { OptionsError } from '../errors.ts';
import type { KernelEnv } from '../gpu/pipelines.ts';
import { GpuTimer, timePasses } from '../gpu/profiler.ts';
import { isSplitVariant, MatmulOp, tilingRuleBreach, type MatmulVariant, type MatrixDtype } from './matmul.ts';

/** How every MatmulOp of a model is tiled (MatmulOptions.variant, workgroupSize, rowTiles). */
export interface MatmulTiling {
  variant: MatmulVariant;
  workgroupSize: number;
  rowTiles: number[];
}

/** One candidate's measured times: ms per matmul at each probed row count, medians. */
export interface TilingTiming {
  tiling: MatmulTiling;
  ms: number[];
}

export interface TuningResult {
  chosen: MatmulTiling;
  /** Row counts probed (the columns of TilingTiming.ms). */
  rows: number[];
  /** Rounds measured (within TuneBudget). */
  rounds: number;
  timings: TilingTiming[];
}

/** vec4 partial sums of the split entry per workgroup thread and tile row (shaders/common/matmul_tile.wgsl `red`). */
const RED_BYTES = 16;

type TilingLimits = Pick<GPUSupportedLimits, 'maxComputeWorkgroupStorageSize' | 'maxComputeInvocationsPerWorkgroup' | 'maxComputeWorkgroupSizeX'>;

/** Workgroup sizes and row tiles of the split entries' candidates. */
const SPLIT_SHAPES: Omit<MatmulTiling, 'variant'>[] = [
  { workgroupSize: 64, rowTiles: [1, 4, 16] },
  { workgroupSize: 128, rowTiles: [1, 4, 8] },
  { workgroupSize: 256, rowTiles: [1, 2, 4] },
];

/**
 * The split entries' candidates that the device's limits allow: WG * largest tier * 16 bytes of
 * workgroup memory, WG threads per workgroup; each with both entries. The first is the default
 * of MatmulOp.
 */
export function splitTilings(limits: TilingLimits): MatmulTiling[] {
  const variants: MatmulVariant[] = ['split', 'split-wide'];
  const threads = Math.min(limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX);
  const shapes = SPLIT_SHAPES.filter((t) => t.workgroupSize <= threads && t.workgroupSize * t.rowTiles[t.rowTiles.length - 1] * RED_BYTES <= limits.maxComputeWorkgroupStorageSize);
  return variants.flatMap((variant) => shapes.map((t) => ({ variant, ...t })));
}

/**
 * A tiling given as an option, checked against the kernels' rules and the device's limits
 * (OptionsError naming the field), so that a bad one fails at load with its name, not inside
 * a MatmulOp.
 */
export function checkTiling(t: MatmulTiling, limits: TilingLimits): void {
  const fail = (field: string, why: string) => new OptionsError(`GpuModel: matmulTiling.${field} ${why}`);
  if (t.variant !== 'split' && t.variant !== 'split-wide' && t.variant !== 'dot') throw fail('variant', `is ${JSON.stringify(t.variant)}, expected "split", "split-wide" or "dot"`);
  const breach = tilingRuleBreach(t.variant, t.workgroupSize, t.rowTiles);
  if (breach) throw fail(breach.field, breach.why);
  // the device's limits
  const wg = t.workgroupSize;
  const threads = Math.min(limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX);
  if (wg > threads) throw fail('workgroupSize', `is ${wg}, expected an integer in 1..${threads} (the device's limit)`);
  const top = t.rowTiles[t.rowTiles.length - 1];
  if (isSplitVariant(t.variant) && wg * top * RED_BYTES > limits.maxComputeWorkgroupStorageSize) {
    throw fail('workgroupSize', `${wg} with row tiles up to ${top} needs ${wg * top * RED_BYTES} bytes of workgroup memory; the device has ${limits.maxComputeWorkgroupStorageSize}`);
  }
}

/** Index of the lowest total (ties to the earlier candidate: the default comes first). */
export function fastest(totals: number[]): number {
  let best = 0;
  for (let i = 1; i < totals.length; i++) if (totals[i] < totals[best]) best = i;
  return best;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export interface TuneProbe {
  /** The model's matrices of one projection, one per layer, (outDim, inDim) in dtype: a sweep streams them all, as a pass does. */
  weights: GPUBuffer[];
  inDim: number;
  outDim: number;
  dtype: MatrixDtype;
  /** Sets the Step uniform's row count (StepUniform.write) before a timed submit. */
  setRows: (rows: number) => void;
}

/** How long tuneMatmul measures: up to `rounds` rounds while under `budgetMs` of wall time (at least one). */
export interface TuneBudget {
  rounds: number;
  budgetMs: number;
  /** Sweeps per timed submit. */
  repeat: number;
}

/** On a GPU a round takes milliseconds; the budget bounds a load on a slow adapter. */
const DEFAULT_BUDGET: TuneBudget = { rounds: 5, budgetMs: 2000, repeat: 4 };

/**
 * Times each candidate over the probe's matrices and returns the fastest by the sum over `rows`
 * of its median sweep time. Rounds time every candidate once per row count, in turn. GPU
 * timestamps where the device has them (a sweep per timed pass), else the CPU's wall time of a
 * submit of `repeat` sweeps.
 */
export async function tuneMatmul(env: KernelEnv, probe: TuneProbe, candidates: MatmulTiling[], rows = [1, 16], budget: TuneBudget = DEFAULT_BUDGET): Promise<TuningResult> {
  const { rounds, budgetMs, repeat } = budget;
  const { device } = env;
  const maxRows = Math.max(...rows);
  const x = createStorage(device, 'tune.x', maxRows * probe.inDim * 4);
  const y = createStorage(device, 'tune.y', maxRows * probe.outDim * 4);
  const timer = device.features.has('timestamp-query') ? new GpuTimer(device, repeat, 'tune.timer') : null;
  try {
    const sweeps = candidates.map((t, c) => probe.weights.map((w, l) => new MatmulOp(env, `tune.matmul${c}.${l}`, { x, w, y }, { inDim: probe.inDim, outDim: probe.outDim, dtype: probe.dtype, ...t })));
    await env.pipelines.checkCompilation();
    // ms of one sweep: `repeat` sweeps, a pass each, in one submit
    const time = async (ops: MatmulOp[], r: number, t: GpuTimer | null): Promise<number> => {
      probe.setRows(r);
      return median(await timePasses(device, t, repeat, 1, (pass) => { for (const op of ops) op.encode(pass, r); }, 'tune'));
    };
    for (const ops of sweeps) for (const r of rows) await time(ops, r, null); // warm-up
    const times = candidates.map(() => rows.map(() => [] as number[]));
    const end = performance.now() + budgetMs;
    for (let round = 0; round < rounds && (round === 0 || performance.now() < end); round++) {
      for (const [c, ops] of sweeps.entries()) for (const [i, r] of rows.entries()) times[c][i].push(await time(ops, r, timer));
    }
    const timings = candidates.map((tiling, c) => ({ tiling, ms: times[c].map(median) }));
    const best = fastest(timings.map((t) => t.ms.reduce((a, b) => a + b, 0)));
    return { chosen: candidates[best], rows, rounds: times[0][0].length, timings };
  } finally {
    for (const b of [x, y]) b.destroy();
    timer?.destroy();
  }
}
