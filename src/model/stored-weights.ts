/**
 * What a model's safetensors files hold, read from their headers only (ModelSource.readHead:
 * a few kilobytes per file, never the weights): for `treespec inspect` to report the download
 * size and stored dtypes before anything is downloaded.
 */
import { SafetensorsError, show } from '../errors.ts';
import { MAX_HEADER_BYTES } from './safetensors.ts';
import type { ModelSource } from './source-base.ts';

export interface StoredWeights {
  /** The safetensors files (one, or the shards of model.safetensors.index.json). */
  files: string[];
  /** Tensors in all files. */
  tensors: number;
  /** Bytes of all files (headers and data): the download. */
  bytes: number;
  /** Elements stored per dtype ("BF16", "F32", "U8" for pre-quantized rows, ...). */
  elements: Record<string, number>;
}

/** The header of one safetensors file: its tensors' dtypes, element counts and the file's size. */
async function readHeader(source: ModelSource, file: string): Promise<{ tensors: { dtype: string; elements: number }[]; bytes: number }> {
  const head = await source.readHead!(file, 8);
  if (head.length < 8) throw new SafetensorsError(`${file}: file is ${head.length} bytes, expected at least 8 (the header length)`);
  const dv = new DataView(head.buffer, head.byteOffset, 8);
  const n = dv.getUint32(4, true) * 2 ** 32 + dv.getUint32(0, true);
  if (n < 2 || n > MAX_HEADER_BYTES) throw new SafetensorsError(`${file}: header length ${n} is outside [2, ${MAX_HEADER_BYTES}]`);
  const bytes = await source.readHead!(file, 8 + n);
  if (bytes.length < 8 + n) throw new SafetensorsError(`${file}: header length ${n} runs past the end of the ${bytes.length}-byte file`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new SafetensorsError(`${file}: header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new SafetensorsError(`${file}: header is ${show(json)}, expected a JSON object`);
  const tensors: { dtype: string; elements: number }[] = [];
  let end = 0;
  for (const [name, v] of Object.entries(json)) {
    if (name === '__metadata__') continue;
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const ok = typeof e?.dtype === 'string' && Array.isArray(e.shape) && e.shape.every((d) => Number.isSafeInteger(d) && d >= 0) &&
      Array.isArray(e.data_offsets) && e.data_offsets.length === 2 && e.data_offsets.every((d) => Number.isSafeInteger(d) && d >= 0);
    if (!ok) throw new SafetensorsError(`${file}: tensor "${name}": entry ${show(v)}, expected { dtype, shape, data_offsets: [begin, end] }`);
    tensors.push({ dtype: e.dtype as string, elements: (e.shape as number[]).reduce((a, b) => a * b, 1) });
    end = Math.max(end, (e.data_offsets as number[])[1]);
  }
  return { tensors, bytes: 8 + n + end };
}

/** The shard files model.safetensors.index.json names, or null when the model is one file. */
async function shardFiles(source: ModelSource): Promise<string[] | null> {
  const index = 'model.safetensors.index.json';
  if (!(await source.exists(index))) return null;
  let wm: unknown;
  try {
    wm = (JSON.parse(new TextDecoder().decode(await source.read(index))) as { weight_map?: unknown })?.weight_map;
  } catch (e) {
    throw new SafetensorsError(`${index}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof wm !== 'object' || wm === null) throw new SafetensorsError(`${index}: "weight_map" is ${show(wm)}, expected an object of tensor name -> shard file`);
  return [...new Set(Object.values(wm).map(String))];
}

/** The stored weights of `source` from their headers, or null when the source cannot read a head or has no weights file. */
export async function readStoredWeights(source: ModelSource): Promise<StoredWeights | null> {
  if (!source.readHead) return null;
  const shards = await shardFiles(source);
  if (!shards && !(await source.exists('model.safetensors'))) return null;
  const files = shards ?? ['model.safetensors'];
  const out: StoredWeights = { files, tensors: 0, bytes: 0, elements: {} };
  for (const f of files) {
    const h = await readHeader(source, f);
    out.bytes += h.bytes;
    out.tensors += h.tensors.length;
    for (const t of h.tensors) out.elements[t.dtype] = (out.elements[t.dtype] ?? 0) + t.elements;
  }
  return out;
}
