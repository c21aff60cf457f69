/**
 * Errors of the GPU layer. They extend the project's TreespecError (src/errors.ts) so callers
 * can tell a diagnosed failure from a bug.
 */
import { TreespecError } from '../errors.ts';

/** A shader name (or an `//#include`) names no file under shaders/. */
export class ShaderNotFoundError extends TreespecError {
  override name = 'ShaderNotFoundError';
}

/** A shader failed to compile; the message holds the compiler's messages with line numbers. */
export class ShaderCompileError extends TreespecError {
  override name = 'ShaderCompileError';
}

/** An op was constructed with inconsistent sizes, or encoded with a row count out of range. */
export class OpShapeError extends TreespecError {
  override name = 'OpShapeError';
}

/** A readback slot was reused before it was read, or read before anything was copied into it. */
export class ReadbackStateError extends TreespecError {
  override name = 'ReadbackStateError';
}
