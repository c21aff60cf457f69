/**
 * The catalogue of named errors (issue 9): every class has its own `name`, is a TreespecError
 * (and an Error), keeps `cause`, and the public ones are exported by the library. Then a few
 * representative throw sites, one per family, checked for messages that name the file, field
 * or value and what was expected. The fuzzing of the parsers and the network failures live in
 * safetensors/config/source tests; GPU and engine throw sites in test/gpu/robustness*.test.ts.
 */
import { describe, expect, it } from 'vitest';
import * as lib from '../../src/index';
import * as errors from '../../src/errors';
import { TreespecError, show } from '../../src/errors';
import { WebGPUUnavailableError } from '../../src/gpu/device';
import { OpShapeError, ReadbackStateError, ShaderCompileError, ShaderNotFoundError } from '../../src/gpu/errors';
import { TreeError } from '../../src/tree/validate';
import { VerifyError } from '../../src/verify/accept';
import { KvCommitError } from '../../src/kv/cache';
import { RecyclingStateError } from '../../src/draft/recycling';
import { parseConfig } from '../../src/model/config';
import { parseSafetensors } from '../../src/model/safetensors';
import { loadModelFiles } from '../../src/model/weights';
import { MemorySource } from '../../src/model/source';
import { FIXTURE_SHAPES, makeFixture } from '../../src/model/fixture';
import { Tokenizer } from '../../src/tokenizer/tokenizer';
import { engineDefaults, resolveGenerateOptions } from '../../src/engine/options';
import { createDrafter, type DrafterFactoryContext } from '../../src/engine/strategies';
import { checkBufferLimits } from '../../src/gpu/limits';
import { DeviceWatch } from '../../src/engine/device-loss';
import { WorkerError } from '../../src/worker/errors';

/** Classes of src/errors.ts, by the name they must report. */
const publicClasses = Object.entries(errors).filter(([k, v]) => typeof v === 'function' && k.endsWith('Error')) as [string, typeof TreespecError][];
const internalClasses: [string, typeof TreespecError][] = Object.entries({
  WebGPUUnavailableError, ShaderNotFoundError, ShaderCompileError, OpShapeError, ReadbackStateError, TreeError, VerifyError, KvCommitError, RecyclingStateError, WorkerError,
});

/** Runs `f` and returns what it threw (fails when it does not throw). */
function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

async function rejected(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: Error) => e,
  );
}

const fixture = () => makeFixture(FIXTURE_SHAPES.tiny, 1);
const configOf = (files: Map<string, Uint8Array>) => JSON.parse(new TextDecoder().decode(files.get('config.json')!)) as Record<string, unknown>;

describe('error classes', () => {
  it('src/errors.ts defines the classes issues 9 and 20 ask for', () => {
    expect(publicClasses.map(([k]) => k).sort()).toEqual(
      ['AbortedError', 'ConfigError', 'ContextLengthError', 'DeviceLostError', 'EngineBusyError', 'EngineDestroyedError', 'GpuLimitsError', 'GpuOutOfMemoryError', 'ModelError', 'ModelSourceError', 'ModelTooLargeError', 'OptionsError', 'SafetensorsError', 'TokenizerError', 'TreespecError'].sort(),
    );
  });

  for (const [key, Cls] of [...publicClasses, ...internalClasses]) {
    it(`${key}: its own name, a TreespecError, keeps message and cause`, () => {
      const cause = new Error('root cause');
      const e = key === 'ModelSourceError' ? new errors.ModelSourceError('msg', 'config.json', 404, { cause }) : new Cls('msg', { cause });
      expect(e.name).toBe(key);
      expect(e).toBeInstanceOf(Error);
      expect(e).toBeInstanceOf(TreespecError);
      expect(e).toBeInstanceOf(Cls);
      expect(e.message).toBe('msg');
      expect(e.cause).toBe(cause);
      expect(String(e)).toBe(`${key}: msg`);
      expect(e.stack).toBeTruthy();
    });
  }

  it('subclasses are told apart: no class is an instance of a sibling', () => {
    const all = [...publicClasses, ...internalClasses].filter(([k]) => k !== 'TreespecError');
    for (const [a, A] of all) for (const [b, B] of all) if (a !== b) expect(new A('x', {}) instanceof B, `${a} instanceof ${b}`).toBe(false);
  });

  it('the library exports every public error class, WebGPUUnavailableError and WorkerError', () => {
    for (const [key, Cls] of publicClasses) expect((lib as Record<string, unknown>)[key], key).toBe(Cls);
    expect(lib.WebGPUUnavailableError).toBe(WebGPUUnavailableError);
    expect(lib.WorkerError).toBe(WorkerError);
  });

  it('ModelSourceError carries the file and HTTP status', () => {
    const e = new errors.ModelSourceError('https://x/config.json: HTTP 404', 'config.json', 404);
    expect([e.file, e.status]).toEqual(['config.json', 404]);
    expect(new errors.ModelSourceError('m', 'a.safetensors').status).toBeNull();
  });

  it('show() cuts long values and survives values JSON cannot encode', () => {
    expect(show('x'.repeat(200)).length).toBeLessThanOrEqual(83);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(show(cyclic)).toBe('[object Object]');
    expect(show(10n)).toBe('10');
  });
});

