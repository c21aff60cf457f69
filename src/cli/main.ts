/**
 * The `treespec` command line: generate (GPU engine or CPU reference), fixture (random-weight
 * models in the Hugging Face layout). Errors print their name and message, and a stack trace
 * only with --debug.
 */
import { runGenerate } from './generate';
import { runFixture } from './fixture';
import { runVocabCounts } from './vocab-counts';
import { runQuantize } from './quantize';
import { OptionsError } from '../errors';

const usage = `treespec — speculative decoding on WebGPU

  treespec generate --model DIR_OR_URL --prompt TEXT [--max-tokens N] [--temperature T]
                    [--top-k K] [--top-p P] [--repetition-penalty R] [--seed S]
                    [--strategy ar|self|random|...] [--tree-budget N] [--device gpu|cpu]
                    [--weights f16|f32|q8|q4] [--max-context N] [--chat] [--documents FILE]...
                    [--draft DIR [--vocab-trim N]]   (with --strategy cross-vocab, DIR may
                    hold a model of another tokenizer)
                    [--json] [--profile] [--debug]   (--profile: GPU time per kernel,
                    per step in the --json stats and as a table on stderr)
  treespec fixture  --out DIR [--vocab N] [--hidden N] [--intermediate N] [--layers N]
                    [--heads N] [--kv-heads N] [--head-dim N] [--model-type llama|qwen2|mistral]
                    [--dtype f32|f16|bf16] [--bias] [--untied] [--seed S]
  treespec vocab-counts --model TARGET_DIR --text FILE... --out FILE [--max-bytes N]
                    [--window N] [--weights f32|f16]   (VocabTrim counts of the target's
                    greedy predictions; ship the file as the draft's vocab-counts.json)
  treespec quantize --model DIR_OR_URL --to q8|q4 --out DIR   (pre-quantized weights,
                    loaded as stored by --weights q8|q4; docs/quantization.md)
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const debug = rest.includes('--debug');
  try {
    if (command === 'generate') return await runGenerate(rest);
    if (command === 'fixture') return await runFixture(rest);
    if (command === 'vocab-counts') return await runVocabCounts(rest);
    if (command === 'quantize') return await runQuantize(rest);
    process.stdout.write(usage);
    return command === undefined || command === '--help' || command === 'help' ? 0 : 2;
  } catch (e) {
    // node:util parseArgs reports unknown flags and missing values as a TypeError with a code.
    const parse = String((e as { code?: unknown }).code ?? '').startsWith('ERR_PARSE_ARGS');
    const err = parse ? new OptionsError(`${(e as Error).message} (treespec --help lists the flags)`, { cause: e }) : (e as Error);
    process.stderr.write(`${err.name ?? 'Error'}: ${err.message}\n`);
    if (debug && err.stack) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}
