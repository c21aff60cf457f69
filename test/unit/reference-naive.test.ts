import { describe, expect, it } from 'vitest';
import { makeFixture, type FixtureShape } from '../../src/model/fixture.ts';
import { MemorySource } from '../../src/model/source.ts';
import { loadModelFiles, tensorF32, type ModelFiles } from '../../src/model/weights.ts';
import { ReferenceModel } from '../../src/model/reference.ts';

/**
 * An independent, deliberately naive f64 transcription of transformers' modeling_llama.py
 * (LlamaRMSNorm, rotate_half RoPE, repeat_kv GQA, causal softmax attention, LlamaMLP) that
 * shares no code with cpu-ops: it checks the oracle itself.
 */
function naiveForward(f: ModelFiles, tokens: number[]): number[][] {
  const c = f.config;
  const W = (n: string) => Array.from(tensorF32(f.tensors.get(n)!));
  const H = c.hiddenSize, D = c.headDim, T = tokens.length;
  const lin = (x: number[], w: number[], outDim: number, b?: number[]) =>
    Array.from({ length: outDim }, (_, o) => x.reduce((s, xi, i) => s + xi * w[o * x.length + i], b ? b[o] : 0));
  const norm = (x: number[], w: number[]) => {
    const r = 1 / Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length + c.rmsNormEps);
    return x.map((v, i) => v * r * w[i]);
  };
  const ropeHead = (v: number[], pos: number) => {
    const half = D / 2;
    return v.map((x, i) => {
      const j = i % half;
      const ang = pos / Math.pow(c.ropeTheta, (2 * j) / D);
      // q * cos + rotate_half(q) * sin, rotate_half(q) = [-q2, q1]
      return x * Math.cos(ang) + (i < half ? -v[i + half] : v[i - half]) * Math.sin(ang);
    });
  };
  let xs = tokens.map((t) => W('model.embed_tokens.weight').slice(t * H, (t + 1) * H));
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}.`;
    const bias = (n: string) => (c.attentionBias ? W(`${p}self_attn.${n}_proj.bias`) : undefined);
    const hs = xs.map((x) => norm(x, W(`${p}input_layernorm.weight`)));
    const q = hs.map((h) => lin(h, W(`${p}self_attn.q_proj.weight`), c.numHeads * D, bias('q')));
    const k = hs.map((h) => lin(h, W(`${p}self_attn.k_proj.weight`), c.numKvHeads * D, bias('k')));
    const v = hs.map((h) => lin(h, W(`${p}self_attn.v_proj.weight`), c.numKvHeads * D, bias('v')));
    const head = (a: number[], h: number) => a.slice(h * D, (h + 1) * D);
    const attn = xs.map((_, t) => {
      const out: number[] = [];
      for (let h = 0; h < c.numHeads; h++) {
        const kvh = Math.floor(h / (c.numHeads / c.numKvHeads)); // repeat_kv
        const qh = ropeHead(head(q[t], h), t);
        const scores = Array.from({ length: t + 1 }, (_, s) => ropeHead(head(k[s], kvh), s).reduce((acc, kk, d) => acc + kk * qh[d], 0) / Math.sqrt(D));
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let d = 0; d < D; d++) out.push(e.reduce((acc, es, s) => acc + (es / z) * head(v[s], kvh)[d], 0));
      }
      return out;
    });
    xs = xs.map((x, t) => lin(attn[t], W(`${p}self_attn.o_proj.weight`), H).map((o, i) => o + x[i]));
    xs = xs.map((x) => {
      const h = norm(x, W(`${p}post_attention_layernorm.weight`));
      const g = lin(h, W(`${p}mlp.gate_proj.weight`), c.intermediateSize);
      const u = lin(h, W(`${p}mlp.up_proj.weight`), c.intermediateSize);
      const act = g.map((gi, i) => (gi / (1 + Math.exp(-gi))) * u[i]);
      return lin(act, W(`${p}mlp.down_proj.weight`), H).map((o, i) => o + x[i]);
    });
  }
  const head = c.tieWordEmbeddings ? W('model.embed_tokens.weight') : W('lm_head.weight');
  return xs.map((x) => lin(norm(x, W('model.norm.weight')), head, c.vocabSize));
}

describe('ReferenceModel against a naive transcription of transformers Llama', () => {
  const shapes: [string, FixtureShape][] = [
    ['llama GQA untied', { vocabSize: 270, hiddenSize: 24, intermediateSize: 20, numLayers: 2, numHeads: 4, numKvHeads: 2, dtype: 'f32' }],
    ['qwen2 bias tied, head_dim 6 != hidden/heads', { modelType: 'qwen2', vocabSize: 260, hiddenSize: 16, intermediateSize: 12, numLayers: 2, numHeads: 3, numKvHeads: 1, headDim: 6, tieWordEmbeddings: true, dtype: 'bf16' }],
  ];
  for (const [name, shape] of shapes) {
    it(name, async () => {
      const f = await loadModelFiles(new MemorySource(makeFixture(shape, 8)));
      const tokens = [7, 259, 3, 3, 100];
      const want = naiveForward(f, tokens);
      const got = ReferenceModel.fromFiles(f, 8).forward(Int32Array.from(tokens));
      const V = f.config.vocabSize;
      for (let t = 0; t < tokens.length; t++) {
        for (let i = 0; i < V; i++) expect(Math.abs(got[t * V + i] - want[t][i])).toBeLessThan(1e-4 * (1 + Math.abs(want[t][i])));
      }
    });
  }
});
