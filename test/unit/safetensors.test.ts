import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAX_HEADER_BYTES, parseSafetensors, serializeSafetensors, type RawTensor } from '../../src/model/safetensors.ts';
import { tensorF16Bits, tensorF32 } from '../../src/model/weights.ts';
import { f32ToBf16Bits, f32ToF16Bits } from '../../src/model/f16.ts';
import { SafetensorsError } from '../../src/errors.ts';

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function sample(): RawTensor[] {
  const a = Float32Array.of(1, -2.5, 3.25, 0, 1e-3, 65504); // (2, 3)
  const h = Uint16Array.from([0.5, -1, 2049, 1e-7].map(f32ToF16Bits)); // (4)
  const b = Uint16Array.from([3.140625, -0.0078125].map(f32ToBf16Bits)); // (1, 2)
  return [
    { name: 'a', dtype: 'F32', shape: [2, 3], data: bytesOf(a) },
    { name: 'half', dtype: 'F16', shape: [4], data: bytesOf(h) },
    { name: 'brain', dtype: 'BF16', shape: [1, 2], data: bytesOf(b) },
  ];
}

/** A file with a hand-written header and data section. */
function file(header: unknown, data = new Uint8Array(0), lengthOverride?: number): Uint8Array {
  const head = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + head.length + data.length);
  new DataView(out.buffer).setUint32(0, lengthOverride ?? head.length, true);
  out.set(head, 8);
  out.set(data, 8 + head.length);
  return out;
}

describe('safetensors round trip', () => {
  it('serializes and parses back names, dtypes, shapes and bytes; tensor data starts 8-aligned', () => {
    const bytes = serializeSafetensors(sample(), { format: 'pt' });
    const n = new DataView(bytes.buffer).getUint32(0, true);
    expect(n % 8).toBe(0);
    const back = parseSafetensors(bytes, 'x.safetensors');
    expect([...back.keys()]).toEqual(['a', 'half', 'brain']);
    for (const t of sample()) {
      const b = back.get(t.name)!;
      expect([b.dtype, b.shape]).toEqual([t.dtype, t.shape]);
      expect(b.data).toEqual(t.data);
    }
    expect([...tensorF32(back.get('a')!)]).toEqual([1, -2.5, 3.25, 0, Math.fround(1e-3), 65504]);
    // f16: 2049 rounds to 2048 (11-bit mantissa), 1e-7 to the nearest subnormal 2^-24 * 2
    expect([...tensorF32(back.get('half')!)]).toEqual([0.5, -1, 2048, 2 ** -23]);
    expect([...tensorF32(back.get('brain')!)]).toEqual([3.140625, -0.0078125]);
    expect([...tensorF16Bits(back.get('a')!)]).toEqual([1, -2.5, 3.25, 0, 1e-3, 65504].map(f32ToF16Bits));
    expect([...tensorF16Bits(back.get('brain')!)]).toEqual([3.140625, -0.0078125].map(f32ToF16Bits));
  });
});

