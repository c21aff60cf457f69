/**
 * Node runner: the engine on Node's `webgpu` (Dawn; Vulkan on a GPU, SwiftShader otherwise).
 * Bundled by Vite (bench/vite.node.config.ts) because the engine loads its shaders through
 * a `?raw` glob. Usage: node bench-out/.build/node.js JOB.json RESULT.json
 * (JOB.json: { model, prompts, config }; progress goes to stderr.)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { runSuite } from './suite';
import type { BenchPrompt, SuiteConfig } from './types';

interface NodeJob {
  model: string;
  draft?: string;
  prompts: BenchPrompt[];
  config: SuiteConfig;
}

async function main(): Promise<void> {
  const [jobFile, outFile] = process.argv.slice(2);
  if (!jobFile || !outFile) throw new Error('usage: node.js JOB.json RESULT.json');
  const job = JSON.parse(readFileSync(jobFile, 'utf8')) as NodeJob;
  const result = await runSuite({
    runtime: 'node',
    model: job.model,
    modelLabel: job.model,
    draft: job.draft,
    prompts: job.prompts,
    config: job.config,
    environment: { node: process.version, platform: `${process.platform} ${process.arch}`, cpu: `${cpus().length} x ${cpus()[0]?.model ?? '?'}` },
    log: (line) => process.stderr.write(`[node] ${line}\n`),
  });
  writeFileSync(outFile, JSON.stringify(result));
  process.stderr.write(`[node] wrote ${outFile}\n`);
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`[node] ${(e as Error).name}: ${(e as Error).message}\n${(e as Error).stack ?? ''}\n`);
    process.exit(1);
  },
);
