/**
 * Named errors of treespec (issue 9). Every message says which file, field or value was wrong
 * and what was expected, so a user pointing treespec at an arbitrary download can act on it.
 * Callers (CLI, demo) print `err.name: err.message`; `instanceof TreespecError` separates our
 * diagnosed failures from bugs.
 */

/** Base of every error treespec throws on purpose. */
export class TreespecError extends Error {
  // Each subclass states its name as a string literal: class names do not survive minifying
  // bundlers, and callers tell errors apart by name (also across a worker boundary).
  override name = 'TreespecError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** config.json: unsupported architecture, missing/inconsistent/absurd sizes. */
export class ConfigError extends TreespecError {
  override name = 'ConfigError';
}

/** A .safetensors file or its shard index: malformed header, bad offsets, dtype/shape, missing/extra tensors. */
export class SafetensorsError extends TreespecError {
  override name = 'SafetensorsError';
}

/** tokenizer.json / tokenizer_config.json missing or malformed, or vocabulary mismatch. */
export class TokenizerError extends TreespecError {
  override name = 'TokenizerError';
}

/** The model's values are unusable: a weight holds NaN or infinity, or decoding produced non-finite logits. */
export class ModelError extends TreespecError {
  override name = 'ModelError';
}

/** A model file could not be obtained: missing file, HTTP error, truncated or corrupted download. */
export class ModelSourceError extends TreespecError {
  override name = 'ModelSourceError';
  constructor(
    message: string,
    /** The file (relative to the source) or URL concerned. */
    readonly file: string,
    /** HTTP status when the failure came from a response, else null. */
    readonly status: number | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A prompt or requested generation that does not fit the context (max positions / KV capacity). */
export class ContextLengthError extends TreespecError {
  override name = 'ContextLengthError';
}

/** An option of a request or of the engine is out of range (sampling, tree budget, limits). */
export class OptionsError extends TreespecError {
  override name = 'OptionsError';
}

/** The GPU adapter's limits are too small for the model (raised before allocating). */
export class GpuLimitsError extends TreespecError {
  override name = 'GpuLimitsError';
}

/**
 * The model's estimated GPU memory (src/model/memory.ts) exceeds a limit, found before any
 * weight is downloaded: an adapter's per-buffer limit (maxBufferSize,
 * maxStorageBufferBindingSize) or the caller's memoryBudget for the total.
 */
export class ModelTooLargeError extends TreespecError {
  override name = 'ModelTooLargeError';
  /** Bytes needed (the buffer's, or the total's for memoryBudget); 0 when not given. */
  readonly needed: number;
  /** Bytes the limit allows; 0 when not given. */
  readonly available: number;
  /** The limit: "memoryBudget", "maxBufferSize" or "maxStorageBufferBindingSize"; "" when not given. */
  readonly limit: string;

  constructor(message: string, options?: { cause?: unknown; needed?: number; available?: number; limit?: string }) {
    super(message, options);
    this.needed = options?.needed ?? 0;
    this.available = options?.available ?? 0;
    this.limit = options?.limit ?? '';
  }
}

/** Allocation on the GPU failed (out of memory). */
export class GpuOutOfMemoryError extends TreespecError {
  override name = 'GpuOutOfMemoryError';
}

/** The GPU device was lost while in use; the engine must be reloaded. */
export class DeviceLostError extends TreespecError {
  override name = 'DeviceLostError';
}

/** A generation stopped because its AbortSignal fired. */
export class AbortedError extends TreespecError {
  override name = 'AbortedError';
}

/** The engine was destroyed: the generation in flight (at its next step) and every queued or later one reject with this. */
export class EngineDestroyedError extends TreespecError {
  override name = 'EngineDestroyedError';
}

/** Two generate calls would interleave on one KV cache. */
export class EngineBusyError extends TreespecError {
  override name = 'EngineBusyError';
}

/** Shorthand for messages: a value as JSON, cut to a readable length. */
export function show(v: unknown, max = 80): string {
  let s: string;
  try {
    s = typeof v === 'string' ? JSON.stringify(v) : String(JSON.stringify(v) ?? v);
  } catch {
    s = String(v);
  }
  return s.length > max ? `${s.slice(0, max)}...` : s;
}
