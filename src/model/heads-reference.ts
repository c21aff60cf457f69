/**
 * CPU reference of the Hydra heads' forward (the oracle of shaders/hydra_gather_f32.wgsl and
 * shaders/hydra_head_f32.wgsl; the same computation as tools/fixtures/hydra.py).
 */
import { matmul, rmsNorm } from './cpu-ops.ts';
import type { HydraHeads } from './heads.ts';
import { headWords } from './heads.ts';

const RMS_EPS = 1e-6;

function rmsScale(v: Float32Array): number {
  let ss = 0;
  for (let i = 0; i < v.length; i++) ss += v[i] * v[i];
  return 1 / Math.sqrt(ss / v.length + RMS_EPS);
}

/** s' = s + W2_d silu(W1_d [rms(s); rms(e)]) for head d (0-based); s and e (hidden). */
export function headStep(h: HydraHeads, d: number, s: Float32Array, e: Float32Array): Float32Array {
  const H = h.hidden;
  const base = d * headWords(h);
  const a = new Float32Array(2 * H); // (2 * hidden)
  const rs = rmsScale(s);
  const re = rmsScale(e);
  for (let i = 0; i < H; i++) {
    a[i] = s[i] * rs;
    a[H + i] = e[i] * re;
  }
  const u = new Float32Array(h.ffn); // (ffn)
  for (let j = 0; j < h.ffn; j++) {
    let acc = 0;
    const row = base + j * 2 * H;
    for (let k = 0; k < 2 * H; k++) acc += h.weights[row + k] * a[k];
    u[j] = acc / (1 + Math.exp(-acc));
  }
  const out = new Float32Array(H); // (hidden)
  const w2 = base + h.ffn * 2 * H;
  for (let i = 0; i < H; i++) {
    let acc = 0;
    for (let j = 0; j < h.ffn; j++) acc += h.weights[w2 + i * h.ffn + j] * u[j];
    out[i] = s[i] + acc;
  }
  return out;
}

/** (trim, hidden) the rows of a (vocab, hidden) embedding table at the heads' trimmed vocabulary. */
export function trimmedTable(h: HydraHeads, embed: Float32Array): Float32Array {
  const H = h.hidden;
  const out = new Float32Array(h.vocabIds.length * H);
  h.vocabIds.forEach((t, i) => out.set(embed.subarray(t * H, (t + 1) * H), i * H));
  return out;
}

/** (trim) logits E_trim s of a head's state. */
export function headLogits(eTrim: Float32Array, s: Float32Array): Float32Array {
  return matmul(s, eTrim, s.length, eTrim.length / s.length);
}

/** The level-0 state: the target's final norm of its residual x (hidden), as the LM head sees it. */
export function finalNormState(x: Float32Array, norm: Float32Array, eps: number): Float32Array {
  return rmsNorm(x, norm, eps);
}