describe('malformed safetensors end in a SafetensorsError naming file and tensor', () => {
  const good = { t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const cases: [string, Uint8Array, RegExp][] = [
    ['shorter than the length field', new Uint8Array(5), /bad\.safetensors: file is 5 bytes/],
    ['header length beyond the file', file(good, new Uint8Array(8), 10_000), /header length 10000 runs past the end/],
    ['header length beyond the limit (refused before allocating)', file(good, new Uint8Array(8), 0xffffffff), new RegExp(`exceeds the limit of ${MAX_HEADER_BYTES}`)],
    ['invalid JSON', file('{"t": {', new Uint8Array(8)), /header is not valid JSON/],
    ['header not an object', file('[1, 2]'), /expected a JSON object/],
    ['unsupported dtype', file({ t: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)), /tensor "t": dtype "I64" is not supported/],
    ['shape not matching the byte length', file({ t: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)), /tensor "t": F32 \[3\] needs 12 bytes but data_offsets span 8/],
    ['offsets outside the data', file({ t: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Uint8Array(8)), /tensor "t": data_offsets \[4, 12\] run past the 8-byte data section/],
    ['offsets reversed', file({ t: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, new Uint8Array(8)), /tensor "t": data_offsets \[8,4\]/],
    ['overlapping tensors', file({ t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, u: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /tensor "u" data_offsets \[4, 8\] overlap tensor "t"/],
    ['negative dimension', file({ t: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, new Uint8Array(8)), /tensor "t": shape \[-2\]/],
    ['bad metadata', file({ __metadata__: { n: 1 }, ...good }, new Uint8Array(8)), /__metadata__/],
    ['invalid UTF-8', file('{"\xff', new Uint8Array(0)).map((b, i) => (i === 10 ? 0xff : b)), /not valid UTF-8|not valid JSON/],
  ];
  for (const [what, bytes, msg] of cases) {
    it(what, () => {
      expect(() => parseSafetensors(bytes, 'bad.safetensors')).toThrow(SafetensorsError);
      expect(() => parseSafetensors(bytes, 'bad.safetensors')).toThrow(msg);
    });
  }

  it('every truncation of a valid file is refused (or, at the exact end, accepted)', () => {
    const bytes = serializeSafetensors(sample());
    for (let cut = 0; cut < bytes.length; cut++) {
      expect(() => parseSafetensors(bytes.subarray(0, cut), 'cut.safetensors'), `cut at ${cut}`).toThrow(SafetensorsError);
    }
    expect(parseSafetensors(bytes).size).toBe(3);
  });

  it('every single flipped header byte ends in a SafetensorsError or a valid parse', () => {
    const bytes = serializeSafetensors(sample());
    const n = new DataView(bytes.buffer).getUint32(0, true);
    let errors = 0;
    for (let i = 0; i < 8 + n; i++) {
      for (const mask of [0x01, 0x20, 0x80]) {
        const b = bytes.slice();
        b[i] ^= mask;
        try {
          parseSafetensors(b);
        } catch (e) {
          expect(e).toBeInstanceOf(SafetensorsError);
          errors++;
        }
      }
    }
    expect(errors).toBeGreaterThan(0);
  });
});

describe('safetensors fuzzing (fast-check)', () => {
  it('arbitrary bytes, arbitrary headers and mutated valid files end in a result or a SafetensorsError', () => {
    let cases = 0;
    const valid = serializeSafetensors(sample());
    const entry = fc.record({
      dtype: fc.oneof(fc.constantFrom('F32', 'F16', 'BF16', 'I8', 'F64'), fc.jsonValue()),
      shape: fc.oneof(fc.array(fc.integer({ min: -2, max: 10 }), { maxLength: 4 }), fc.jsonValue()),
      data_offsets: fc.oneof(fc.tuple(fc.nat(80), fc.nat(80)), fc.jsonValue()),
    });
    const headerFile = fc.tuple(fc.dictionary(fc.string(), fc.oneof(entry, fc.jsonValue())), fc.uint8Array({ maxLength: 80 })).map(([h, d]) => file(h, d));
    const mutated = fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 }), fc.nat(valid.length)).map(([i, x, cut]) => {
      const b = valid.slice(0, Math.max(cut, i + 1));
      b[i] ^= x;
      return b;
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), headerFile, mutated), (bytes) => {
        cases++;
        try {
          const tensors = parseSafetensors(bytes, 'fuzz.safetensors');
          // a valid result never reads outside the file
          for (const t of tensors.values()) expect(t.data.buffer).toBe(bytes.buffer);
          return true;
        } catch (e) {
          return e instanceof SafetensorsError;
        }
      }),
      { numRuns: 20000, seed: 2 },
    );
    expect(cases).toBe(20000);
    console.log(`parseSafetensors fuzz: ${cases} cases`);
  });
});
