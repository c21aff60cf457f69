/**
 * CPU reference implementations of every operation of the forward pass. They are the test
 * oracle for the WGSL kernels and the building blocks of the CPU reference forward.
 *
 * Layout conventions (shared with the kernels):
 *  - activations are row-major (rows, width);
 *  - weight matrices are Hugging Face's (out, in): y[r][o] = sum_i x[r][i] * W[o][i] (+ b[o]);
 *  - per-head tensors are (rows, heads, headDim);
 *  - the KV cache of one layer is (slots, nKvHeads, headDim).
 */
import { TreespecError } from '../errors.ts';

/** Gathers embedding rows: out (rows, hidden) from table (vocab, hidden). */
export function embed(table: Float32Array, hidden: number, tokens: ArrayLike<number>): Float32Array {
  const out = new Float32Array(tokens.length * hidden);
  for (let r = 0; r < tokens.length; r++) out.set(table.subarray(tokens[r] * hidden, (tokens[r] + 1) * hidden), r * hidden);
  return out;
}

/** RMSNorm per row: x / sqrt(mean(x^2) + eps) * w. x (rows, n). */
export function rmsNorm(x: Float32Array, w: Float32Array, eps: number): Float32Array {
  const n = w.length;
  const rows = x.length / n;
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = 0; i < n; i++) ss += x[r * n + i] * x[r * n + i];
    const scale = 1 / Math.sqrt(ss / n + eps);
    for (let i = 0; i < n; i++) out[r * n + i] = x[r * n + i] * scale * w[i];
  }
  return out;
}

/** y (rows, out) = x (rows, in) @ W^T, W (out, in), optional bias (out). */
export function matmul(x: Float32Array, w: Float32Array, inDim: number, outDim: number, bias?: Float32Array | null): Float32Array {
  const rows = x.length / inDim;
  const y = new Float32Array(rows * outDim);
  for (let r = 0; r < rows; r++) {
    const xo = r * inDim;
    for (let o = 0; o < outDim; o++) {
      const wo = o * inDim;
      let s = 0;
      for (let i = 0; i < inDim; i++) s += x[xo + i] * w[wo + i];
      y[r * outDim + o] = s + (bias ? bias[o] : 0);
    }
  }
  return y;
}

/** Llama-3 style RoPE frequency scaling (`rope_scaling.rope_type == "llama3"`). */
export interface RopeScaling {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

/**
 * LongRoPE (`rope_type` "longrope", Phi-3): each frequency divided by a per-frequency factor,
 * cos and sin multiplied by the attention factor. Which factor set applies is fixed per engine
 * by the context it serves (`longRopeFactors`), never per pass.
 */
export interface LongRope {
  /** (rotaryDim / 2) divisors of the inverse frequencies when the context fits the original length. */
  shortFactor: number[];
  /** (rotaryDim / 2) divisors, at every position, when the context exceeds the original length. */
  longFactor: number[];
  attentionFactor: number;
  /** original_max_position_embeddings: the longest context served with the short factors. */
  originalMaxPositions: number;
}

/**
 * The LongRoPE factors of an engine serving `context` positions (prompt + output): the short
 * factors when the context fits original_max_position_embeddings, else the long factors at every
 * position. transformers instead picks per forward from that forward's length (max position + 1;
 * dynamic_rope_update's longrope branch), leaving K/V already cached under the other set as it
 * is, so its output depends on how tokens are grouped into passes; a speculative engine cannot
 * reproduce that losslessly (a tree pass crossing the boundary would differ from plain decoding).
 * This rule equals transformers exactly for every sequence of a short context, and for every
 * sequence longer than the original length processed from a prefill that already exceeds it
 * (transformers then uses the long factors for every position of every pass), as llama.cpp does.
 */
export function longRopeFactors(long: LongRope, context: number): number[] {
  return context > long.originalMaxPositions ? long.longFactor : long.shortFactor;
}

/**
 * Inverse frequencies (dim/2) for RoPE over `dim` rotated dims (headDim, or Phi-3's rotary dim
 * head_dim * partial_rotary_factor) with base theta and optional Llama-3 scaling, or optional
 * LongRoPE divisors (`longRopeFactors`).
 */
export function ropeInvFreq(dim: number, theta: number, scaling: RopeScaling | null, longFactors: readonly number[] | null = null): Float32Array {
  const half = dim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    let f = 1 / Math.pow(theta, (2 * i) / dim);
    if (longFactors) f = 1 / (longFactors[i] * Math.pow(theta, (2 * i) / dim));
    if (scaling) {
      const lowWavelen = scaling.originalMaxPositionEmbeddings / scaling.lowFreqFactor;
      const highWavelen = scaling.originalMaxPositionEmbeddings / scaling.highFreqFactor;
      const wavelen = (2 * Math.PI) / f;
      if (wavelen > lowWavelen) f = f / scaling.factor;
      else if (wavelen >= highWavelen) {
        const smooth = (scaling.originalMaxPositionEmbeddings / wavelen - scaling.lowFreqFactor) / (scaling.highFreqFactor - scaling.lowFreqFactor);
        f = (1 - smooth) * (f / scaling.factor) + smooth * f;
      }
    }
    inv[i] = f;
  }
  return inv;
}

/**
 * Rotary embedding in place, Hugging Face "rotate half" convention over the first
 * rotaryDim = 2 * invFreq.length dims of each head: element i pairs with i + rotaryDim/2; the
 * dims from rotaryDim on stay as they are (partial rotary, transformers' Phi-3
 * apply_rotary_pos_emb: rotary_dim = cos.shape[-1], q_pass = q[..., rotary_dim:]).
 * x (rows, heads, headDim); positions (rows).
 */
