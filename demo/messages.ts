/**
 * What a user should read when something fails: the engine's named errors (src/errors.ts)
 * mapped to a sentence saying what happened and what to do, followed by the engine's own
 * message (which names the file, field or value).
 */
const hints: Record<string, string> = {
  WebGPUUnavailableError: 'WebGPU is not available here. Use a recent Chrome or Edge (113+) with hardware acceleration on, or enable WebGPU in chrome://flags.',
  GpuLimitsError: 'This GPU adapter is too small for the model (its buffer or binding limits are below what the model needs). Pick a smaller model or f16 weights.',
  GpuOutOfMemoryError: 'The GPU ran out of memory loading the model. Pick a smaller model, f16 weights, or close other GPU-heavy tabs.',
  DeviceLostError: 'The GPU device was lost (driver reset or another tab took it). Load the model again.',
  ModelSourceError: 'A model file could not be downloaded or read. Check the model id or URL, and that the model is public.',
  ConfigError: 'The model\'s config.json describes something treespec cannot run (it supports Llama, Qwen2, Mistral and SmolLM).',
  SafetensorsError: 'The model\'s weights file is malformed or does not match its config.json.',
  TokenizerError: 'The model\'s tokenizer files are missing or malformed.',
  ContextLengthError: 'The prompt plus the requested tokens do not fit the model\'s context. Shorten the prompt or lower max tokens.',
  OptionsError: 'A generation setting is out of range.',
  WorkerError: 'The engine worker stopped. Load the model again.',
};

/** A message for the page: the hint for the error's class, then its own message. */
export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const hint = hints[e.name];
  const own = `${e.name}: ${e.message}`;
  return hint ? `${hint}\n${own}` : own;
}
