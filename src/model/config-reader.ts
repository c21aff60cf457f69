/** Typed reads of config.json fields: each bad value is a ConfigError naming the file, field and value. */
import { ConfigError, show } from '../errors.ts';

export type Json = Record<string, unknown>;

export class ConfigReader {
  /** `prefix`: the path of this object inside config.json ("rope_parameters."), for messages. */
  constructor(readonly obj: Json, readonly file: string, readonly prefix = '') {}

  /** A reader of a nested object, whose fields are named `field.key` in messages. */
  child(obj: Json, field: string): ConfigReader {
    return new ConfigReader(obj, this.file, `${this.prefix}${field}.`);
  }

  fail(field: string, value: unknown, expected: string): never {
    throw new ConfigError(`${this.file}: field "${this.prefix}${field}" is ${show(value)}, expected ${expected}`);
  }

  has(field: string): boolean {
    return this.obj[field] !== undefined && this.obj[field] !== null;
  }

  int(field: string, max: number, fallback?: number): number {
    const v = this.has(field) ? this.obj[field] : fallback;
    if (v === undefined) this.fail(field, this.obj[field], `a positive integer (the field is required)`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) this.fail(field, v, `an integer in [1, ${max}]`);
    return v;
  }

  num(field: string, lo: number, hi: number, fallback?: number): number {
    const v = this.has(field) ? this.obj[field] : fallback;
    if (v === undefined) this.fail(field, this.obj[field], `a number (the field is required)`);
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= lo || v >= hi) this.fail(field, v, `a number in (${lo}, ${hi})`);
    return v;
  }

  bool(field: string, fallback: boolean): boolean {
    const v = this.has(field) ? this.obj[field] : fallback;
    if (typeof v !== 'boolean') this.fail(field, v, 'true or false');
    return v;
  }

  /** Token ids: null, one id, or a list of ids, each in [0, vocab). */
  ids(field: string, vocab: number): number[] {
    const v = this.obj[field];
    if (v === undefined || v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    for (const id of list) {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocab) {
        this.fail(field, v, `token ids in [0, ${vocab}) (vocab_size)`);
      }
    }
    return [...new Set(list as number[])];
  }
}
