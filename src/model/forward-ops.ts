/**
 * The ops of the GPU forward pass, built once at load over the weights, the activation
 * buffers and the KV cache (src/model/gpu-model.ts runs them). Every op owns its bind groups.
 */
import type { KernelEnv } from '../gpu/pipelines.ts';
import type { KvCache } from '../kv/cache.ts';
import { TreeAttention } from '../ops/attention.ts';
import { EmbedOp } from '../ops/embed.ts';
import { MatmulOp } from '../ops/matmul.ts';
import { RmsNormOp } from '../ops/rmsnorm.ts';
import { RopeKvWrite } from '../ops/rope.ts';
import { SiluMulOp } from '../ops/silu-mul.ts';
import { SoftmaxOp } from '../ops/softmax.ts';
import { TopKOp } from '../ops/topk.ts';
import { kvDim, qDim, type ModelConfig } from './config.ts';
import type { Activations } from './forward-buffers.ts';
import type { GpuWeights, LayerWeights } from './upload.ts';

export interface LayerOps {
  /** xn = rmsnorm(x) * input_layernorm. */
  inputNorm: RmsNormOp;
  /** q = xn @ Wq^T (+ bq). */
  q: MatmulOp;
  /** k = xn @ Wk^T (+ bk). */
  k: MatmulOp;
  /** v = xn @ Wv^T (+ bv). */
  v: MatmulOp;
  /** RoPE on q and k; K/V of row r to cache slot prefix + r. */
  rope: RopeKvWrite;
  /** att = tree attention of q over the cache. */
  attention: TreeAttention;
  /** x += att @ Wo^T (residual fused into the matmul). */
  o: MatmulOp;
  /** xn = rmsnorm(x) * post_attention_layernorm. */
  postNorm: RmsNormOp;
  /** [gate | up] = xn @ [Wgate; Wup]^T. */
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
  /** xn = rmsnorm(x) * norm. */
  finalNorm: RmsNormOp;
  /** logits = xn @ lm_head^T. */
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
  const finalNorm = new RmsNormOp(env, 'forward.finalNorm', { x: a.x, weight: w.finalNorm, out: a.xn }, h, c.rmsNormEps);
  const lmHead = new MatmulOp(env, 'forward.lmHead', { x: a.xn, w: w.lmHead, y: a.logits }, { inDim: h, outDim: outVocab, dtype });
  const topK = new TopKOp(env, 'forward.topK', { logits: a.logits, ids: a.topKIds, values: a.topKValues }, outVocab, k);
  const softmax = new SoftmaxOp(env, 'forward.softmax', { logits: a.logits, probs: a.probs }, outVocab);
  return { embed, layers, finalNorm, lmHead, topK, softmax };
}

function buildLayer(env: KernelEnv, c: ModelConfig, w: LayerWeights, a: Activations, kv: KvCache, l: number, maxRows: number, dtype: GpuWeights['dtype']): LayerOps {
  const h = c.hiddenSize;
  const I = c.intermediateSize;
  const p = `forward.layer${l}.`;
  const dims = { nHeads: c.numHeads, nKvHeads: c.numKvHeads, headDim: c.headDim, maxRows };
  const cache = { kCache: kv.k[l], vCache: kv.v[l] };
  return {
    inputNorm: new RmsNormOp(env, `${p}inputNorm`, { x: a.x, weight: w.inputNorm, out: a.xn }, h, c.rmsNormEps),
    q: new MatmulOp(env, `${p}q`, { x: a.xn, w: w.wq, bias: w.bq, y: a.q }, { inDim: h, outDim: qDim(c), dtype }),
    k: new MatmulOp(env, `${p}k`, { x: a.xn, w: w.wk, bias: w.bk, y: a.k }, { inDim: h, outDim: kvDim(c), dtype }),
    v: new MatmulOp(env, `${p}v`, { x: a.xn, w: w.wv, bias: w.bv, y: a.v }, { inDim: h, outDim: kvDim(c), dtype }),
    rope: new RopeKvWrite(env, `${p}rope`, { positions: a.positions, table: a.ropeTable, q: a.q, k: a.k, v: a.v, ...cache }, dims),
    attention: new TreeAttention(env, `${p}attention`, { mask: a.mask, q: a.q, ...cache, out: a.att }, dims),
    o: new MatmulOp(env, `${p}o`, { x: a.att, w: w.wo, y: a.x }, { inDim: qDim(c), outDim: h, dtype, accumulate: true }),
    postNorm: new RmsNormOp(env, `${p}postNorm`, { x: a.x, weight: w.postNorm, out: a.xn }, h, c.rmsNormEps),
    gateUp: new MatmulOp(env, `${p}gateUp`, { x: a.xn, w: w.wGateUp, y: a.gateUp }, { inDim: h, outDim: 2 * I, dtype }),
    siluMul: new SiluMulOp(env, `${p}siluMul`, { gateUp: a.gateUp, out: a.act }, I),
    down: new MatmulOp(env, `${p}down`, { x: a.act, w: w.wDown, y: a.x }, { inDim: I, outDim: h, dtype, accumulate: true }),
  };
}
