/**
 * The ops of the GPU forward pass, built once at load over the weights, the activation
 * buffers and the KV cache (src/model/gpu-model.ts runs them). Every op owns its bind groups.
 * Each RMSNorm is fused into the projections that read it (MatmulBuffers.norm): they read the
 * residual x and normalise it in the kernel, so no normalised copy of x is written or read.
 */
import type { KernelEnv } from '../gpu/pipelines.ts';
import type { KvCache } from '../kv/cache.ts';
import { TreeAttention } from '../ops/attention.ts';
import { EmbedOp } from '../ops/embed.ts';
import { MatmulOp } from '../ops/matmul.ts';
import { RopeKvWrite } from '../ops/rope.ts';
import { SiluMulOp } from '../ops/silu-mul.ts';
import { SoftmaxOp } from '../ops/softmax.ts';
import { TopKOp } from '../ops/topk.ts';
import { kvDim, qDim, type ModelConfig } from './config.ts';
import type { Activations } from './forward-buffers.ts';
import type { GpuWeights, LayerWeights } from './upload.ts';

export interface LayerOps {
  /** q = xn @ Wq^T (+ bq), xn = rmsnorm(x) * input_layernorm computed in the kernel. */
  q: MatmulOp;
  /** k = xn @ Wk^T (+ bk), xn as for q. */
  k: MatmulOp;
  /** v = xn @ Wv^T (+ bv), xn as for q. */
  v: MatmulOp;
  /** RoPE on q and k; K/V of row r to cache slot prefix + r. */
  rope: RopeKvWrite;
  /** att = tree attention of q over the cache. */
  attention: TreeAttention;
  /** x += att @ Wo^T (residual fused into the matmul). */
  o: MatmulOp;
  /** [gate | up] = xn @ [Wgate; Wup]^T, xn = rmsnorm(x) * post_attention_layernorm computed in the kernel. */
  gateUp: MatmulOp;
  /** act = silu(gate) * up. */
  siluMul: SiluMulOp;
  /** x += act @ Wdown^T (residual fused into the matmul). */
  down: MatmulOp;
}

export interface ModelOps {
  /** x = embed_tokens[tokens]. */
  embed: EmbedOp;
  layers: LayerOps[];
  /** logits = xn @ lm_head^T, xn = rmsnorm(x) * norm computed in the kernel. */
  lmHead: MatmulOp;
  /**
   * Best k ids per row, ties to the lowest id; column 0 is the argmax of DESIGN section 5
   * (the same ranking as ArgmaxOp), so no separate argmax pass runs.
   */
  topK: TopKOp;
  /** probs = softmax(logits / T), run only by readProbs (the sampling path). */
  softmax: SoftmaxOp;
}

/** outVocab: LM head rows (the vocabulary, or the N kept rows of VocabTrim). */
export function buildOps(env: KernelEnv, c: ModelConfig, w: GpuWeights, a: Activations, kv: KvCache, maxRows: number, k: number, outVocab = c.vocabSize): ModelOps {
  const dtype = w.dtype;
  const h = c.hiddenSize;
  const embed = new EmbedOp(env, 'forward.embed', { tokens: a.tokens, table: w.embed, out: a.x }, h, c.vocabSize, w.embedDtype);
  const layers = w.layers.map((lw, l) => buildLayer(env, c, lw, a, kv, l, maxRows, dtype));
  const lmHead = new MatmulOp(env, 'forward.lmHead', { x: a.x, norm: w.finalNorm, w: w.lmHead, y: a.logits }, { inDim: h, outDim: outVocab, dtype, normEps: c.rmsNormEps });
  const topK = new TopKOp(env, 'forward.topK', { logits: a.logits, ids: a.topKIds, values: a.topKValues }, outVocab, k);
  const softmax = new SoftmaxOp(env, 'forward.softmax', { logits: a.logits, probs: a.probs }, outVocab);
  return { embed, layers, lmHead, topK, softmax };
}

function buildLayer(env: KernelEnv, c: ModelConfig, w: LayerWeights, a: Activations, kv: KvCache, l: number, maxRows: number, dtype: GpuWeights['dtype']): LayerOps {
  const h = c.hiddenSize;
  const I = c.intermediateSize;
  const p = `forward.layer${l}.`;
  const dims = { nHeads: c.numHeads, nKvHeads: c.numKvHeads, headDim: c.headDim, maxRows };
  const cache = { kCache: kv.k[l], vCache: kv.v[l] };
  const eps = c.rmsNormEps;
  return {
    q: new MatmulOp(env, `${p}q`, { x: a.x, norm: w.inputNorm, w: w.wq, bias: w.bq, y: a.q }, { inDim: h, outDim: qDim(c), dtype, normEps: eps }),
    k: new MatmulOp(env, `${p}k`, { x: a.x, norm: w.inputNorm, w: w.wk, bias: w.bk, y: a.k }, { inDim: h, outDim: kvDim(c), dtype, normEps: eps }),
    v: new MatmulOp(env, `${p}v`, { x: a.x, norm: w.inputNorm, w: w.wv, bias: w.bv, y: a.v }, { inDim: h, outDim: kvDim(c), dtype, normEps: eps }),
    rope: new RopeKvWrite(env, `${p}rope`, { positions: a.positions, table: a.ropeTable, q: a.q, k: a.k, v: a.v, ...cache }, dims),
    attention: new TreeAttention(env, `${p}attention`, { mask: a.mask, q: a.q, ...cache, out: a.att }, dims),
    o: new MatmulOp(env, `${p}o`, { x: a.att, w: w.wo, y: a.x }, { inDim: qDim(c), outDim: h, dtype, accumulate: true }),
    gateUp: new MatmulOp(env, `${p}gateUp`, { x: a.x, norm: w.postNorm, w: w.wGateUp, y: a.gateUp }, { inDim: h, outDim: 2 * I, dtype, normEps: eps }),
    siluMul: new SiluMulOp(env, `${p}siluMul`, { gateUp: a.gateUp, out: a.act }, I),
    down: new MatmulOp(env, `${p}down`, { x: a.act, w: w.wDown, y: a.x }, { inDim: I, outDim: h, dtype, accumulate: true }),
  };
}
