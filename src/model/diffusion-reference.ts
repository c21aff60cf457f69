/**
 * CPU reference of the block (diffusion) drafter's forward: the oracle of the diffusion_*
 * shaders, the same computation as tools/fixtures/diffusion.py. One pass over C context slots
 * and K mask slots, attention over all of them (bidirectional); logits at the mask slots.
 */
import { matmul, rmsNorm } from './cpu-ops.ts';
import { maskRow, padRow, unkRow, type DiffusionDrafterModel, type DiffusionLayer } from './diffusion.ts';

const RMS_EPS = 1e-6;

/** (C + K) embedding rows: the last C tokens (trimmed ids, UNK outside, PAD-filled on the left), then K MASKs. */
export function inputRows(m: DiffusionDrafterModel, tokens: ArrayLike<number>, trimOf: Map<number, number>): Int32Array {
  const C = m.context;
  const rows = new Int32Array(C + m.block).fill(maskRow(m));
  for (let i = 0; i < C; i++) {
    const at = tokens.length - C + i;
    rows[i] = at < 0 ? padRow(m) : trimOf.get(tokens[at]) ?? unkRow(m);
  }
  return rows;
}

/** token id -> trimmed index. */
export function trimIndex(m: Pick<DiffusionDrafterModel, 'vocabIds'>): Map<number, number> {
  return new Map(Array.from(m.vocabIds, (t, i) => [t, i]));
}

/** One row through RMSNorm with the drafter's eps. */
const norm = (x: Float32Array, w: Float32Array): Float32Array => rmsNorm(x, w, RMS_EPS);

/** out (rows) = W (rows, n) x (n). */
const matVec = (w: Float32Array, x: Float32Array, rows: number): Float32Array => matmul(x, w, x.length, rows);

/** One layer over all slots x (T rows of dim); rows before `from` are not updated (their output is unused). */
function layer(m: DiffusionDrafterModel, l: DiffusionLayer, x: Float32Array[], from: number): Float32Array[] {
  const D = m.dim;
  const hd = D / m.heads;
  const T = x.length;
  const qkv = x.map((r) => matVec(l.qkv, norm(r, l.attnNorm), 3 * D)); // (T, 3 * dim)
  const out = x.slice();
  for (let t = from; t < T; t++) {
    const y = new Float32Array(D);
    for (let h = 0; h < m.heads; h++) {
      const s = new Float64Array(T);
      let max = -Infinity;
      for (let u = 0; u < T; u++) {
        let acc = 0;
        for (let i = 0; i < hd; i++) acc += qkv[t][h * hd + i] * qkv[u][D + h * hd + i];
        s[u] = acc / Math.sqrt(hd);
        max = Math.max(max, s[u]);
      }
      let sum = 0;
      for (let u = 0; u < T; u++) sum += (s[u] = Math.exp(s[u] - max));
      for (let u = 0; u < T; u++) for (let i = 0; i < hd; i++) y[h * hd + i] += (s[u] / sum) * qkv[u][2 * D + h * hd + i];
    }
    const a = matVec(l.o, y, D).map((v, i) => v + x[t][i]);
    const n = norm(a, l.mlpNorm);
    const g = matVec(l.gate, n, m.ffn);
    const u = matVec(l.up, n, m.ffn);
    const act = g.map((v, i) => (v / (1 + Math.exp(-v))) * u[i]);
    out[t] = matVec(l.down, act, D).map((v, i) => v + a[i]);
  }
  return out;
}

/** The final states of the K mask slots (K rows of dim), final norm applied. */
export function maskStates(m: DiffusionDrafterModel, rows: Int32Array): Float32Array[] {
  const D = m.dim;
  let x: Float32Array[] = Array.from(rows, (r, t) => m.emb.slice(r * D, (r + 1) * D).map((v, i) => v + m.pos[t * D + i]));
  m.layers.forEach((l, i) => (x = layer(m, l, x, i === m.layers.length - 1 ? m.context : 0)));
  return x.slice(m.context).map((r) => norm(r, m.finalNorm));
}

/** (K, trim) logits over the trimmed vocabulary per masked position (output head tied to the embedding). */
export function blockLogits(m: DiffusionDrafterModel, rows: Int32Array): Float32Array {
  const V = m.vocabIds.length;
  const out = new Float32Array(m.block * V);
  maskStates(m, rows).forEach((s, j) => out.set(matVec(m.emb.subarray(0, V * m.dim), s, V), j * V));
  return out;
}
