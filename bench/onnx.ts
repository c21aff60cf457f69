/**
 * The ONNX export transformers.js runs (tools/fixtures/export_onnx.py, f32) and its fp16, q8 and
 * q4 variants (tools/fixtures/quantize_onnx.py), made on demand and kept in
 * tools/fixtures/work/peer/ (ignored by git) until the model's weights change. The export needs
 * PyTorch and onnx (Debian: python3-torch python3-onnx); without them the peer is skipped.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import type { BenchWeights } from './types';

/** The file transformers.js loads for each treespec weight format (its dtype fp32, fp16, q8, q4). */
export const ONNX_FILE: Record<BenchWeights, string> = { f32: 'model.onnx', f16: 'model_fp16.onnx', q8: 'model_quantized.onnx', q4: 'model_q4.onnx' };
const QUANTIZE_DTYPE: Record<BenchWeights, string> = { f32: 'fp32', f16: 'fp16', q8: 'q8', q4: 'q4' };

/** Debian's interpreter, where apt installs python3-torch (a pyenv python3 on PATH lacks it). */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** OpenBLAS tuning variables set for other tools on this machine make Debian's torch abort at import. */
function pythonEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

/** `weights`: the formats whose graphs the peer runs (the ones that could be made). */
export type OnnxExport = { dir: string; weights: BenchWeights[]; exported: boolean } | { skipped: string };

/** True when `file` exists and is not older than `than` (when that exists). */
const fresh = (file: string, than: string) => existsSync(file) && (!existsSync(than) || statSync(file).mtimeMs >= statSync(than).mtimeMs);

/** The export folder of `model` with a graph per format of `weights`, written first when missing or older than the weights. */
export function ensureOnnxExport(repoRoot: string, model: string, weights: BenchWeights[], log: (line: string) => void): OnnxExport {
  const dir = join(repoRoot, 'tools/fixtures/work/peer', `${basename(model)}-onnx`);
  const graph = join(dir, 'onnx/model.onnx');
  const exported = fresh(graph, join(model, 'model.safetensors')) && existsSync(join(dir, 'config.json'));
  const base = exported ? { dir, exported: false } : exportF32(repoRoot, model, dir, log);
  if ('skipped' in base) return base;
  const missing = weights.filter((w) => w !== 'f32' && !fresh(join(dir, 'onnx', ONNX_FILE[w]), graph));
  if (missing.length) {
    const script = join(repoRoot, 'tools/fixtures/quantize_onnx.py');
    const dtypes = missing.map((w) => QUANTIZE_DTYPE[w]).join(',');
    log(`writing the ${dtypes} variants of ${graph}: ${PYTHON} ${relative(repoRoot, script)} --dir ${relative(repoRoot, dir)} --dtypes ${dtypes}`);
    spawnSync(PYTHON, [script, '--dir', dir, '--dtypes', dtypes], { cwd: repoRoot, env: pythonEnv(), stdio: ['ignore', 'inherit', 'inherit'] });
  }
  const made = weights.filter((w) => fresh(join(dir, 'onnx', ONNX_FILE[w]), graph));
  for (const w of weights) if (!made.includes(w)) log(`note: no ${ONNX_FILE[w]} in ${dir}: transformers.js does not run at ${w}`);
  return { ...base, weights: made };
}

/** Runs export_onnx.py; the f32 graph and its folder, or why there is none. */
function exportF32(repoRoot: string, model: string, dir: string, log: (line: string) => void): { dir: string; exported: boolean } | { skipped: string } {
  const graph = join(dir, 'onnx/model.onnx');
  const script = join(repoRoot, 'tools/fixtures/export_onnx.py');
  const command = `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ${PYTHON} ${relative(repoRoot, script)} --model ${model} --out ${relative(repoRoot, dir)}`;
  const probe = spawnSync(PYTHON, ['-c', 'import torch, onnx'], { env: pythonEnv(), encoding: 'utf8' });
  if (probe.status !== 0) {
    return {
      skipped: `no ONNX export at ${dir}, and ${PYTHON} cannot import torch and onnx to make one ` +
        `(apt-get install -y python3-torch libopenblas0-pthread python3-onnx, then: ${command})`,
    };
  }
  log(`exporting ${model} to ONNX for transformers.js: ${command}`);
  const run = spawnSync(PYTHON, [script, '--model', model, '--out', dir], { cwd: repoRoot, env: pythonEnv(), stdio: ['ignore', 'inherit', 'inherit'] });
  if (run.status !== 0 || !existsSync(graph)) return { skipped: `the ONNX export failed (exit code ${run.status}): ${command}` };
  return { dir, exported: true };
}
