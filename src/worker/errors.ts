/**
 * Errors across the worker boundary. structuredClone keeps an Error's message but not its
 * class, so the worker sends the name and the client rebuilds an instance of the same named
 * class: `err instanceof ModelSourceError` works on the main thread as it does in the worker.
 * Classes are found by the `name` each one states as a string literal (src/errors.ts), never by
 * constructor.name, which a minifying bundler renames.
 */
import * as named from '../errors';
import { OptionsError } from '../engine/options';
import { WebGPUUnavailableError } from '../gpu/device';
import type { SerializedError } from './protocol';

/** The worker stopped (a crash, an uncaught error, or terminate()); the engine must be loaded again. */
export class WorkerError extends named.TreespecError {
  override name = 'WorkerError';
}

type ErrorClass = new (message: string) => Error;

function isErrorClass(v: unknown): v is ErrorClass {
  return typeof v === 'function' && v.prototype instanceof Error;
}

/**
 * Every named error a worker may send, by the name its instances carry (later entries win:
 * options.ts's OptionsError is the one the engine throws).
 */
export function errorClassesByName(): Map<string, ErrorClass> {
  const all = [...Object.values(named as Record<string, unknown>).filter(isErrorClass), OptionsError, WebGPUUnavailableError, WorkerError];
  return new Map(all.map((c) => [new c('').name, c]));
}

const classes = errorClassesByName();

export function serializeError(e: unknown): SerializedError {
  if (!(e instanceof Error)) return { name: 'Error', message: String(e) };
  const s: SerializedError = { name: e.name, message: e.message, stack: e.stack, treespec: e instanceof named.TreespecError };
  if (e instanceof named.ModelSourceError) {
    s.file = e.file;
    s.status = e.status;
  }
  return s;
}

/**
 * An Error of the named class. A name this side does not export (an internal error class)
 * revives as a TreespecError when it was one, else as a plain Error; the name is kept.
 */
export function reviveError(s: SerializedError): Error {
  const e = new Error(s.message);
  const cls = classes.get(s.name) ?? (s.treespec ? named.TreespecError : undefined);
  if (cls) Object.setPrototypeOf(e, cls.prototype);
  // Own properties, so the revived error prints and compares like the original.
  Object.assign(e, { name: s.name, stack: s.stack ?? e.stack });
  if (s.file !== undefined) Object.assign(e, { file: s.file, status: s.status ?? null });
  return e;
}
