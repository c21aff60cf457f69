/**
 * The ops of the GPU forward pass, built once at load over the weights, the activation
 * buffers and the KV cache (src/model/gpu-model.ts runs them). Every op owns its bind groups.
 * q, k and v are one matmul over weights concatenated at load ([Wq; Wk; Wv], biases likewise),
 * and one kernel rotates q and k and writes K/V to the cache.
 * With `fuse.norm`, each RMSNorm of a layer is fused into the projections that read it
 * (MatmulBuffers.norm): they read the residual x and normalise it in the kernel, so no
 * normalised copy of x is written or read and two dispatches per layer go; `fuse.finalNorm`
 * does the same for the LM head. Without them an RMSNorm kernel writes xn first.
 * With `fuse.silu`, SwiGLU's silu(gate) * up is computed by the down projection as it reads the
 * gate/up output (MatmulOptions.gated): no act buffer is written and read back, one dispatch per
 * layer goes. GpuModelOptions says which plan each adapter gets and why.
 */
import type { KernelEnv } from '../gpu/pipelines.ts';
import type { KvCache } from '../kv/cache.ts';
import { TreeAttention } from '../ops/attention.ts';
import { EmbedOp } from '../ops/embed.ts';
import { MatmulOp } from '../ops/matmul.ts';
import { RowSplitMatmul } from '../ops/matmul-rows.ts';
import type { MatmulTiling } from '../ops/matmul-tuning.ts';
import { AddOp } from '../ops/add.ts';
import { RmsNormOp } from '../ops/rmsnorm.ts';
import { RopeKvWrite } from '../ops/rope.ts';
import { SiluMulOp } from '../ops/silu-mul.ts';
import { SoftmaxOp } from '../ops/softmax.ts';
import { SoftcapOp } from '../ops/softcap.ts';
import { TopKOp } from '../ops/topk.ts';
import { ArgmaxOp } from '../ops/argmax.ts';
import { kvDim, qDim, type ModelConfig } from './config.ts';
import type { Activations } from './forward-buffers.ts';
import type { GpuWeights, LayerWeights } from './upload.ts';

export interface LayerOps {
  /** xn = rmsnorm(x) * input_layernorm; null when fused into q, k and v. */
  inputNorm: RmsNormOp | null;
  /** [q | k | v] = xn @ [Wq; Wk; Wv]^T (+ [bq | bk | bv]), xn = rmsnorm(x) * input_layernorm (computed in the kernel when fused). */
  qkv: MatmulOp;
  /**
   * RoPE on q and k (Qwen3, Gemma 3: after their per-head RMSNorm, config.qkNorm, in the same
   * kernel); rotated q to its buffer, K/V of row r to cache slot prefix + r.
   */
  rope: RopeKvWrite;
  /** att = tree attention of q over the cache. */
  attention: TreeAttention;
  /** x += att @ Wo^T (residual fused into the matmul); with sandwich norms branch = att @ Wo^T. */
  o: MatmulOp;
  /** Gemma (config.sandwichNorms): x += rmsnorm(branch) * post_attention_layernorm, else null. */
  attnOut: BranchNorm | null;
  /** xn = rmsnorm(x) * post_attention_layernorm; null when fused into gateUp. */
  postNorm: RmsNormOp | null;
  /** [gate | up] = xn @ [Wgate; Wup]^T, xn = rmsnorm(x) * post_attention_layernorm (in the kernel when fused). */
  gateUp: MatmulOp;
  /** act = silu(gate) * up; null when fused into down. */
  siluMul: SiluMulOp | null;
  /** x += act @ Wdown^T (residual fused into the matmul; act computed in the kernel when fused); with sandwich norms branch = act @ Wdown^T. */
  down: MatmulOp;
  /** Gemma: x += rmsnorm(branch) * post_feedforward_layernorm, else null. */
  mlpOut: BranchNorm | null;
}

/** A branch output normalised before the residual add (Gemma's sandwich norms): xn = rmsnorm(branch) * w, then x += xn. */
export interface BranchNorm {
  norm: RmsNormOp;
  add: AddOp;
}

function branchNorm(env: KernelEnv, label: string, c: ModelConfig, a: Activations, branch: GPUBuffer, g: GPUBuffer): BranchNorm {
  return {
    norm: new RmsNormOp(env, `${label}Norm`, { x: branch, weight: g, out: a.xn }, c.hiddenSize, c.rmsNormEps),
    add: new AddOp(env, `${label}Add`, a.x, a.xn, c.hiddenSize),
  };
}