export function rope(x: Float32Array, heads: number, headDim: number, positions: ArrayLike<number>, invFreq: Float32Array, attentionFactor = 1): void {
  const half = invFreq.length;
  if (2 * half > headDim) throw new TreespecError(`rope: ${half} frequencies rotate ${2 * half} dims, more than a ${headDim}-wide head`);
  for (let r = 0; r < positions.length; r++) {
    for (let h = 0; h < heads; h++) {
      const base = (r * heads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const angle = positions[r] * invFreq[i];
        // LongRoPE scales cos and sin (transformers: emb.cos() * attention_scaling)
        const c = Math.cos(angle) * attentionFactor;
        const s = Math.sin(angle) * attentionFactor;
        const a = x[base + i];
        const b = x[base + i + half];
        x[base + i] = a * c - b * s;
        x[base + i + half] = b * c + a * s;
      }
    }
  }
}

/**
 * Grouped-query attention of query rows over a KV cache.
 * q (rows, nHeads, headDim); kCache, vCache (slots, nKvHeads, headDim).
 * visible(r, slot) says whether row r attends to cache slot `slot`; scores are q.k * scale
 * (1/sqrt(headDim), or Gemma's query_pre_attn_scalar^-0.5), then, with `softcap` (Gemma 2),
 * softcap * tanh(score / softcap). Returns (rows, nHeads, headDim).
 *
 * Every sum runs over the row's visible slots in ascending slot order, whatever else the call
 * holds; for a tree in BFS order (a parent before its children) that is the prefix, then the
 * root path by depth, the order of a causal run over the same tokens, so a tree row's output is
 * bit-identical to plain decoding's (DESIGN section 5). Invisible slots add exact zeros.
 */
export function attention(
  q: Float32Array,
  kCache: Float32Array,
  vCache: Float32Array,
  rows: number,
  nHeads: number,
  nKvHeads: number,
  headDim: number,
  slots: number,
  visible: (row: number, slot: number) => boolean,
  scale = 1 / Math.sqrt(headDim),
  softcap: number | null = null,
): Float32Array {
  const out = new Float32Array(rows * nHeads * headDim);
  const group = nHeads / nKvHeads;
  const scores = new Float32Array(slots);
  for (let r = 0; r < rows; r++) {
    for (let h = 0; h < nHeads; h++) {
      const kv = Math.floor(h / group);
      const qo = (r * nHeads + h) * headDim;
      let max = -Infinity;
      for (let s = 0; s < slots; s++) {
        if (!visible(r, s)) { scores[s] = -Infinity; continue; }
        const ko = (s * nKvHeads + kv) * headDim;
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += q[qo + d] * kCache[ko + d];
        scores[s] = softcap === null ? dot * scale : softcap * Math.tanh((dot * scale) / softcap);
        if (scores[s] > max) max = scores[s];
      }
      let sum = 0;
      for (let s = 0; s < slots; s++) {
        const e = scores[s] === -Infinity ? 0 : Math.exp(scores[s] - max);
        scores[s] = e;
        sum += e;
      }
      for (let s = 0; s < slots; s++) {
        if (scores[s] === 0) continue;
        const p = scores[s] / sum;
        const vo = (s * nKvHeads + kv) * headDim;
        for (let d = 0; d < headDim; d++) out[qo + d] += p * vCache[vo + d];
      }
    }
  }
  return out;
}

/** silu(gate) * up, elementwise. */
export function siluMul(gate: Float32Array, up: Float32Array): Float32Array {
  const out = new Float32Array(gate.length);
  for (let i = 0; i < gate.length; i++) out[i] = (gate[i] / (1 + Math.exp(-gate[i]))) * up[i];
  return out;
}

/**
 * gelu_tanh(gate) * up, elementwise (GeGLU, Gemma's MLP): transformers' "gelu_pytorch_tanh",
 * 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3))).
 */
export function geluTanhMul(gate: Float32Array, up: Float32Array): Float32Array {
  const out = new Float32Array(gate.length);
  const c = Math.sqrt(2 / Math.PI);
  for (let i = 0; i < gate.length; i++) {
    const g = gate[i];
    out[i] = 0.5 * g * (1 + Math.tanh(c * (g + 0.044715 * g * g * g))) * up[i];
  }
  return out;
}

/** a + b elementwise, into a new array. */
export function add(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
}

/** Index of the largest value; ties go to the lowest index (the rule every decoder uses). */
export function argmax(x: ArrayLike<number>, offset = 0, n = x.length - offset): number {
  let best = 0;
  let bestV = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = x[offset + i];
    if (v > bestV) { bestV = v; best = i; }
  }
  return best;
}

/** Indices of the k largest values, by value descending, ties by lowest index. */
export function topK(x: ArrayLike<number>, k: number, offset = 0, n = x.length - offset): Int32Array {
  const idx = Array.from({ length: n }, (_, i) => i);
  idx.sort((a, b) => x[offset + b] - x[offset + a] || a - b);
  return Int32Array.from(idx.slice(0, k));
}

/** Numerically stable softmax of x / temperature. */
export function softmax(x: ArrayLike<number>, temperature = 1, offset = 0, n = x.length - offset): Float32Array {
  const out = new Float32Array(n);
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, x[offset + i]);
  let sum = 0;
  for (let i = 0; i < n; i++) { out[i] = Math.exp((x[offset + i] - max) / temperature); sum += out[i]; }
  for (let i = 0; i < n; i++) out[i] /= sum;
  return out;
}
