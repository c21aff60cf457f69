/**
 * Every flag of every command, in one place: the same tables configure node:util parseArgs and
 * print `treespec help` (README.md's command-line section holds that text, checked by
 * test/unit/cli-help.test.ts). `dflt` says what an absent flag means.
 */
interface Flag {
  type: 'string' | 'boolean';
  multiple?: boolean;
  /** Placeholder of the value in the help (string flags). */
  value?: string;
  /** What an absent flag means. */
  dflt: string;
  help: string;
}

const debug = { type: 'boolean', dflt: 'off', help: 'print the stack trace of an error' } as const satisfies Flag;
const force = { type: 'boolean', dflt: 'off', help: 'replace an existing model in --out (never the input)' } as const satisfies Flag;

export const generateFlags = {
  model: { type: 'string', value: 'DIR_OR_URL', dflt: 'required', help: 'model folder or URL base (Hugging Face layout)' },
  prompt: { type: 'string', value: 'TEXT', dflt: 'required', help: 'the prompt' },
  'max-tokens': { type: 'string', value: 'N', dflt: '128', help: 'tokens to generate at most' },
  temperature: { type: 'string', value: 'T', dflt: '0 (greedy)', help: 'sampling temperature' },
  'top-k': { type: 'string', value: 'K', dflt: '0 (off)', help: 'sample among the K most likely tokens' },
  'top-p': { type: 'string', value: 'P', dflt: '1 (off)', help: 'nucleus sampling mass' },
  'repetition-penalty': { type: 'string', value: 'R', dflt: '1 (off)', help: 'CTRL repetition penalty' },
  seed: { type: 'string', value: 'S', dflt: '0', help: 'seed of sampling and random drafters' },
  strategy: { type: 'string', value: 'NAME', dflt: 'auto', help: 'ar, auto, auto:NAME[,NAME...], self, random, lookup, recycling, aded, ngram, retrieval, early-exit, cross-vocab, draft, fusion, hydra (when the model has heads), diffusion (when it has a block drafter)' },
  'tree-budget': { type: 'string', value: 'N', dflt: '16', help: 'draft tree nodes per step (not with --strategy ar)' },
  device: { type: 'string', value: 'gpu|cpu', dflt: 'gpu', help: 'cpu: the TypeScript reference, plain decoding only' },
  weights: { type: 'string', value: 'f16|f32|q8|q4|auto', dflt: 'f16', help: 'weight storage on the GPU (the CPU computes with the same values); auto: the most precise that fits' },
  'kv-dtype': { type: 'string', value: 'f32|f16', dflt: 'follows --weights', help: 'KV cache storage: f32 for f32 weights, else f16 (half the memory; K and V rounded to f16, on the CPU too)' },
  'memory-budget': { type: 'string', value: 'BYTES', dflt: 'unchecked', help: 'GPU memory the model may take in all; refused before loading when the estimate exceeds it' },
  'max-context': { type: 'string', value: 'N', dflt: 'min(max_position_embeddings, 2048)', help: 'prompt + output tokens, at most max_position_embeddings' },
  'steps-ahead': { type: 'string', value: 'N', dflt: '2 (1 on a software adapter)', help: 'steps in flight (1..8) of ar, draft and greedy hydra (no repetition penalty): the next step is encoded before this one is read back' },
  chat: { type: 'boolean', dflt: 'off', help: "apply the model's chat template to the prompt" },
  documents: { type: 'string', multiple: true, value: 'FILE', dflt: 'none', help: 'text for retrieval drafting (retrieval, fusion, auto); repeatable' },
  draft: { type: 'string', value: 'DIR', dflt: 'none', help: 'draft model for draft, fusion, auto (same tokenizer) or cross-vocab (any tokenizer)' },
  'vocab-trim': { type: 'string', value: 'N', dflt: 'off', help: "keep the draft's N most counted tokens (DIR/vocab-counts.json); needs --draft" },
  json: { type: 'boolean', dflt: 'off', help: 'print {"text","tokens","stats"} as JSON' },
  profile: { type: 'boolean', dflt: 'off', help: 'time every GPU kernel: per step in the --json stats, a table on stderr' },
  debug,
} as const satisfies Record<string, Flag>;

