/**
 * The `treespec` command line: generate (GPU engine or CPU reference), fixture (random-weight
 * models in the Hugging Face layout), vocab-counts, quantize, inspect; help for each (src/cli/flags.ts).
 * Errors print their name and message, and a stack trace only with --debug.
 */
import { runGenerate } from './generate';
import { runFixture } from './fixture';
import { runVocabCounts } from './vocab-counts';
import { runQuantize } from './quantize';
import { runInspect } from './inspect';
import { OptionsError } from '../errors';
import { commandUsage, commands, isCommand, usage } from './flags';

/** A usage error: named on stderr, exit code 2. */
function unknownCommand(name: string): number {
  process.stderr.write(`OptionsError: unknown command "${name}"; expected one of ${Object.keys(commands).join(', ')} or help (treespec help lists them)\n`);
  return 2;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const debug = rest.includes('--debug');
  try {
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      // `treespec help generate` prints one command's help
      const one = rest[0];
      if (one !== undefined && !isCommand(one)) return unknownCommand(one);
      process.stdout.write(one !== undefined ? commandUsage(one) : usage());
      return 0;
    }
    if (!isCommand(command)) return unknownCommand(command);
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(commandUsage(command));
      return 0;
    }
    if (command === 'generate') return await runGenerate(rest);
    if (command === 'fixture') return await runFixture(rest);
    if (command === 'vocab-counts') return await runVocabCounts(rest);
    if (command === 'inspect') return await runInspect(rest);
    return await runQuantize(rest);
  } catch (e) {
    // node:util parseArgs reports unknown flags and missing values as a TypeError with a code.
    const parse = String((e as { code?: unknown }).code ?? '').startsWith('ERR_PARSE_ARGS');
    const err = parse ? new OptionsError(`${(e as Error).message} (treespec ${command} --help lists its flags)`, { cause: e }) : (e as Error);
    process.stderr.write(`${err.name ?? 'Error'}: ${err.message}\n`);
    if (debug && err.stack) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}