describe('representative throw sites name the file, field and value', () => {
  it('config.json: heads not dividing the hidden size', () => {
    const e = thrown(() => parseConfig({ ...configOf(fixture()), num_attention_heads: 5 }));
    expect(e).toBeInstanceOf(errors.ConfigError);
    expect(e.message).toMatch(/config\.json/);
    expect(e.message).toMatch(/num_attention_heads/);
    expect(e.message).toMatch(/5/);
  });

  it('config.json: unsupported architecture', () => {
    const e = thrown(() => parseConfig({ ...configOf(fixture()), model_type: 'gpt_neox' }, 'models/x/config.json'));
    expect(e).toBeInstanceOf(errors.ConfigError);
    expect(e.message).toMatch(/models\/x\/config\.json/);
    expect(e.message).toMatch(/model_type.*gpt_neox/);
  });

  it('safetensors: header length past the end of the file, refused before allocating', () => {
    const bytes = new Uint8Array(16);
    new DataView(bytes.buffer).setUint32(0, 1_000_000, true);
    const e = thrown(() => parseSafetensors(bytes, 'shard-2.safetensors'));
    expect(e).toBeInstanceOf(errors.SafetensorsError);
    expect(e.message).toBe('shard-2.safetensors: header length 1000000 runs past the end of the 16-byte file');
  });

  it('safetensors: a tensor of the wrong shape for the config', async () => {
    const files = fixture();
    files.set('config.json', new TextEncoder().encode(JSON.stringify({ ...configOf(files), intermediate_size: 161 })));
    const e = await rejected(loadModelFiles(new MemorySource(files)));
    expect(e).toBeInstanceOf(errors.SafetensorsError);
    expect(e.message).toMatch(/model\.safetensors: tensor "model\.layers\.0\.mlp\.\w+_proj\.weight" has shape \[.*\], expected \[.*161.*\] from the config/);
  });

  it('tokenizer: malformed tokenizer.json and a vocabulary larger than the model', () => {
    const bad = thrown(() => Tokenizer.fromFiles({ model: 42 }, null));
    expect(bad).toBeInstanceOf(errors.TokenizerError);
    expect(bad.message).toMatch(/tokenizer/);
    const files = fixture();
    const json = JSON.parse(new TextDecoder().decode(files.get('tokenizer.json')!));
    const small = parseConfig({ ...configOf(files), vocab_size: 100 });
    const e = thrown(() => Tokenizer.fromFiles(json, null, small));
    expect(e).toBeInstanceOf(errors.TokenizerError);
    expect(e.message).toMatch(/tokenizer\.json has \d+ ids but the model's vocab_size is 100/);
  });

  it('model source: a missing file names the source and the file', async () => {
    const files = fixture();
    files.delete('tokenizer.json');
    const e = await rejected(loadModelFiles(new MemorySource(files)));
    expect(e).toBeInstanceOf(errors.TreespecError);
    expect(e.message).toMatch(/tokenizer\.json/);
  });

  it('generate options: field, value and the expected range', () => {
    const cases: [object, RegExp][] = [
      [{ maxTokens: 0 }, /"maxTokens" is 0; expected an integer >= 1/],
      [{ temperature: Number.NaN }, /"temperature" is NaN; expected a number >= 0/],
      [{ topP: 1.5 }, /"topP" is 1\.5; expected a number in \(0, 1\]/],
      [{ topK: -1 }, /"topK" is -1/],
      [{ repetitionPenalty: 0 }, /"repetitionPenalty" is 0/],
      [{ seed: 0.5 }, /"seed" is 0\.5; expected an integer/],
      [{ treeBudget: 20 }, /"treeBudget" is 20; expected an integer in \[0, 16\]/],
      [{ stop: [''] }, /"stop" is \[""\]; expected an array of non-empty strings/],
      [{ documents: ['x'.repeat(engineDefaults.maxDocumentChars + 1)] }, new RegExp(`"documents" is "${engineDefaults.maxDocumentChars + 1} characters"; expected at most ${engineDefaults.maxDocumentChars}`)],
    ];
    for (const [o, message] of cases) {
      const e = thrown(() => resolveGenerateOptions(o, 16));
      expect(e, JSON.stringify(o)).toBeInstanceOf(errors.OptionsError);
      expect(e.message).toMatch(message);
    }
  });

  it('strategy: an unknown name lists the known ones', async () => {
    const e = await rejected(createDrafter('telepathy', {} as DrafterFactoryContext));
    expect(e).toBeInstanceOf(errors.OptionsError);
    expect(e.message).toMatch(/"strategy" is "telepathy"; expected one of ar, .*lookup/);
  });

  it('GPU limits: the buffer, its bytes and both adapter limits', () => {
    const e = thrown(() => checkBufferLimits([{ label: 'kv.k0', bytes: 300_000_000, binding: true }], { maxStorageBufferBindingSize: 134_217_728, maxBufferSize: 268_435_456 }));
    expect(e).toBeInstanceOf(errors.GpuLimitsError);
    expect(e.message).toMatch(/buffer "kv\.k0" needs 300000000 bytes \(286\.1 MiB\); this adapter allows maxStorageBufferBindingSize = 134217728 \(128\.0 MiB\) and maxBufferSize = 268435456 \(256\.0 MiB\)/);
    // A buffer that is never bound only needs maxBufferSize.
    expect(() => checkBufferLimits([{ label: 'staging', bytes: 200_000_000, binding: false }], { maxStorageBufferBindingSize: 134_217_728, maxBufferSize: 268_435_456 })).not.toThrow();
  });

  it('device loss: a readback that never settles on a lost device rejects with DeviceLostError naming the reason', async () => {
    let lose!: (info: GPUDeviceLostInfo) => void;
    const device = { lost: new Promise<GPUDeviceLostInfo>((r) => (lose = r)) } as GPUDevice;
    const watch = new DeviceWatch(device);
    expect(await watch.guard(async () => 7)).toBe(7);
    const hanging = watch.guard(() => new Promise<never>(() => {}));
    lose({ reason: 'destroyed', message: 'Device was destroyed.' } as GPUDeviceLostInfo);
    const e = await rejected(hanging);
    expect(e).toBeInstanceOf(errors.DeviceLostError);
    expect(e.message).toMatch(/lost \(reason "destroyed": Device was destroyed\.\).*Engine\.load/);
    // Later calls fail at once without running.
    let ran = false;
    const later = await rejected(watch.guard(async () => (ran = true)));
    expect(later).toBeInstanceOf(errors.DeviceLostError);
    expect(ran).toBe(false);
  });

  it('device loss: a readback failing just before device.lost resolves is reported as the loss', async () => {
    let lose!: (info: GPUDeviceLostInfo) => void;
    const watch = new DeviceWatch({ lost: new Promise<GPUDeviceLostInfo>((r) => (lose = r)) } as GPUDevice);
    const p = watch.guard(async () => {
      setTimeout(() => lose({ reason: 'unknown', message: '' } as GPUDeviceLostInfo), 20);
      throw new DOMException('', 'AbortError');
    });
    const e = await rejected(p);
    expect(e).toBeInstanceOf(errors.DeviceLostError);
    expect(e.cause).toBeInstanceOf(DOMException);
    // Our own errors on a healthy device pass through unchanged and at once.
    const healthy = new DeviceWatch({ lost: new Promise<GPUDeviceLostInfo>(() => {}) } as GPUDevice);
    const own = new errors.OptionsError('bad');
    expect(await rejected(healthy.guard(async () => { throw own; }))).toBe(own);
  });
});
