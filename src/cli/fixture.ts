/** `treespec fixture`: writes a seeded random-weight model in the Hugging Face layout. */
import { parseArgs } from 'node:util';
import { fixtureFlags } from './flags';
import { makeFixture, type FixtureShape } from '../model/fixture';
import { checkOutputFolder, writeModelFolder } from './output-files';
import { OptionsError } from '../engine/options';

function int(v: string | undefined, flag: string, dflt: number): number {
  if (v === undefined) return dflt;
  const x = Number(v);
  if (!Number.isInteger(x) || x <= 0) throw new OptionsError(`--${flag} is "${v}"; expected a positive integer`);
  return x;
}

export async function runFixture(args: string[]): Promise<number> {
  const f = parseArgs({ args, strict: true, allowPositionals: false, options: fixtureFlags }).values;
  if (!f.out) throw new OptionsError('--out is required (the folder to write the model into)');
  const dtype = f.dtype ?? 'f16';
  if (dtype !== 'f32' && dtype !== 'f16' && dtype !== 'bf16') throw new OptionsError(`--dtype is "${dtype}"; expected f32, f16 or bf16`);
  const modelType = f['model-type'] ?? 'llama';
  if (modelType !== 'llama' && modelType !== 'qwen2' && modelType !== 'mistral') throw new OptionsError(`--model-type is "${modelType}"; expected llama, qwen2 or mistral`);
  const heads = int(f.heads, 'heads', 4);
  const shape: FixtureShape = {
    modelType,
    vocabSize: int(f.vocab, 'vocab', 32000),
    hiddenSize: int(f.hidden, 'hidden', 256),
    intermediateSize: int(f.intermediate, 'intermediate', 688),
    numLayers: int(f.layers, 'layers', 4),
    numHeads: heads,
    numKvHeads: int(f['kv-heads'], 'kv-heads', heads),
    headDim: f['head-dim'] ? int(f['head-dim'], 'head-dim', 0) : undefined,
    maxPositionEmbeddings: int(f['max-positions'], 'max-positions', 2048),
    attentionBias: !!f.bias,
    tieWordEmbeddings: !f.untied,
    dtype,
  };
  await checkOutputFolder(f.out, { force: !!f.force });
  const files = makeFixture(shape, int(f.seed, 'seed', 1));
  await writeModelFolder(f.out, files);
  process.stdout.write(`wrote ${[...files.keys()].join(', ')} to ${f.out}\n`);
  return 0;
}
