/**
 * CPU reference forward of the Llama family: the test oracle for the GPU forward pass and the
 * CLI's `--device cpu`. Plain loops over cpu-ops, in the order of transformers'
 * LlamaDecoderLayer (pre-norm attention and SwiGLU MLP with residuals), written for clarity,
 * not speed.
 *
 * The KV cache is addressed by slot, not position, exactly like the GPU cache (DESIGN section 3):
 * a verify pass writes tree row i to slot (n-1)+i with RoPE position (n-1)+depth(i), and
 * moveSlot is the compaction that follows acceptance. With kvDtype 'f16' every K and V is
 * rounded to f16 (nearest even) as it is written, as the GPU's f16 cache stores it
 * (shaders/common/kv_store.wgsl), so the two agree on an f16 cache too.
 */
import { ContextLengthError, OptionsError, TreespecError } from '../errors.ts';
import { add, argmax, attention, embed, geluTanhMul, longRopeFactors, matmul, rmsNorm, rope, ropeInvFreq, siluMul } from './cpu-ops.ts';
import { kvDim, qDim, type ModelConfig } from './config.ts';
import { weightF32, type ModelFiles } from './weights.ts';
import { roundF16 } from './f16.ts';
import { isKvDtype, type KvDtype } from '../kv/cache.ts';

interface LayerWeights {
  inputNorm: Float32Array; // (hidden)
  wq: Float32Array; // (numHeads * headDim, hidden)
  wk: Float32Array; // (numKvHeads * headDim, hidden)
  wv: Float32Array; // (numKvHeads * headDim, hidden)
  bq: Float32Array | null; // (numHeads * headDim)
  bk: Float32Array | null; // (numKvHeads * headDim)
  bv: Float32Array | null; // (numKvHeads * headDim)
  qNorm: Float32Array | null; // (headDim) Qwen3's per-head RMSNorm of q
  kNorm: Float32Array | null; // (headDim) Qwen3's per-head RMSNorm of k
  wo: Float32Array; // (hidden, numHeads * headDim)
  postNorm: Float32Array; // (hidden)
  preFfNorm: Float32Array | null; // (hidden) Gemma's pre_feedforward_layernorm (sandwichNorms)
  postFfNorm: Float32Array | null; // (hidden) Gemma's post_feedforward_layernorm
  wGate: Float32Array; // (intermediate, hidden)
  wUp: Float32Array; // (intermediate, hidden)
  wDown: Float32Array; // (hidden, intermediate)
}

/** Default KV capacity when the caller does not give one: enough for tests and CLI runs. */
const DEFAULT_MAX_SLOTS = 2048;

export class ReferenceModel {
  /** Causal length: slots [0, length) hold the K/V of positions [0, length). */
  length = 0;
  readonly maxSlots: number;
  private readonly embedTable: Float32Array; // (vocab, hidden)
  private readonly finalNorm: Float32Array; // (hidden)
  private readonly lmHead: Float32Array; // (vocab, hidden); the embedding table when tied
  private readonly layers: LayerWeights[];
  private readonly kCache: Float32Array[]; // per layer (maxSlots, numKvHeads, headDim)
  private readonly vCache: Float32Array[]; // per layer (maxSlots, numKvHeads, headDim)
  private readonly written: Uint8Array; // (maxSlots) 1 where the slot holds K/V
  private readonly slotPositions: Int32Array; // (maxSlots) the position whose K/V the slot holds (sliding windows)
  private highWater = 0; // 1 + the highest slot ever written: attention scans [0, highWater)
  private readonly invFreq: Float32Array; // (rotaryDim / 2) global layers: rope() rotates the first rotaryDim dims of a head
  private readonly invFreqLocal: Float32Array; // (localRope.rotaryDim / 2) local layers (config.localLayers)

