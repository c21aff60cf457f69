/**
 * Writes a GGUF file of a Llama model folder (Hugging Face layout, single model.safetensors),
 * so that llama.cpp-based peers (wllama) run the identical weights in the benchmark.
 * Follows llama.cpp's convert_hf_to_gguf.py for Llama: tensor names, the q/k row permutation
 * (Hugging Face rotates halves, GGUF llama rotates adjacent pairs), norms in f32, and the
 * SentencePiece vocabulary ("llama" tokenizer model) with scores = -id, which orders bigram
 * merges the way the BPE merge ranks of tokenizer.json do.
 * Run: npx tsx tools/bench-gguf.ts MODEL_DIR [OUT_FILE]   (default OUT_FILE: MODEL_DIR/model.gguf)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

type Dt = 'F32' | 'F16' | 'BF16';
interface Tensor { dtype: Dt; shape: number[]; data: Uint8Array }

function readSafetensors(file: string): Map<string, Tensor> {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: Dt; shape: number[]; data_offsets: [number, number] }>;
  const out = new Map<string, Tensor>();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    out.set(name, { dtype: t.dtype, shape: t.shape, data: buf.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]) });
  }
  return out;
}

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** The tensor as f32 values. */
function toF32(t: Tensor): Float32Array {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const dv = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  for (let i = 0; i < n; i++) {
    if (t.dtype === 'F32') out[i] = dv.getFloat32(i * 4, true);
    else if (t.dtype === 'F16') out[i] = f16ToF32(dv.getUint16(i * 2, true));
    else out[i] = new Float32Array(new Uint32Array([dv.getUint16(i * 2, true) << 16]).buffer)[0];
  }
  return out;
}

/** Rows (h, half, j) -> (h, j, half): convert_hf_to_gguf.py LlamaModel.permute. */
function permuteRows(t: Tensor, heads: number): Tensor {
  const [rows, cols] = t.shape;
  const hd = rows / heads;
  const bpe = t.data.length / (rows * cols);
  const out = new Uint8Array(t.data.length);
  const rowBytes = cols * bpe;
  for (let h = 0; h < heads; h++) {
    for (let half = 0; half < 2; half++) {
      for (let j = 0; j < hd / 2; j++) {
        const src = h * hd + half * (hd / 2) + j;
        const dst = h * hd + 2 * j + half;
        out.set(t.data.subarray(src * rowBytes, (src + 1) * rowBytes), dst * rowBytes);
      }
    }
  }
  return { ...t, data: out };
}

/** GGUF v3 writer (little endian). */
class GgufWriter {
  private readonly kv: Uint8Array[] = [];
  private kvCount = 0;
  private readonly tensors: { name: string; shape: number[]; type: number; data: Uint8Array }[] = [];

  private static str(s: string): Uint8Array {
    const b = Buffer.from(s, 'utf8');
    const out = Buffer.alloc(8 + b.length);
    out.writeBigUInt64LE(BigInt(b.length), 0);
    b.copy(out, 8);
    return out;
  }

  private static scalar(type: number, v: number | boolean | string): Uint8Array {
    if (type === 8) return GgufWriter.str(v as string);
    const b = Buffer.alloc(type === 10 || type === 11 || type === 12 ? 8 : type === 7 || type === 0 || type === 1 ? 1 : 4);
    if (type === 4) b.writeUInt32LE(v as number);
    else if (type === 5) b.writeInt32LE(v as number);
    else if (type === 6) b.writeFloatLE(v as number);
    else if (type === 7) b.writeUInt8(v ? 1 : 0);
    else if (type === 10) b.writeBigUInt64LE(BigInt(v as number));
    else throw new Error(`gguf value type ${type} not written here`);
    return b;
  }

  private add(key: string, type: number, value: Uint8Array): void {
    const t = Buffer.alloc(4);
    t.writeUInt32LE(type);
    this.kv.push(GgufWriter.str(key), t, value);
    this.kvCount++;
  }

