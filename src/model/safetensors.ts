/**
 * safetensors reader and writer. Format (https://github.com/huggingface/safetensors, README
 * "Format"): u64 little-endian header length N; N bytes of UTF-8 JSON mapping tensor name ->
 * { dtype, shape, data_offsets: [begin, end] } (offsets relative to the byte after the header),
 * plus an optional "__metadata__" string map; then the raw little-endian tensor bytes.
 *
 * Every malformed input ends in a SafetensorsError naming the file and tensor; the header size
 * is checked against the file and a fixed limit before anything is allocated for it.
 */
import { SafetensorsError, show } from '../errors.ts';

/** U8 holds the packed words of block-quantized weights (src/model/quantize.ts, docs/quantization.md). */
export type Dtype = 'F32' | 'F16' | 'BF16' | 'U8';

export interface RawTensor {
  name: string;
  dtype: Dtype;
  /** Row-major dimensions as stored (HF weights are (out, in)). */
  shape: number[];
  /** (product(shape) * bytesPerElement) little-endian bytes; a view into the file, not aligned. */
  data: Uint8Array;
}

export const DTYPE_BYTES: Record<Dtype, number> = { F32: 4, F16: 2, BF16: 2, U8: 1 };

/** The reference implementation refuses headers above 100 MB (safetensors `MAX_HEADER_SIZE`). */
export const MAX_HEADER_BYTES = 100_000_000;

function fail(file: string, what: string): never {
  throw new SafetensorsError(`${file}: ${what}`);
}

/** Reads the u64 header length and checks it before any allocation. Returns N. */
export function headerLength(bytes: Uint8Array, file: string): number {
  if (bytes.length < 8) fail(file, `file is ${bytes.length} bytes, expected at least 8 (the header length)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, 8);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  const n = hi * 2 ** 32 + lo;
  if (n > MAX_HEADER_BYTES) fail(file, `header length ${n} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  if (8 + n > bytes.length) fail(file, `header length ${n} runs past the end of the ${bytes.length}-byte file`);
  if (n < 2) fail(file, `header length ${n} is too short for a JSON object`);
  return n;
}

function parseHeaderJson(bytes: Uint8Array, n: number, file: string): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    fail(file, 'header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(file, `header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail(file, `header is ${show(json)}, expected a JSON object`);
  return json as Record<string, unknown>;
}

interface Entry { name: string; dtype: Dtype; shape: number[]; begin: number; end: number }

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Validates one header entry against the data section length. */
function parseEntry(name: string, v: unknown, dataLen: number, file: string): Entry {
  const where = `tensor "${name}"`;
  if (name.length === 0) fail(file, 'a tensor has an empty name');
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(file, `${where}: entry is ${show(v)}, expected an object`);
  const { dtype, shape, data_offsets: off } = v as Record<string, unknown>;
  if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16' && dtype !== 'U8') {
    fail(file, `${where}: dtype ${show(dtype)} is not supported, expected "F32", "F16", "BF16" or "U8"`);
  }
  if (!Array.isArray(shape) || shape.length > 8 || !shape.every(isIndex)) {
    fail(file, `${where}: shape ${show(shape)}, expected a list of at most 8 non-negative integers`);
  }
  if (!Array.isArray(off) || off.length !== 2 || !isIndex(off[0]) || !isIndex(off[1]) || off[0] > off[1]) {
    fail(file, `${where}: data_offsets ${show(off)}, expected [begin, end] with 0 <= begin <= end`);
  }
  const [begin, end] = off as [number, number];
  if (end > dataLen) fail(file, `${where}: data_offsets [${begin}, ${end}] run past the ${dataLen}-byte data section (truncated file?)`);
  let elements = 1;
  for (const d of shape as number[]) elements *= d;
  const expected = elements * DTYPE_BYTES[dtype];
  if (expected !== end - begin) {
    fail(file, `${where}: ${dtype} ${show(shape)} needs ${expected} bytes but data_offsets span ${end - begin}`);
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

function checkMetadata(v: unknown, file: string): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.values(v).every((s) => typeof s === 'string')) {
    fail(file, `__metadata__ is ${show(v)}, expected an object of strings`);
  }
}

/**
 * Parses a whole safetensors file. Tensors are views into `bytes` (no copy).
 * Throws SafetensorsError on any malformation.
 */
export function parseSafetensors(bytes: Uint8Array, file = 'model.safetensors'): Map<string, RawTensor> {
  const n = headerLength(bytes, file);
  const header = parseHeaderJson(bytes, n, file);
  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const entries: Entry[] = [];
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') checkMetadata(v, file);
    else entries.push(parseEntry(name, v, dataLen, file));
  }
  // Tensors may not share bytes: a crafted header could otherwise alias one buffer as two weights.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < sorted.length; i++) {
    const p = sorted[i - 1];
    const c = sorted[i];
    if (c.begin < p.end) {
      fail(file, `tensor "${c.name}" data_offsets [${c.begin}, ${c.end}] overlap tensor "${p.name}" [${p.begin}, ${p.end}]`);
    }
  }
  const out = new Map<string, RawTensor>();
  for (const e of entries) {
    out.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, data: bytes.subarray(dataStart + e.begin, dataStart + e.end) });
  }
  return out;
}

/**
 * Writes tensors as one safetensors file, in the given order, contiguous. The header is padded
 * with spaces to a multiple of 8 bytes so tensor data starts 8-aligned (as the reference writer does).
 */
export function serializeSafetensors(tensors: Iterable<RawTensor>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const list = [...tensors];
  let offset = 0;
  for (const t of list) {
    const expected = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
    if (expected !== t.data.length) {
      throw new SafetensorsError(`serializeSafetensors: tensor "${t.name}" ${t.dtype} ${show(t.shape)} needs ${expected} bytes, got ${t.data.length}`);
    }
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (new TextEncoder().encode(json).length % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, head.length, true);
  dv.setUint32(4, 0, true);
  out.set(head, 8);
  let p = 8 + head.length;
  for (const t of list) {
    out.set(t.data, p);
    p += t.data.length;
  }
  return out;
}