  private constructor(readonly config: ModelConfig, get: (name: string) => Float32Array, maxSlots: number, context: number, readonly kvDtype: KvDtype) {
    const c = config;
    this.maxSlots = maxSlots;
    this.embedTable = get('model.embed_tokens.weight');
    this.finalNorm = get('model.norm.weight');
    this.lmHead = c.tieWordEmbeddings ? this.embedTable : get('lm_head.weight');
    this.layers = [];
    for (let l = 0; l < c.numLayers; l++) {
      const p = `model.layers.${l}.`;
      const bias = (n: string) => (c.attentionBias ? get(`${p}self_attn.${n}_proj.bias`) : null);
      this.layers.push({
        inputNorm: get(`${p}input_layernorm.weight`),
        wq: get(`${p}self_attn.q_proj.weight`),
        wk: get(`${p}self_attn.k_proj.weight`),
        wv: get(`${p}self_attn.v_proj.weight`),
        bq: bias('q'),
        bk: bias('k'),
        bv: bias('v'),
        qNorm: c.qkNorm ? get(`${p}self_attn.q_norm.weight`) : null,
        kNorm: c.qkNorm ? get(`${p}self_attn.k_norm.weight`) : null,
        wo: get(`${p}self_attn.o_proj.weight`),
        postNorm: get(`${p}post_attention_layernorm.weight`),
        preFfNorm: c.sandwichNorms ? get(`${p}pre_feedforward_layernorm.weight`) : null,
        postFfNorm: c.sandwichNorms ? get(`${p}post_feedforward_layernorm.weight`) : null,
        wGate: get(`${p}mlp.gate_proj.weight`),
        wUp: get(`${p}mlp.up_proj.weight`),
        wDown: get(`${p}mlp.down_proj.weight`),
      });
    }
    this.kCache = this.layers.map(() => new Float32Array(maxSlots * kvDim(c)));
    this.vCache = this.layers.map(() => new Float32Array(maxSlots * kvDim(c)));
    this.written = new Uint8Array(maxSlots);
    this.slotPositions = new Int32Array(maxSlots);
    this.invFreq = ropeInvFreq(c.rotaryDim, c.ropeTheta, c.ropeScaling, c.ropeLong && longRopeFactors(c.ropeLong, context));
    const local = c.localRope;
    this.invFreqLocal = ropeInvFreq(local.rotaryDim, local.ropeTheta, local.ropeScaling, local.ropeLong && longRopeFactors(local.ropeLong, context));
  }

  /**
   * Builds the model from validated files (weights decoded exactly to f32). `context`: the
   * context it stands for (an engine's maxContext), which picks LongRoPE's factors
   * (`longRopeFactors`); by default its slots. `kvDtype`: how its cache stores K and V
   * (GpuModelOptions.kvDtype).
   */
  static fromFiles(files: ModelFiles, maxSlots = Math.min(files.config.maxPositionEmbeddings, DEFAULT_MAX_SLOTS), context = maxSlots, kvDtype: KvDtype = 'f32'): ReferenceModel {
    if (!Number.isInteger(maxSlots) || maxSlots < 1) throw new OptionsError(`ReferenceModel: maxSlots is ${maxSlots}, expected a positive integer`);
    if (!Number.isInteger(context) || context < 1) throw new OptionsError(`ReferenceModel: context is ${context}, expected a positive integer`);
    if (!isKvDtype(kvDtype)) throw new OptionsError(`ReferenceModel: kvDtype is ${JSON.stringify(kvDtype)}, expected "f32" or "f16"`);
    const get = (name: string) => {
      const t = files.tensors.get(name);
      if (!t) throw new TreespecError(`ReferenceModel: tensor "${name}" is missing (ModelFiles were not validated?)`);
      return weightF32(files.config, name, t);
    };
    return new ReferenceModel(files.config, get, maxSlots, context, kvDtype);
  }

