/**
 * Errors across the worker boundary (issue 22): they revive as instances of the library's
 * classes by the `name` each class states, so a consumer's minifier renaming the classes
 * (constructor.name becomes "e") changes nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as errors from '../../src/errors';
import * as lib from '../../src/index';
import * as client from '../../src/worker/client';
import { errorClassesByName, reviveError, serializeError } from '../../src/worker/errors';

type Cls = new (m: string) => Error;

/** Every exported error class of the library. */
const exported = Object.values(lib as Record<string, unknown>).filter((v): v is Cls => typeof v === 'function' && v.prototype instanceof Error);

/** A message's round trip: serialized in the worker, structured-cloned, revived on the page. */
function roundTrip(e: Error): Error {
  return reviveError(structuredClone(serializeError(e)));
}

describe('worker errors', () => {
  const renamed: [Cls, PropertyDescriptor][] = [];
  afterEach(() => {
    for (const [c, d] of renamed.splice(0)) Object.defineProperty(c, 'name', d);
  });

  it('revive as instances of every exported class', () => {
    expect(exported.length).toBeGreaterThan(10);
    for (const Cls of exported) {
      const original = new Cls('it broke');
      const back = roundTrip(original);
      expect(back, original.name).toBeInstanceOf(Cls);
      expect(back).toBeInstanceOf(errors.TreespecError);
      expect([back.name, back.message, back.stack]).toEqual([original.name, 'it broke', original.stack]);
    }
  });

  it('find their classes by the names instances carry, not by constructor.name, which minifiers rename', () => {
    for (const c of exported) {
      renamed.push([c, Object.getOwnPropertyDescriptor(c, 'name')!]);
      Object.defineProperty(c, 'name', { value: 'e' });
    }
    const table = errorClassesByName();
    for (const Cls of exported) expect(table.get(new Cls('').name), new Cls('').name).toBe(Cls);
  });

  it('WorkerError has its own name and is exported by both entry points', () => {
    expect(client.WorkerError).toBe(lib.WorkerError);
    expect(new lib.WorkerError('x').name).toBe('WorkerError');
    expect(roundTrip(new lib.WorkerError('gone'))).toBeInstanceOf(lib.WorkerError);
  });

  it('keep ModelSourceError fields; an internal class revives as a TreespecError; foreign errors stay plain', () => {
    const back = roundTrip(new errors.ModelSourceError('m', 'config.json', 404)) as errors.ModelSourceError;
    expect([back.file, back.status]).toEqual(['config.json', 404]);
    class InternalError extends errors.TreespecError {
      override name = 'InternalError';
    }
    const internal = roundTrip(new InternalError('bug'));
    expect(internal).toBeInstanceOf(errors.TreespecError);
    expect(internal.name).toBe('InternalError');
    const plain = roundTrip(new TypeError('x is undefined'));
    expect(plain).not.toBeInstanceOf(errors.TreespecError);
    expect(plain.name).toBe('TypeError');
  });
});