export interface ModelOps {
  /** x = embed_tokens[tokens]. */
  embed: EmbedOp;
  layers: LayerOps[];
  /** xn = rmsnorm(x) * norm; null when fused into the LM head. */
  finalNorm: RmsNormOp | null;
  /** logits = xn @ lm_head^T, xn = rmsnorm(x) * norm (in the kernel when fused); one matmul per part of a head split by rows. */
  lmHead: RowSplitMatmul;
  /** Gemma 2: logits = cap * tanh(logits / cap) (config.finalSoftcap), else null. */
  logitCap: SoftcapOp | null;
  /**
   * Best k ids per row, ties to the lowest id; column 0 is the argmax of DESIGN section 5
   * (the same ranking as ArgmaxOp), so no separate argmax pass runs.
   */
  topK: TopKOp;
  /**
   * Column 0 of topK alone (the others NO_ID), same ranking and guard, one dispatch: run instead
   * of topK by a pass whose walk and drafter need only the argmax (ForwardOptions.topK false).
   */
  argmax: ArgmaxOp;
  /** probs = softmax(logits / T), run only by readProbs (the sampling path). */
  softmax: SoftmaxOp;
}

/**
 * The input of the projections after an RMSNorm with weight `g`: fused, the residual x with the
 * norm applied in the matmul; unfused, an RmsNormOp writing xn, which the matmul reads.
 */
interface NormedInput {
  norm: RmsNormOp | null;
  /** MatmulBuffers fields and MatmulOptions fields that read the normalised input. */
  buffers: { x: GPUBuffer; norm?: GPUBuffer };
  options: { normEps?: number };
}

function normedInput(env: KernelEnv, label: string, c: ModelConfig, a: Activations, g: GPUBuffer, fuse: boolean): NormedInput {
  if (fuse) return { norm: null, buffers: { x: a.x, norm: g }, options: { normEps: c.rmsNormEps } };
  return { norm: new RmsNormOp(env, label, { x: a.x, weight: g, out: a.xn }, c.hiddenSize, c.rmsNormEps), buffers: { x: a.xn }, options: {} };
}

/** Which elementwise steps are fused into the matmuls after them (see the header). */
export interface Fusion {
  /** The layers' RMSNorms into q/k/v and gate/up. */
  norm: boolean;
  /** The final RMSNorm into the LM head. */
  finalNorm: boolean;
  silu: boolean;
}

/** How the ops are built: the fusions, and the matmuls' tiling (null: MatmulOp's defaults for the adapter). */
export interface OpsPlan {
  fuse: Fusion;
  tiling: MatmulTiling | null;
  /** Logits per top-k slice (undefined: the adapter's, TopKOptions.sliceLength). */
  topKSlice?: number;
}

/** outVocab: LM head rows (the vocabulary, or the N kept rows of VocabTrim). */
export function buildOps(env: KernelEnv, c: ModelConfig, w: GpuWeights, a: Activations, kv: KvCache, maxRows: number, k: number, outVocab: number, plan: OpsPlan): ModelOps {
  // every matmul: the weight format and the tiling
  const format = { dtype: w.dtype, ...plan.tiling };
  const fuse = plan.fuse;
  const h = c.hiddenSize;
  // a table split by rows (larger than one binding): one gather per part
  const embed = new EmbedOp(env, 'forward.embed', { tokens: a.tokens, table: w.embed.parts, out: a.x }, h, c.vocabSize, w.embedDtype, c.embedScale, w.embed.partRows);
  const layers = w.layers.map((lw, l) => buildLayer(env, c, lw, a, kv, l, maxRows, format, fuse));
  const fin = normedInput(env, 'forward.finalNorm', c, a, w.finalNorm, fuse.finalNorm);
  // a head split by rows: one matmul per part, each writing its columns of the logits
  const lmHead = new RowSplitMatmul(env, 'forward.lmHead', { ...fin.buffers, w: w.lmHead.parts, y: a.logits }, w.lmHead.partRows, { inDim: h, outDim: outVocab, ...format, ...fin.options });
  const topK = new TopKOp(env, 'forward.topK', { logits: a.logits, ids: a.topKIds, values: a.topKValues }, outVocab, k, { guard: true, sliceLength: plan.topKSlice });
  const argmax = new ArgmaxOp(env, 'forward.argmax', { logits: a.logits, ids: a.topKIds }, outVocab, { k, guard: true });
  const softmax = new SoftmaxOp(env, 'forward.softmax', { logits: a.logits, probs: a.probs }, outVocab);
  const logitCap = c.finalSoftcap === null ? null : new SoftcapOp(env, 'forward.logitCap', a.logits, outVocab, c.finalSoftcap);
  return { embed, layers, finalNorm: fin.norm, lmHead, logitCap, topK, argmax, softmax };
}