  /**
   * Runs rows: row r has token tokens[r], RoPE position positions[r], writes its K/V to cache
   * slot slots[r], and attends to every slot s with visible(r, s). All rows' K/V of a layer are
   * written before that layer's attention, so rows of one call may see each other (tree
   * attention). Returns logits (rows, vocab).
   */
  forwardRows(tokens: Int32Array, positions: Int32Array, slots: Int32Array, visible: (row: number, slot: number) => boolean): Float32Array {
    this.checkRows(tokens, positions, slots);
    const c = this.config;
    const rows = tokens.length;
    const h = c.hiddenSize;
    for (const s of slots) this.highWater = Math.max(this.highWater, s + 1);
    const inCall = new Uint8Array(this.highWater); // (highWater) 1 where a row of this call writes the slot
    for (const [r, s] of slots.entries()) {
      inCall[s] = 1;
      this.slotPositions[s] = positions[r];
    }
    const vis = (r: number, s: number) => {
      const v = visible(r, s);
      // Reading an empty slot would silently mix stale or zero K/V into the oracle's answer.
      if (v && !this.written[s] && !inCall[s]) throw new TreespecError(`ReferenceModel: row ${r} attends to slot ${s}, which holds no K/V`);
      return v;
    };
    // embedding: x (rows, hidden), times embedScale (Gemma's sqrt(hidden))
    let x = embed(this.embedTable, h, tokens);
    if (c.embedScale !== 1) x = x.map((v) => v * c.embedScale);
    for (let l = 0; l < c.numLayers; l++) {
      const w = this.layers[l];
      const invFreq = c.localLayers[l] ? this.invFreqLocal : this.invFreq;
      const af = (c.localLayers[l] ? c.localRope : c).ropeLong?.attentionFactor ?? 1;
      // attention block: rmsnorm, q/k/v projections (+bias), per-head q/k norm (Qwen3, Gemma),
      // RoPE, KV write, attention, o_proj, (Gemma: post_attention_layernorm), residual
      const xn = rmsNorm(x, w.inputNorm, c.rmsNormEps); // (rows, hidden)
      let q = matmul(xn, w.wq, h, qDim(c), w.bq); // (rows, numHeads, headDim)
      let k = matmul(xn, w.wk, h, kvDim(c), w.bk); // (rows, numKvHeads, headDim)
      // rmsNorm normalises rows of its weight's length: here each head of each row
      if (w.qNorm) q = rmsNorm(q, w.qNorm, c.rmsNormEps);
      if (w.kNorm) k = rmsNorm(k, w.kNorm, c.rmsNormEps);
      let v = matmul(xn, w.wv, h, kvDim(c), w.bv); // (rows, numKvHeads, headDim)
      // SmolLM3's NoPE layers attend without positions
      if (!c.noRopeLayers[l]) {
        rope(q, c.numHeads, c.headDim, positions, invFreq, af);
        rope(k, c.numKvHeads, c.headDim, positions, invFreq, af);
      }
      if (this.kvDtype === 'f16') {
        k = roundF16(k);
        v = roundF16(v);
      }
      for (let r = 0; r < rows; r++) {
        this.kCache[l].set(k.subarray(r * kvDim(c), (r + 1) * kvDim(c)), slots[r] * kvDim(c));
        this.vCache[l].set(v.subarray(r * kvDim(c), (r + 1) * kvDim(c)), slots[r] * kvDim(c));
      }
      // a sliding layer: row r sees the keys of positions positions[r] - window < p (transformers' sliding_window_overlay)
      const win = c.layerWindows[l];
      const visL = win === 0 ? vis : (r: number, s: number) => vis(r, s) && this.slotPositions[s] > positions[r] - win;
      const att = attention(q, this.kCache[l], this.vCache[l], rows, c.numHeads, c.numKvHeads, c.headDim, this.highWater, visL, c.attentionScale, c.attnSoftcap);
      const o = matmul(att, w.wo, qDim(c), h); // (rows, hidden)
      x = add(x, c.sandwichNorms ? rmsNorm(o, w.postNorm, c.rmsNormEps) : o);
      // MLP block: rmsnorm (post_attention_layernorm, Gemma: pre_feedforward_layernorm),
      // gated MLP down(act(gate(x)) * up(x)) with silu (SwiGLU) or tanh-GELU (GeGLU),
      // (Gemma: post_feedforward_layernorm), residual
      const xm = rmsNorm(x, w.preFfNorm ?? w.postNorm, c.rmsNormEps);
      const gate = matmul(xm, w.wGate, h, c.intermediateSize); // (rows, intermediate)
      const up = matmul(xm, w.wUp, h, c.intermediateSize); // (rows, intermediate)
      const mlp = matmul(c.hiddenAct === 'silu' ? siluMul(gate, up) : geluTanhMul(gate, up), w.wDown, c.intermediateSize, h);
      x = add(x, w.postFfNorm ? rmsNorm(mlp, w.postFfNorm, c.rmsNormEps) : mlp);
    }
    for (const s of slots) this.written[s] = 1;
    // final norm and LM head: logits (rows, vocab); Gemma 2: cap * tanh(logits / cap)
    const logits = matmul(rmsNorm(x, this.finalNorm, c.rmsNormEps), this.lmHead, h, c.vocabSize);
    const cap = c.finalSoftcap;
    return cap === null ? logits : logits.map((v) => cap * Math.tanh(v / cap));
  }