  u32(key: string, v: number) { this.add(key, 4, GgufWriter.scalar(4, v)); }
  i32(key: string, v: number) { this.add(key, 5, GgufWriter.scalar(5, v)); }
  f32(key: string, v: number) { this.add(key, 6, GgufWriter.scalar(6, v)); }
  bool(key: string, v: boolean) { this.add(key, 7, GgufWriter.scalar(7, v)); }
  string(key: string, v: string) { this.add(key, 8, GgufWriter.str(v)); }

  array(key: string, type: number, values: (number | string)[]): void {
    const head = Buffer.alloc(12);
    head.writeUInt32LE(type, 0);
    head.writeBigUInt64LE(BigInt(values.length), 4);
    this.add(key, 9, Buffer.concat([head, ...values.map((v) => GgufWriter.scalar(type, v))]));
  }

  /** shape in PyTorch order (outermost first); GGUF stores it innermost first. */
  tensor(name: string, shape: number[], type: 0 | 1, data: Uint8Array): void {
    this.tensors.push({ name, shape, type, data });
  }

  bytes(): Buffer {
    const ALIGN = 32;
    const pad = (n: number) => (ALIGN - (n % ALIGN)) % ALIGN;
    const infos: Uint8Array[] = [];
    let offset = 0;
    for (const t of this.tensors) {
      const dims = Buffer.alloc(4 + 8 * t.shape.length + 4 + 8);
      dims.writeUInt32LE(t.shape.length, 0);
      [...t.shape].reverse().forEach((d, i) => dims.writeBigUInt64LE(BigInt(d), 4 + 8 * i));
      dims.writeUInt32LE(t.type, 4 + 8 * t.shape.length);
      dims.writeBigUInt64LE(BigInt(offset), 8 + 8 * t.shape.length);
      infos.push(GgufWriter.str(t.name), dims);
      offset += t.data.length + pad(t.data.length);
    }
    const head = Buffer.alloc(24);
    head.write('GGUF', 0, 'ascii');
    head.writeUInt32LE(3, 4);
    head.writeBigUInt64LE(BigInt(this.tensors.length), 8);
    head.writeBigUInt64LE(BigInt(this.kvCount), 16);
    const meta = Buffer.concat([head, ...this.kv, ...infos]);
    const parts: Uint8Array[] = [meta, Buffer.alloc(pad(meta.length))];
    for (const t of this.tensors) parts.push(t.data, Buffer.alloc(pad(t.data.length)));
    return Buffer.concat(parts);
  }
}

