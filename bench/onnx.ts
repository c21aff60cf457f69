/**
 * The ONNX export transformers.js runs (tools/fixtures/export_onnx.py), made on demand and kept
 * in tools/fixtures/work/peer/ (ignored by git) until the model's weights change. The export
 * needs PyTorch and onnx (Debian: python3-torch python3-onnx); without them the peer is skipped.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';

/** Debian's interpreter, where apt installs python3-torch (a pyenv python3 on PATH lacks it). */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** OpenBLAS tuning variables set for other tools on this machine make Debian's torch abort at import. */
function pythonEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

export type OnnxExport = { dir: string; exported: boolean } | { skipped: string };

/** The export folder of `model`, written first when missing or older than the weights. */
export function ensureOnnxExport(repoRoot: string, model: string, log: (line: string) => void): OnnxExport {
  const dir = join(repoRoot, 'tools/fixtures/work/peer', `${basename(model)}-onnx`);
  const graph = join(dir, 'onnx/model.onnx');
  const weights = join(model, 'model.safetensors');
  if (existsSync(graph) && existsSync(join(dir, 'config.json')) && (!existsSync(weights) || statSync(graph).mtimeMs >= statSync(weights).mtimeMs)) {
    return { dir, exported: false };
  }
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
