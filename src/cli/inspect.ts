/**
 * `treespec inspect`: a model's family and shape, parameter count, stored weights and the GPU
 * memory it needs per weight format (src/model/memory.ts), from config.json and the
 * safetensors headers only: nothing else is downloaded and no GPU is used.
 */
import { parseArgs } from 'node:util';
import { inspectFlags } from './flags';
import { checkKvDtype, engineDefaults, resolveMaxContext, OptionsError } from '../engine/options';
import { estimateMemory, parameterCount, WEIGHT_FORMATS, type MemoryEstimate } from '../model/memory';
import { readConfig } from '../model/weights';
import { readStoredWeights } from '../model/stored-weights';
import { sourceFromString } from '../model/source';
import type { ModelConfig } from '../model/config';

const MIB = 1024 * 1024;

function shapeLine(c: ModelConfig): string {
  const parts = [
    `vocab ${c.vocabSize}`,
    `hidden ${c.hiddenSize}`,
    `${c.numLayers} layers`,
    `${c.numHeads} heads (${c.numKvHeads} kv) x ${c.headDim}`,
    `MLP ${c.intermediateSize}`,
    c.tieWordEmbeddings ? 'tied embeddings' : 'separate LM head',
    `max positions ${c.maxPositionEmbeddings}`,
  ];
  return `${c.modelType}: ${parts.join(', ')}`;
}

function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)}`;
}

function table(estimates: MemoryEstimate[]): string {
  const head = ['weights', 'context', 'weights MiB', 'KV', 'KV MiB', 'activations MiB', 'staging MiB', 'total MiB', 'largest unsplit buffer MiB'];
  const rows = estimates.map((e) => {
    // the embedding and LM head (rowBytes) are split by rows when larger than one binding
    const largest = e.largest.filter((b) => b.rowBytes === undefined).reduce((a, b) => (b.bytes > a.bytes ? b : a));
    return [e.dtype, String(e.maxContext), mib(e.weights), e.kvDtype, mib(e.kvCache), mib(e.activations), mib(e.staging), mib(e.total), `${mib(largest.bytes)} (${largest.label})`];
  });
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [head, ...rows].map((r) => r.map((x, i) => (i === r.length - 1 ? x : x.padStart(w[i]))).join('  ')).join('\n');
}

export async function runInspect(args: string[]): Promise<number> {
  const f = parseArgs({ args, strict: true, allowPositionals: false, options: inspectFlags }).values;
  if (!f.model) throw new OptionsError('--model is required (a model folder or a URL base)');
  const given = f['max-context'];
  const asked = given === undefined ? undefined : Number(given);
  if (given !== undefined && !(given.trim() !== '' && Number.isInteger(asked) && asked! >= 2)) throw new OptionsError(`--max-context is "${given}"; expected an integer >= 2`);
  const source = sourceFromString(f.model);
  const config = await readConfig(source);
  const stored = await readStoredWeights(source);
  const contexts = [...new Set([resolveMaxContext(undefined, config.maxPositionEmbeddings), ...(asked === undefined ? [] : [resolveMaxContext(asked, config.maxPositionEmbeddings)])])];
  const maxRows = engineDefaults.maxTreeNodes + 1;
  // unnamed, each format's own default (f32 KV for f32 weights, f16 for the others), as Engine.load
  const kvDtype = checkKvDtype(f['kv-dtype']);
  const estimates = contexts.flatMap((maxContext) => WEIGHT_FORMATS.map((dtype) => estimateMemory(config, { dtype, maxContext, maxRows, kvDtype })));
  const parameters = parameterCount(config);
  if (f.json) {
    process.stdout.write(`${JSON.stringify({ model: source.id, modelType: config.modelType, config, parameters, stored, maxTreeRows: maxRows, kvDtype: kvDtype ?? 'per format', estimates }, null, 1)}\n`);
    return 0;
  }
  const storedLine = stored
    ? `${stored.files.length} file(s), ${stored.tensors} tensors, ${stored.bytes} bytes (${mib(stored.bytes)} MiB); elements per dtype: ${Object.entries(stored.elements).map(([d, n]) => `${d} ${n}`).join(', ')}`
    : 'unknown (no model.safetensors or index, or a source that cannot read a file head)';
  const lines = [
    `model: ${source.id}`,
    shapeLine(config),
    `parameters: ${parameters}`,
    `stored weights: ${storedLine}`,
    '',
    `GPU memory per weight format (maxTreeRows ${maxRows}; ${kvDtype ? `${kvDtype} KV cache` : 'KV cache f32 for f32 weights, else f16'}; MiB = 2^20 bytes; --json gives bytes):`,
    table(estimates),
    '',
    'The largest unsplit buffer must fit the adapter\'s maxStorageBufferBindingSize and maxBufferSize (the embedding and LM head are split by rows',
    'across buffers when larger); the total is what Engine.load checks against memoryBudget.',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