export const fixtureFlags = {
  out: { type: 'string', value: 'DIR', dflt: 'required', help: 'folder to write the model into' },
  vocab: { type: 'string', value: 'N', dflt: '32000', help: 'vocabulary size' },
  hidden: { type: 'string', value: 'N', dflt: '256', help: 'hidden size' },
  intermediate: { type: 'string', value: 'N', dflt: '688', help: 'MLP size' },
  layers: { type: 'string', value: 'N', dflt: '4', help: 'layers' },
  heads: { type: 'string', value: 'N', dflt: '4', help: 'attention heads' },
  'kv-heads': { type: 'string', value: 'N', dflt: '--heads', help: 'key/value heads (grouped-query attention)' },
  'head-dim': { type: 'string', value: 'N', dflt: 'hidden / heads', help: 'width of a head' },
  'max-positions': { type: 'string', value: 'N', dflt: '2048', help: 'max_position_embeddings' },
  'model-type': { type: 'string', value: 'llama|qwen2|mistral', dflt: 'llama', help: 'architecture' },
  dtype: { type: 'string', value: 'f32|f16|bf16', dflt: 'f16', help: 'weight file dtype' },
  bias: { type: 'boolean', dflt: 'off', help: 'q/k/v biases (qwen2 only)' },
  untied: { type: 'boolean', dflt: 'off (tied)', help: 'a separate LM head' },
  seed: { type: 'string', value: 'S', dflt: '1', help: 'seed of the random weights' },
  force,
  debug,
} as const satisfies Record<string, Flag>;

export const vocabCountsFlags = {
  model: { type: 'string', value: 'TARGET_DIR', dflt: 'required', help: "the target model: its greedy predictions are counted" },
  text: { type: 'string', multiple: true, value: 'FILE', dflt: 'required', help: 'calibration text; repeatable' },
  out: { type: 'string', value: 'FILE', dflt: 'required', help: "the counts file (ship it as the draft's vocab-counts.json)" },
  'max-bytes': { type: 'string', value: 'N', dflt: 'whole file', help: 'bytes read from the start of each text' },
  window: { type: 'string', value: 'N', dflt: '256', help: 'tokens per teacher-forced pass' },
  weights: { type: 'string', value: 'f32|f16', dflt: 'f32', help: 'weight storage on the GPU' },
  force: { type: 'boolean', dflt: 'off', help: 'replace an existing --out file' },
  debug,
} as const satisfies Record<string, Flag>;

export const quantizeFlags = {
  model: { type: 'string', value: 'DIR_OR_URL', dflt: 'required', help: 'the model to quantize' },
  to: { type: 'string', value: 'q8|q4', dflt: 'required', help: 'block quantization (docs/quantization.md)' },
  out: { type: 'string', value: 'DIR', dflt: 'required', help: 'folder to write the quantized model into (not inside --model)' },
  force,
  debug,
} as const satisfies Record<string, Flag>;

export const inspectFlags = {
  model: { type: 'string', value: 'DIR_OR_URL', dflt: 'required', help: 'model folder or URL base (reads config.json and the safetensors headers only)' },
  'max-context': { type: 'string', value: 'N', dflt: 'min(max_position_embeddings, 2048)', help: 'a context to estimate besides the default one' },
  'kv-dtype': { type: 'string', value: 'f32|f16', dflt: 'per format', help: 'KV cache storage of the estimates: f32 for f32 weights, else f16 (as generate --kv-dtype)' },
  json: { type: 'boolean', dflt: 'off', help: 'print the shape, parameters, stored weights and estimates (bytes) as JSON' },
  debug,
} as const satisfies Record<string, Flag>;

export const commands = {
  generate: { flags: generateFlags, summary: 'generate text on the GPU engine or the CPU reference' },
  fixture: { flags: fixtureFlags, summary: 'write a seeded random-weight model in the Hugging Face layout' },
  'vocab-counts': { flags: vocabCountsFlags, summary: "VocabTrim counts of the target's greedy predictions" },
  quantize: { flags: quantizeFlags, summary: 'write the pre-quantized form of a model, loaded as stored by --weights q8|q4' },
  inspect: { flags: inspectFlags, summary: 'shape, parameters and GPU memory per weight format, without downloading weights' },
} as const;

export type CommandName = keyof typeof commands;

export function isCommand(name: string): name is CommandName {
  return Object.hasOwn(commands, name);
}

/** The help of one command: every flag with its value, default and meaning. */
export function commandUsage(name: CommandName): string {
  const { flags, summary } = commands[name];
  const rows = Object.entries(flags as Record<string, Flag>).map(([flag, f]) => [`--${flag}${f.value ? ` ${f.value}` : ''}`, f.dflt, f.help]);
  rows.push(['-h, --help', '', 'this help']);
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  const lines = rows.map(([a, b, c]) => `  ${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}`.trimEnd());
  return `treespec ${name}: ${summary}\n\n  ${'flag'.padEnd(w0)}  ${'default'.padEnd(w1)}  meaning\n${lines.join('\n')}\n`;
}

/** `treespec help`: the commands, then each command's help. */
export function usage(): string {
  const names = Object.keys(commands) as CommandName[];
  const head = `treespec — speculative decoding on WebGPU\n\nusage: treespec COMMAND [flags]   (treespec COMMAND --help: that command's flags)\n\n${names.map((n) => `  ${n.padEnd(13)} ${commands[n].summary}`).join('\n')}\n  help          this text\n\n  treespec --version prints the package version.\n`;
  return [head, ...names.map(commandUsage)].join('\n');
}
