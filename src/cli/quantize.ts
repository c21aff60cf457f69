/**
 * `treespec quantize --model DIR_OR_URL --to q8|q4 --out DIR [--force]`: writes the pre-quantized form of
 * a model (docs/quantization.md): config and tokenizer files copied, one model.safetensors with
 * every projection as NAME.q8 / NAME.q4 packed rows, so loading at that dtype skips quantizing.
 */
import { parseArgs } from 'node:util';
import { quantizeFlags } from './flags';
import { OptionsError } from '../engine/options';
import { serializeQuantized } from '../model/quantized-files';
import { isQuantDtype } from '../model/quantize';
import { sourceFromString } from '../model/source';
import { loadModelFiles, tensorF32 } from '../model/weights';
import { checkOutputFolder, writeModelFolder } from './output-files';

/** Files besides the weights that a model folder carries over unchanged. */
const COPIED = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json'];

export async function runQuantize(args: string[]): Promise<number> {
  const f = parseArgs({ args, strict: true, allowPositionals: false, options: quantizeFlags }).values;
  if (!f.model) throw new OptionsError('--model is required (the model folder or URL base to quantize)');
  if (!f.out) throw new OptionsError('--out is required (the folder to write the quantized model into)');
  const to = f.to ?? '';
  if (!isQuantDtype(to)) throw new OptionsError(`--to is "${to}"; expected q8 or q4`);
  await checkOutputFolder(f.out, { force: !!f.force, input: f.model });
  const source = sourceFromString(f.model);
  const files = await loadModelFiles(source);
  const out = new Map<string, Uint8Array>();
  for (const name of COPIED) {
    if (await source.exists(name)) out.set(name, await source.read(name));
  }
  const bytes = serializeQuantized(files.config, files.tensors, tensorF32, to);
  out.set('model.safetensors', bytes);
  await writeModelFolder(f.out, out);
  process.stdout.write(`wrote ${to} model.safetensors (${(bytes.length / 2 ** 20).toFixed(1)} MiB) and ${out.size - 1} side files to ${f.out}\n`);
  return 0;
}