export function exportGguf(modelDir: string): Buffer {
  const cfg = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as Record<string, number | boolean | string | null>;
  const tok = JSON.parse(readFileSync(join(modelDir, 'tokenizer.json'), 'utf8')) as { model: { type: string; vocab: Record<string, number> }; added_tokens?: { id: number; content: string; special: boolean }[] };
  const tensors = readSafetensors(join(modelDir, 'model.safetensors'));
  const num = (k: string, d?: number) => {
    const v = cfg[k] ?? d;
    if (typeof v !== 'number') throw new Error(`config.json: ${k} missing`);
    return v;
  };
  const heads = num('num_attention_heads');
  const kvHeads = num('num_key_value_heads', heads);
  const hidden = num('hidden_size');
  const headDim = num('head_dim', hidden / heads);
  const layers = num('num_hidden_layers');
  const vocabSize = num('vocab_size');
  const f16 = [...tensors.values()].some((t) => t.dtype === 'F16');

  const w = new GgufWriter();
  w.string('general.architecture', 'llama');
  w.string('general.name', modelDir.replace(/\/+$/, '').split('/').pop() ?? 'model');
  w.u32('general.file_type', f16 ? 1 : 0);
  w.u32('llama.context_length', num('max_position_embeddings', 2048));
  w.u32('llama.embedding_length', hidden);
  w.u32('llama.block_count', layers);
  w.u32('llama.feed_forward_length', num('intermediate_size'));
  w.u32('llama.rope.dimension_count', headDim);
  w.u32('llama.attention.head_count', heads);
  w.u32('llama.attention.head_count_kv', kvHeads);
  w.f32('llama.attention.layer_norm_rms_epsilon', num('rms_norm_eps', 1e-5));
  w.f32('llama.rope.freq_base', num('rope_theta', 10000));
  w.u32('llama.vocab_size', vocabSize);
  if (headDim * heads !== hidden) {
    w.u32('llama.attention.key_length', headDim);
    w.u32('llama.attention.value_length', headDim);
  }

  // Vocabulary: SentencePiece model "llama"; unknown/control/byte types as llama.cpp reads them.
  const tokens: string[] = new Array(vocabSize).fill('');
  for (const [piece, id] of Object.entries(tok.model.vocab)) if (id < vocabSize) tokens[id] = piece;
  for (const a of tok.added_tokens ?? []) if (a.id < vocabSize) tokens[a.id] = a.content;
  const special = new Set((tok.added_tokens ?? []).filter((a) => a.special).map((a) => a.id));
  const types = tokens.map((t, id) => (t === '<unk>' ? 2 : /^<0x[0-9A-F]{2}>$/.test(t) ? 6 : special.has(id) ? 3 : t === '' ? 5 : 1));
  w.string('tokenizer.ggml.model', 'llama');
  w.array('tokenizer.ggml.tokens', 8, tokens.map((t, i) => t || `[PAD${i}]`));
  w.array('tokenizer.ggml.scores', 6, tokens.map((_, i) => (types[i] === 1 ? -i : 0)));
  w.array('tokenizer.ggml.token_type', 5, types);
  w.u32('tokenizer.ggml.bos_token_id', num('bos_token_id', 1));
  w.u32('tokenizer.ggml.eos_token_id', num('eos_token_id', 2));
  const unk = tokens.indexOf('<unk>');
  if (unk >= 0) w.u32('tokenizer.ggml.unknown_token_id', unk);
  w.bool('tokenizer.ggml.add_bos_token', true);
  w.bool('tokenizer.ggml.add_eos_token', false);

  const put = (gname: string, hname: string, permute?: number) => {
    let t = tensors.get(hname);
    if (!t) throw new Error(`model.safetensors: ${hname} missing`);
    if (permute) t = permuteRows(t, permute);
    if (t.shape.length === 1 || t.dtype !== (f16 ? 'F16' : 'F32')) {
      // Norms (and anything not already in the file type) as f32.
      const v = toF32(t);
      w.tensor(gname, t.shape, 0, new Uint8Array(v.buffer));
    } else {
      w.tensor(gname, t.shape, f16 ? 1 : 0, t.data);
    }
  };
  put('token_embd.weight', 'model.embed_tokens.weight');
  put('output_norm.weight', 'model.norm.weight');
  if (tensors.has('lm_head.weight') && cfg.tie_word_embeddings !== true) put('output.weight', 'lm_head.weight');
  for (let i = 0; i < layers; i++) {
    const p = `model.layers.${i}.`;
    put(`blk.${i}.attn_norm.weight`, `${p}input_layernorm.weight`);
    put(`blk.${i}.attn_q.weight`, `${p}self_attn.q_proj.weight`, heads);
    put(`blk.${i}.attn_k.weight`, `${p}self_attn.k_proj.weight`, kvHeads);
    put(`blk.${i}.attn_v.weight`, `${p}self_attn.v_proj.weight`);
    put(`blk.${i}.attn_output.weight`, `${p}self_attn.o_proj.weight`);
    put(`blk.${i}.ffn_norm.weight`, `${p}post_attention_layernorm.weight`);
    put(`blk.${i}.ffn_gate.weight`, `${p}mlp.gate_proj.weight`);
    put(`blk.${i}.ffn_up.weight`, `${p}mlp.up_proj.weight`);
    put(`blk.${i}.ffn_down.weight`, `${p}mlp.down_proj.weight`);
  }
  return w.bytes();
}

if (process.argv[1] && process.argv[1].endsWith('bench-gguf.ts')) {
  const [dir, out] = process.argv.slice(2);
  if (!dir) {
    process.stderr.write('usage: npx tsx tools/bench-gguf.ts MODEL_DIR [OUT_FILE]\n');
    process.exit(2);
  }
  const file = out ?? join(dir, 'model.gguf');
  const bytes = exportGguf(dir);
  writeFileSync(file, bytes);
  process.stdout.write(`wrote ${file} (${(bytes.length / 2 ** 20).toFixed(1)} MiB)\n`);
}