type MatmulFormat = { dtype: GpuWeights['dtype'] } & Partial<MatmulTiling>;

function buildLayer(env: KernelEnv, c: ModelConfig, w: LayerWeights, a: Activations, kv: KvCache, l: number, maxRows: number, format: MatmulFormat, fuse: Fusion): LayerOps {
  const h = c.hiddenSize;
  const I = c.intermediateSize;
  const p = `forward.layer${l}.`;
  // ring: a sliding-window layer's cache may be a ring (kv/cache.ts); RoPE writes and attention reads it through the same mapping
  const dims = { nHeads: c.numHeads, nKvHeads: c.numKvHeads, headDim: c.headDim, maxRows, kvDtype: kv.dtype, ring: kv.ringOf(l) };
  const cache = { kCache: kv.k[l], vCache: kv.v[l] };
  const pre = normedInput(env, `${p}inputNorm`, c, a, w.inputNorm, fuse.norm);
  // the MLP's input norm: post_attention_layernorm, or Gemma's pre_feedforward_layernorm
  const post = normedInput(env, `${p}postNorm`, c, a, w.preFfNorm ?? w.postNorm, fuse.norm);
  // residual branches: accumulated into x by the matmul, or (Gemma) written to branch and normalised first
  const sandwich = a.branch !== null && w.postFfNorm !== null;
  const out = sandwich ? { y: a.branch!, accumulate: false } : { y: a.x, accumulate: true };
  const down = { inDim: I, outDim: h, ...format, accumulate: out.accumulate };
  const ropeTable = c.noRopeLayers[l] ? a.ropeTableNone! : c.localLayers[l] ? a.ropeTableLocal : a.ropeTable;
  // the table's width: the layer's rotated dims (the NoPE table is the global RoPE's width)
  const rotaryDim = c.localLayers[l] && !c.noRopeLayers[l] ? c.localRope.rotaryDim : c.rotaryDim;
  return {
    inputNorm: pre.norm,
    qkv: new MatmulOp(env, `${p}qkv`, { ...pre.buffers, w: w.wQkv, bias: w.bQkv, y: a.qkv }, { inDim: h, outDim: qDim(c) + 2 * kvDim(c), ...format, ...pre.options }),
    rope: new RopeKvWrite(env, `${p}rope`, { positions: a.positions, table: ropeTable, qkv: a.qkv, q: a.q, qkNorm: w.qkNorm, ...cache }, { ...dims, rotaryDim, eps: c.rmsNormEps }),
    attention: new TreeAttention(env, `${p}attention`, { mask: a.mask, q: a.q, ...cache, out: a.att }, { ...dims, scale: c.attentionScale, softcap: c.attnSoftcap, window: c.layerWindows[l] }),
    o: new MatmulOp(env, `${p}o`, { x: a.att, w: w.wo, y: out.y }, { inDim: qDim(c), outDim: h, ...format, accumulate: out.accumulate }),
    attnOut: sandwich ? branchNorm(env, `${p}attnOut`, c, a, a.branch!, w.postNorm) : null,
    postNorm: post.norm,
    gateUp: new MatmulOp(env, `${p}gateUp`, { ...post.buffers, w: w.wGateUp, y: a.gateUp }, { inDim: h, outDim: 2 * I, ...format, ...post.options }),
    siluMul: fuse.silu ? null : new SiluMulOp(env, `${p}siluMul`, { gateUp: a.gateUp, out: a.act }, I, c.hiddenAct === 'gelu_tanh'),
    down: fuse.silu
      ? new MatmulOp(env, `${p}down`, { x: a.gateUp, w: w.wDown, y: out.y }, { ...down, gated: true })
      : new MatmulOp(env, `${p}down`, { x: a.act, w: w.wDown, y: out.y }, down),
    mlpOut: sandwich ? branchNorm(env, `${p}mlpOut`, c, a, a.branch!, w.postFfNorm!) : null,
  };
}