  private checkRows(tokens: Int32Array, positions: Int32Array, slots: Int32Array): void {
    const c = this.config;
    if (positions.length !== tokens.length || slots.length !== tokens.length) {
      throw new OptionsError(`ReferenceModel.forwardRows: ${tokens.length} tokens, ${positions.length} positions, ${slots.length} slots; expected equal lengths`);
    }
    for (let r = 0; r < tokens.length; r++) {
      if (tokens[r] < 0 || tokens[r] >= c.vocabSize) throw new OptionsError(`ReferenceModel: token ${tokens[r]} at row ${r} is outside [0, ${c.vocabSize})`);
      if (positions[r] < 0 || positions[r] >= c.maxPositionEmbeddings) {
        throw new ContextLengthError(`ReferenceModel: position ${positions[r]} at row ${r} is outside [0, ${c.maxPositionEmbeddings}) (max_position_embeddings)`);
      }
      if (slots[r] < 0 || slots[r] >= this.maxSlots) throw new ContextLengthError(`ReferenceModel: slot ${slots[r]} at row ${r} is outside the cache [0, ${this.maxSlots})`);
    }
    if (new Set(slots).size !== slots.length) throw new OptionsError('ReferenceModel.forwardRows: two rows write the same slot');
  }

  /** Causal convenience: appends tokens after the current length. Returns logits (n, vocab). */
  forward(tokens: Int32Array): Float32Array {
    const n0 = this.length;
    const idx = Int32Array.from({ length: tokens.length }, (_, i) => n0 + i); // (n) position = slot
    const logits = this.forwardRows(tokens, idx, idx, (r, s) => s <= n0 + r);
    this.length = n0 + tokens.length;
    return logits;
  }

  /** Keeps slots [0, n) as the causal prefix and forgets every other slot. */
  truncate(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > this.maxSlots) throw new OptionsError(`ReferenceModel.truncate: n is ${n}, expected an integer in [0, ${this.maxSlots}]`);
    for (let s = 0; s < n; s++) if (!this.written[s]) throw new TreespecError(`ReferenceModel.truncate(${n}): slot ${s} holds no K/V`);
    this.written.fill(0, n);
    this.length = n;
  }

  /** Copies slot `from`'s K/V (every layer) to slot `to`: the KV compaction oracle. */
  moveSlot(from: number, to: number): void {
    for (const s of [from, to]) {
      if (!Number.isInteger(s) || s < 0 || s >= this.maxSlots) throw new OptionsError(`ReferenceModel.moveSlot: slot ${s} is outside [0, ${this.maxSlots})`);
    }
    if (!this.written[from]) throw new TreespecError(`ReferenceModel.moveSlot: slot ${from} holds no K/V`);
    const d = kvDim(this.config);
    for (let l = 0; l < this.config.numLayers; l++) {
      this.kCache[l].copyWithin(to * d, from * d, (from + 1) * d);
      this.vCache[l].copyWithin(to * d, from * d, (from + 1) * d);
    }
    this.written[to] = 1;
    this.slotPositions[to] = this.slotPositions[from];
    this.highWater = Math.max(this.highWater, to + 1);
  }

  /**
   * Plain greedy decoding from an empty cache: argmax with ties to the lowest id (DESIGN 5).
   * Returns the generated tokens (prompt excluded); a stop token is included and ends generation.
   */
  generateGreedy(prompt: Int32Array, maxTokens: number, stopIds: number[] = []): Int32Array {
    if (prompt.length === 0) throw new OptionsError('ReferenceModel.generateGreedy: the prompt is empty');
    // The last generated token is never run through the model, hence the - 1.
    const needed = prompt.length + maxTokens - 1;
    if (needed > this.maxSlots) throw new ContextLengthError(`ReferenceModel.generateGreedy: prompt ${prompt.length} + maxTokens ${maxTokens} needs ${needed} cache slots, capacity is ${this.maxSlots}`);
    this.truncate(0);
    const out: number[] = [];
    const vocab = this.config.vocabSize;
    let logits = this.forward(prompt);
    let last = prompt.length - 1;
    while (out.length < maxTokens) {
      const tok = argmax(logits, last * vocab, vocab);
      out.push(tok);
      if (stopIds.includes(tok) || out.length === maxTokens) break;
      logits = this.forward(Int32Array.of(tok));
      last = 0;
    }
    return Int32Array.from(out);
  }
}
