/**
 * The target model on the GPU: weights, activation buffers, KV cache and pipelines allocated
 * once at load; `forward` runs one pass over up to maxTreeRows rows (a prefill chunk, one
 * decode row, or the root plus a draft tree) in ONE submit; `commit` keeps a path of that pass
 * in the KV cache (DESIGN section 3).
 *
 * Contract of a pass (DESIGN section 3):
 *  - prefix = kv.length committed slots; every row sees them all;
 *  - row r has RoPE position positions[r], writes its K/V to slot prefix + r (uncommitted),
 *    and sees slot prefix + j when bit j of mask[r*4 + (j >> 5)] is set (itself and its
 *    ancestors; a causal chunk is a chain: bits 0..r);
 *  - the pass leaves logits (rows, vocab) on the GPU with each row's argmax and top-k.
 * The reads (readArgmaxTopK, readProbs, readLogits) see the last pass until the next forward,
 * before or after its commit. Once per pass, `commit(rowPath)` keeps rows rowPath[0] <
 * rowPath[1] < ... as slots prefix..prefix+len-1 (kv.length += len), e.g. [0, a1, .., ak] for
 * an accepted tree path or [0..rows-1] for a prefill chunk. Rows are never re-run: a row at
 * depth j was rotated with position prefix + j, which is where compaction puts it.
 *
 * Sequence start (DESIGN section 3: the cache holds positions 0..n-2, the last token is the
 * root): `prefill(prompt)` empties the cache and commits prompt[0..n-2] without computing
 * logits; the first decode or verify pass then runs the root prompt[n-1] at position n-1.
 *
 * Memory (`memory`): weights; KV cache 2 * layers * (maxContext + maxTreeRows) * kvHeads *
 * headDim * 4 bytes (f32; half that for an f16 cache), each layer's range rounded up to 256
 * (kv/cache.ts); activations and
 * staging proportional to maxTreeRows * (vocab + widths).
 * An embedding or LM head larger than one storage binding is split by rows into several buffers
 * (src/model/upload.ts RowParts); every other buffer must fit the adapter's limits.
 */
import { ContextLengthError, GpuOutOfMemoryError, OptionsError, TreespecError } from '../errors.ts';
import { ReadbackStateError } from '../gpu/errors.ts';
import type { ReadbackRing } from '../gpu/readback.ts';
import { encoderRecorder, passRecorder, type ForwardProfiler, type PassRecorder } from '../gpu/pass-recorder.ts';
import { GpuCounter } from '../gpu/counter.ts';
import type { StepUniform } from '../gpu/step.ts';
import { KvCommitError, type KvCache } from '../kv/cache.ts';
import type { ModelConfig } from './config.ts';
import type { Activations } from './forward-buffers.ts';
import type { ModelOps } from './forward-ops.ts';
import type { GpuWeights } from './upload.ts';
import type { MatmulTiling, TuningResult } from '../ops/matmul-tuning.ts';
import { checkBufferLimits } from '../gpu/limits.ts';
import type { ModelFiles } from './weights.ts';
import { allocate, checkOptions, defaultFusion, largestBuffers, partLimit, tilingOption, type GpuModelOptions } from './gpu-model-setup.ts';

export type { GpuModelOptions } from './gpu-model-setup.ts';

export interface ForwardOptions {
  /** false: no final norm, LM head or top-k (a prefill chunk only fills the cache). Default true. */
  logits?: boolean;
  /**
   * Early exit (DEL self-speculation): run only layers 0..exitLayer-1, then the final norm and
   * LM head. Slots of this pass hold K/V of those layers only: commit them only to truncate
   * them before the next full pass, which rewrites every layer of its slots. Default: all.
   */
  exitLayer?: number;
  /**
   * false: only column 0 of the top-k ids (the argmax; the other columns NO_ID, -1 when read),
   * one dispatch where the full top-k over a GPU's slices of a large vocabulary takes two: for
   * a greedy walk whose drafter reads nothing of the target's top-k beyond the argmax
   * (Drafter.needsTopK). Default true.
   */
  topK?: boolean;
  /**
   * More work for the pass's command buffer, recorded after the LM head and top-k (the
   * acceptance walk and its readback copy), so that a verify step is one submit.
   */
  after?: (encoder: GPUCommandEncoder) => void;
  /**
   * The rows' tokens are already in passInputs().tokens, written there by work submitted before
   * (plain greedy decoding encoded ahead copies each pass's argmax there for the next pass,
   * src/engine/ahead.ts); `tokens` then gives only the row count and is neither checked nor
   * written. Default false.
   */
  tokensOnGpu?: boolean;
}

/** Per-row results of a pass that the CPU needs every step (one small readback). */
export interface ArgmaxTopK {
  /** (rows) greedy token per row (ties to the lowest id, DESIGN section 5). */
  argmax: Int32Array;
  /** (rows, k) best ids per row, best first; column 0 equals argmax. */
  topK: Int32Array;
  k: number;
}

/** GPU memory of a loaded model, in bytes. */
export interface GpuModelMemory {
  weights: number;
  kvCache: number;
  activations: number;
}

export class GpuModel {
  /** Rows of the last forward pass if it computed logits (what the reads may read), else 0. */
  private lastRows = 0;
  /** Rows of the last pass that may still be committed (0 after a commit or truncate). */
  private pendingRows = 0;
  /** Rows of the last forward pass, with or without logits (the rows of x it left, see headInputs). */
  private passRows = 0;
  /** (maxRows, 4) u32 chain mask: row r sees pass rows 0..r (prefill chunks use its leading rows). */
  private readonly chain: Uint32Array;
  /** Whether `hostStaging` is mapped or about to be (one full-width read at a time). */
  private stagingBusy = false;
  /** Early-exit taps (tapHidden): tapped layers and their (layers, maxRows, hidden) f32 buffer. */
  private taps: { layers: number[]; buffer: GPUBuffer } | null = null;
  /** Rows of the last pass that filled the taps. */
  private tappedRows = 0;
  private readonly attached: { destroy(): void }[] = [];
  /** Attached by a profiled generation (--profile): forward() then times every op. */
  profiler: ForwardProfiler | null = null;

  private constructor(
    readonly device: GPUDevice,
    /** Dispatches, submits and readbacks of this model's work: passes, reads, KV flushes, the acceptance walk over it. */
    readonly counter: GpuCounter,
    readonly config: ModelConfig,
    readonly kv: KvCache,
    readonly maxRows: number,
    readonly memory: GpuModelMemory,
    private readonly step: StepUniform,
    private readonly weights: GpuWeights,
    private readonly acts: Activations,
    private readonly ops: ModelOps,
    readonly topK: number,
    /** Width of a logits row: the vocabulary, or N with lmHeadRows (ids index into that list). */
    readonly outVocab: number,
    /** Staging of the small per-step readback: (maxRows, topK) u32 per slot. */
    private readonly topKReadback: ReadbackRing,
    /** (maxRows, vocab) f32 MAP_READ staging of readLogits / readProbs. */
    private readonly hostStaging: GPUBuffer,
    /**
     * The matmuls' tiling (null: MatmulOp's defaults for the adapter) and, when it was measured
     * at load (GpuModelOptions.matmulTiling 'auto'), the candidates' times.
     */
    readonly matmul: { tiling: MatmulTiling | null; tuning: TuningResult | null },
  ) {
    this.chain = new Uint32Array(maxRows * 4);
    for (let r = 0; r < maxRows; r++) for (let j = 0; j <= r; j++) this.chain[r * 4 + (j >> 5)] |= 1 << (j & 31);
  }

  /** Uploads weights and allocates every buffer and pipeline; throws GpuOutOfMemoryError when the device cannot hold them. */
  static async load(device: GPUDevice, files: ModelFiles, opts: GpuModelOptions): Promise<GpuModel> {
    const c = files.config;
    const { maxContext, maxRows, dtype, kvDtype, topK, topKSlice, lmHeadRows } = checkOptions(c, opts);
    const outVocab = lmHeadRows?.length ?? c.vocabSize;
    checkBufferLimits(largestBuffers(c, maxRows, maxContext + maxRows, dtype, outVocab, kvDtype), device.limits);
    const parts = partLimit(device, opts);
    const tiling = tilingOption(device, opts);
    device.pushErrorScope('validation');
    device.pushErrorScope('out-of-memory');
    const counter = new GpuCounter('model');
    let built;
    try {
      built = await allocate(device, files, counter, { maxContext, maxRows, dtype, kvDtype, topK, topKSlice, lmHeadRows, fuse: defaultFusion(device, files.config, opts), tiling, partLimit: parts });
    } finally {
      const oom = await device.popErrorScope();
      const invalid = await device.popErrorScope();
      if (oom) throw new GpuOutOfMemoryError(`GpuModel.load: the GPU could not allocate the model (${oom.message})`);
      if (invalid) throw new TreespecError(`GpuModel.load: WebGPU rejected a buffer, pipeline or bind group (${invalid.message})`);
    }
    const { pipelines, step, weights, acts, kv, ops, topKReadback, hostStaging, memory, tiling: chosen, tuning } = built;
    await pipelines.checkCompilation();
    return new GpuModel(device, counter, c, kv, maxRows, memory, step, weights, acts, ops, topK, outVocab, topKReadback, hostStaging, { tiling: chosen, tuning });
  }

  /**
   * One pass over `tokens` (rows = tokens.length <= maxRows) after the kv.length committed
   * slots; see the contract above. mask holds rows * 4 u32. One submit; nothing is read back.
   * `logits: false` skips the final norm, LM head and top-k (a prefill chunk only fills the
   * cache: the LM head is about a fifth of the FLOPs of a SmolLM2-135M pass); the reads then
   * have nothing to read until the next pass with logits.
   */
  forward(tokens: Int32Array, positions: Int32Array, mask: Uint32Array, opts: ForwardOptions = {}): void {
    const withLogits = opts.logits ?? true;
    const onGpu = opts.tokensOnGpu ?? false;
    const rows = this.checkPass(tokens, positions, mask, onGpu);
    const layerCount = this.checkExitLayer(opts.exitLayer);
    this.claimSlots(this.kv.length + rows, 'forward');
    const tapping = this.taps !== null && layerCount === this.config.numLayers && withLogits;
    const a = this.acts;
    const queue = this.device.queue;
    if (!onGpu) queue.writeBuffer(a.tokens, 0, tokens.buffer, tokens.byteOffset, rows * 4);
    queue.writeBuffer(a.positions, 0, positions.buffer, positions.byteOffset, rows * 4);
    queue.writeBuffer(a.mask, 0, mask.buffer, mask.byteOffset, rows * 16);
    this.step.write(rows, this.kv.length);
    const rec = passRecorder(this.device, 'forward', this.profiler, this.counter);
    this.recordOps(rec, rows, layerCount, withLogits && (opts.topK === false ? 'argmax' : 'topK'), tapping);
    rec.submit(opts.after);
    this.lastRows = withLogits ? rows : 0;
    this.pendingRows = rows;
    this.passRows = rows;
    if (tapping) this.tappedRows = rows;
  }

  /**
   * A pass whose inputs are already on the GPU (passInputs(): tokens, positions, mask, and the
   * Step words at `step` in a buffer), recorded into the caller's `encoder` after a copy of
   * those Step words into this model's Step uniform: a draft tree grown on the GPU runs one such
   * pass per level and the target's verify pass in one command buffer (src/draft/gpu-grow.ts).
   * Rows r write slots kv.length + rowBase + r. With logits, the reads then see `rows` rows;
   * `topK: false` as in ForwardOptions.
   */
  encodePass(encoder: GPUCommandEncoder, rows: number, step: { buffer: GPUBuffer; offset: number }, opts: { logits?: boolean; topK?: boolean } = {}): void {
    if (!Number.isInteger(rows) || rows < 1 || rows > this.maxRows) throw new OptionsError(`GpuModel.encodePass: ${rows} rows, expected 1..${this.maxRows} (maxTreeRows)`);
    const logits = opts.logits ?? true;
    // the Step words are on the GPU: rows may start up to maxRows - rows past kv.length (rowBase)
    this.claimSlots(this.kv.length + this.maxRows, 'encodePass');
    encoder.copyBufferToBuffer(step.buffer, step.offset, this.step.buffer, 0, 16);
    const rec = encoderRecorder(this.device, 'forward', encoder, this.counter);
    this.recordOps(rec, rows, this.config.numLayers, logits && (opts.topK === false ? 'argmax' : 'topK'), false);
    rec.submit();
    this.lastRows = logits ? rows : 0;
    this.pendingRows = 0;
    this.passRows = rows;
  }

  /**
   * Where a pass reads its inputs, for kernels that write them (src/draft/gpu-grow.ts):
   * tokens (maxRows) u32, positions (maxRows) u32, mask (maxRows, 4) u32.
   */
  passInputs(): { tokens: GPUBuffer; positions: GPUBuffer; mask: GPUBuffer } {
    return { tokens: this.acts.tokens, positions: this.acts.positions, mask: this.acts.mask };
  }

  /**
   * Commits `count` slots whose K/V a kernel has already compacted in place (a step recorded
   * on the GPU, src/draft/gpu-grow.ts): kv.length += count, nothing is moved.
   */
  commitCompacted(count: number): void {
    this.kv.advance(count);
    this.pendingRows = 0;
  }

  /**
   * The ops of one pass over `rows` rows: the last commit's compaction, then the forward pass;
   * `head`: false (no logits), or the head's per-row ranking: the top-k, or its column 0 alone.
   */
  private recordOps(rec: PassRecorder, rows: number, layerCount: number, head: false | 'topK' | 'argmax', tapping: boolean): void {
    const ops = this.ops;
    // the last commit's KV compaction, recorded lazily (src/kv/cache.ts)
    const compaction = this.kv.takePending();
    if (compaction) rec.op('kvCompact', compaction, rows);
    // embedding: x = embed_tokens[tokens]
    rec.op('embed', ops.embed, rows);
    for (const [l, layer] of ops.layers.slice(0, layerCount).entries()) {
      const p = `layer${l}.`;
      // early-exit taps (DEL): the residual entering layer l, saved for readTapTopK
      if (tapping) this.encodeTap(rec, l, rows);
      // attention block: x += o_proj(attention(rope(q), cache + rope(k) and v of this pass)),
      // q, k, v = projections of xn = rmsnorm(x) * input_layernorm (its own kernel, or fused into each)
      if (layer.inputNorm) rec.op(`${p}inputNorm`, layer.inputNorm, rows);
      rec.op(`${p}qkv`, layer.qkv, rows);
      // rotated q; K/V of row r -> cache slot prefix + r (Qwen3, Gemma 3: q and k heads RMS-normalised first, in the same kernel)
      rec.op(`${p}rope`, layer.rope, rows);
      rec.op(`${p}attention`, layer.attention, rows);
      rec.op(`${p}o`, layer.o, rows);
      // Gemma: the attention output normalised (post_attention_layernorm) before the residual add
      if (layer.attnOut) {
        rec.op(`${p}attnOutNorm`, layer.attnOut.norm, rows);
        rec.op(`${p}attnOutAdd`, layer.attnOut.add, rows);
      }
      // MLP block: x += down_proj(act(gate_proj(xn)) * up_proj(xn)), act silu (SwiGLU) or
      // tanh-GELU (GeGLU, Gemma); xn = rmsnorm(x) * post_attention_layernorm (Gemma:
      // pre_feedforward_layernorm), its own kernel or fused into gateUp; act(gate) * up its own
      // kernel, or (silu) fused into down
      if (layer.postNorm) rec.op(`${p}postNorm`, layer.postNorm, rows);
      rec.op(`${p}gateUp`, layer.gateUp, rows);
      if (layer.siluMul) rec.op(`${p}siluMul`, layer.siluMul, rows);
      rec.op(`${p}down`, layer.down, rows);
      // Gemma: the MLP output normalised (post_feedforward_layernorm) before the residual add
      if (layer.mlpOut) {
        rec.op(`${p}mlpOutNorm`, layer.mlpOut.norm, rows);
        rec.op(`${p}mlpOutAdd`, layer.mlpOut.add, rows);
      }
    }
    if (head) {
      // final norm and LM head (after layer layerCount - 1 for an early exit): logits (rows, vocab)
      if (ops.finalNorm) rec.op('finalNorm', ops.finalNorm, rows);
      rec.op('lmHead', ops.lmHead, rows);
      // Gemma 2: final logit soft-capping
      if (ops.logitCap) rec.op('logitCap', ops.logitCap, rows);
      // per-row top-k (column 0 = argmax) for verification and the drafters, or the argmax alone
      if (head === 'argmax') rec.op('argmax', ops.argmax, rows);
      else rec.op('topK', ops.topK, rows);
    }
  }

  /** Argmax and top-k of rows 0..rows-1 of the last pass: one copy of rows * k u32. */
  async readArgmaxTopK(rows: number): Promise<ArgmaxTopK> {
    this.checkReadRows(rows, 'readArgmaxTopK');
    const k = this.topK;
    const encoder = this.device.createCommandEncoder({ label: 'forward.readTopK' });
    const slot = this.topKReadback.copy(encoder, this.acts.topKIds, 0, rows * k * 4);
    this.counter.submit(this.device.queue, encoder);
    const topK = await this.topKReadback.read(slot, new Int32Array(rows * k));
    const argmax = new Int32Array(rows);
    for (let r = 0; r < rows; r++) argmax[r] = topK[r * k];
    return { argmax, topK, k };
  }

  /** softmax(logits / temperature) of the given rows of the last pass (the sampling path), computed on the GPU. */
  async readProbs(rows: number[], temperature: number): Promise<Float32Array[]> {
    if (rows.length < 1) return [];
    const last = Math.max(...rows);
    this.checkReadRows(last + 1, 'readProbs');
    if (rows.some((r) => !Number.isInteger(r) || r < 0)) throw new OptionsError(`GpuModel.readProbs: rows ${JSON.stringify(rows)} must be row indices of the last pass`);
    if (!(temperature > 0) || !Number.isFinite(temperature)) throw new OptionsError(`GpuModel.readProbs: temperature must be a finite number > 0, got ${temperature}`);
    this.ops.softmax.setTemperature(temperature);
    const encoder = this.device.createCommandEncoder({ label: 'forward.readProbs' });
    const pass = this.counter.beginPass(encoder, { label: 'forward.softmaxPass' });
    this.ops.softmax.encode(pass, last + 1); // the Step uniform still holds the last pass's rows
    pass.end();
    const all = await this.readRows(encoder, this.acts.probs, rows);
    const vocab = this.outVocab;
    return rows.map((_, i) => all.slice(i * vocab, (i + 1) * vocab));
  }

  /** Logits (rows, vocab) of the last pass, for tests and debugging (one full copy; verification reads none). */
  async readLogits(rows: number): Promise<Float32Array> {
    this.checkReadRows(rows, 'readLogits');
    const encoder = this.device.createCommandEncoder({ label: 'forward.readLogits' });
    return this.readRows(encoder, this.acts.logits, Array.from({ length: rows }, (_, r) => r));
  }

  /** Logits (rows.length, outVocab) of the given rows of the last pass (e.g. a draft tree's frontier), back to back. */
  async readLogitRows(rows: number[]): Promise<Float32Array> {
    if (rows.length < 1) return new Float32Array(0);
    this.checkReadRows(Math.max(...rows) + 1, 'readLogitRows');
    if (rows.some((r) => !Number.isInteger(r) || r < 0)) throw new OptionsError(`GpuModel.readLogitRows: rows ${JSON.stringify(rows)} must be row indices of the last pass`);
    const encoder = this.device.createCommandEncoder({ label: 'forward.readLogitRows' });
    return this.readRows(encoder, this.acts.logits, rows);
  }

  /**
   * Where every pass leaves its outputs on the GPU, for kernels that read them in place (the
   * acceptance walk, src/verify/gpu-walk.ts): logits (maxRows, outVocab) f32 and top-k ids
   * (maxRows, topK) u32, and their logits (maxRows, topK) f32. The buffers live as long as the
   * model; checkPassRows says whether the last pass filled `rows` of them.
   */
  passOutputs(): { logits: GPUBuffer; topKIds: GPUBuffer; topKValues: GPUBuffer } {
    return { logits: this.acts.logits, topKIds: this.acts.topKIds, topKValues: this.acts.topKValues };
  }

  /**
   * What draft heads read of the target on the GPU (Hydra, src/draft/hydra-gpu.ts): the residual
   * stream after the last layer of the last pass, x (maxRows, hidden) f32 - row r's final hidden
   * state is rmsnorm(x[r]) * finalNorm with epsilon `eps`, what the LM head reads - and the
   * embedding table (vocab, hidden) in its storage. The buffers live as long as the model.
   */
  headInputs(): { x: GPUBuffer; finalNorm: GPUBuffer; eps: number; embed: GPUBuffer; embedDtype: 'f32' | 'f16'; matrixDtype: 'f32' | 'f16' } {
    const w = this.weights;
    const parts = w.embed.parts;
    if (parts.length > 1) {
      // the heads' gather binds one table; a split one would need their kernel to take parts too
      throw new OptionsError(`GpuModel.headInputs: draft heads read the embedding as one binding, and this model's (${w.embed.rows} rows) is split into ${parts.length} buffers of ${w.embed.partRows} rows (larger than maxStorageBufferBindingSize)`);
    }
    return { x: this.acts.x, finalNorm: w.finalNorm, eps: this.config.rmsNormEps, embed: parts[0], embedDtype: w.embedDtype, matrixDtype: w.dtype === 'f32' ? 'f32' : 'f16' };
  }

  /** Rows of x the last forward pass left (a prefill chunk's too): its last row is the last token run. */
  get lastPassRows(): number {
    return this.passRows;
  }

  /** Throws unless the last pass computed logits and top-k for rows 0..rows-1. */
  checkPassRows(rows: number): void {
    this.checkReadRows(rows, 'checkPassRows');
  }

  /** Copies (outVocab)-wide rows `rows` of `src` back to back into hostStaging after `encoder`'s work; one submit, one map. */
  private async readRows(encoder: GPUCommandEncoder, src: GPUBuffer, rows: number[]): Promise<Float32Array> {
    if (this.stagingBusy) throw new ReadbackStateError('GpuModel: readLogits/readProbs called again before the previous read finished');
    this.stagingBusy = true;
    const rowBytes = this.outVocab * 4;
    rows.forEach((r, i) => encoder.copyBufferToBuffer(src, r * rowBytes, this.hostStaging, i * rowBytes, rowBytes));
    this.counter.submit(this.device.queue, encoder);
    const bytes = rows.length * rowBytes;
    try {
      await this.counter.mapRead(this.hostStaging, 0, bytes);
      const out = new Float32Array(this.hostStaging.getMappedRange(0, bytes).slice(0));
      this.hostStaging.unmap();
      return out;
    } finally {
      this.stagingBusy = false;
    }
  }

  /** Keeps rows `rowPath` (strictly increasing, e.g. [0, a1, .., ak]) of the last pass; kv.length += rowPath.length. The moves are recorded by the next pass. */
  commit(rowPath: ArrayLike<number>): void {
    this.kv.commit(rowPath, this.pendingRows);
    this.pendingRows = 0;
  }

  /** Forgets committed slots from `length` on (kv.length = length). */
  truncate(length: number): void {
    this.kv.truncate(length);
    this.pendingRows = 0;
  }

  /**
   * Prefix reuse: keeps the committed slots below `length` where the cache can go on from them,
   * else empties it (a sliding-window layer's ring has overwritten keys a pass after `length`
   * would read, kv/cache.ts holds); returns the slots kept, from which the caller recomputes.
   */
  rewind(length: number): number {
    this.truncate(length);
    const kept = this.kv.kept(length);
    if (kept !== length) this.truncate(kept);
    return kept;
  }

  /**
   * Starts a sequence: empties the cache, then runs and commits prompt[0..n-2] as causal chunks
   * of up to maxRows rows. The last prompt token is the root of the first step (DESIGN 3): it
   * is run by the first decode or verify pass, at position n-1.
   */
  prefill(prompt: Int32Array): void {
    if (prompt.length < 1) throw new OptionsError('GpuModel.prefill: the prompt is empty');
    this.truncate(0);
    this.append(prompt.subarray(0, prompt.length - 1));
  }

  /** Runs `tokens` causally after the committed slots (positions = slots) and commits them all; computes no logits. */
  append(tokens: Int32Array): void {
    for (let start = 0; start < tokens.length; start += this.maxRows) {
      const chunk = tokens.subarray(start, Math.min(tokens.length, start + this.maxRows));
      const base = this.kv.length;
      const positions = Int32Array.from({ length: chunk.length }, (_, r) => base + r);
      this.forward(chunk, positions, this.chain.subarray(0, chunk.length * 4), { logits: false });
      this.commit(Int32Array.from({ length: chunk.length }, (_, r) => r));
    }
  }

  /**
   * DEL early-exit estimation (Zarch et al. 2025): from now on every full pass with logits saves
   * the residual stream entering each of `layers` (0 < l < numLayers; exiting after l layers is
   * the hidden state entering layer l) into one buffer (layers.length, maxRows, hidden) f32,
   * allocated here once (a few hundred KB), for readTapTopK. Called once, by the early-exit drafter.
   */
  tapHidden(layers: number[]): void {
    const n = this.config.numLayers;
    if (layers.length < 1 || layers.some((l) => !Number.isInteger(l) || l < 1 || l >= n) || new Set(layers).size !== layers.length) {
      throw new OptionsError(`GpuModel.tapHidden: layers ${JSON.stringify(layers)} must be distinct integers in 1..${n - 1}`);
    }
    this.taps?.buffer.destroy();
    const size = layers.length * this.maxRows * this.config.hiddenSize * 4;
    const buffer = this.device.createBuffer({ label: 'forward.hiddenTaps', size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    this.taps = { layers: [...layers], buffer };
  }

  /**
   * Top-k ids (rows.length, k) that exiting after tapped layer `layer` would give at `rows` of
   * the last tapped pass: final norm + LM head + top-k over the saved hidden states. It reuses
   * the pass's activation buffers, so it replaces the last pass's logits: read those first.
   */
  async readTapTopK(layer: number, rows: number[]): Promise<Int32Array> {
    const tap = this.taps?.layers.indexOf(layer) ?? -1;
    if (!this.taps || tap < 0) throw new OptionsError(`GpuModel.readTapTopK: layer ${layer} is not tapped (tapHidden)`);
    if (rows.length < 1 || rows.length > this.maxRows || rows.some((r) => !Number.isInteger(r) || r < 0 || r >= this.tappedRows)) {
      throw new OptionsError(`GpuModel.readTapTopK: rows ${JSON.stringify(rows)} must be 1..${this.maxRows} distinct rows of the last tapped pass (${this.tappedRows} rows)`);
    }
    const rowBytes = this.config.hiddenSize * 4;
    const base = tap * this.maxRows * rowBytes;
    const encoder = this.device.createCommandEncoder({ label: 'forward.tapEncoder' });
    rows.forEach((r, i) => encoder.copyBufferToBuffer(this.taps!.buffer, base + r * rowBytes, this.acts.x, i * rowBytes, rowBytes));
    this.step.write(rows.length, this.kv.length);
    const pass = this.counter.beginPass(encoder, { label: 'forward.tapPass' });
    this.ops.finalNorm?.encode(pass, rows.length); // unless fused into the LM head
    this.ops.lmHead.encode(pass, rows.length);
    this.ops.topK.encode(pass, rows.length);
    pass.end();
    const slot = this.topKReadback.copy(encoder, this.acts.topKIds, 0, rows.length * this.topK * 4);
    this.counter.submit(this.device.queue, encoder);
    this.lastRows = 0;
    return this.topKReadback.read(slot, new Int32Array(rows.length * this.topK));
  }

  /** Copies x (rows, hidden) into the tap of layer l if tapped. */
  private encodeTap(rec: PassRecorder, l: number, rows: number): void {
    const tap = this.taps!.layers.indexOf(l);
    if (tap < 0) return;
    const rowBytes = this.config.hiddenSize * 4;
    rec.copy((encoder) => encoder.copyBufferToBuffer(this.acts.x, 0, this.taps!.buffer, tap * this.maxRows * rowBytes, rows * rowBytes));
  }

  /** Layers a pass runs: all, or exitLayer (1..numLayers) for an early exit. */
  private checkExitLayer(exitLayer: number | undefined): number {
    const n = this.config.numLayers;
    if (exitLayer === undefined) return n;
    if (!Number.isInteger(exitLayer) || exitLayer < 1 || exitLayer > n) throw new OptionsError(`GpuModel.forward: exitLayer is ${exitLayer}, expected an integer in 1..${n}`);
    return exitLayer;
  }

  /** Resources built over this model's buffers by others (the acceptance walk): destroyed with it. */
  attach(resource: { destroy(): void }): void {
    this.attached.push(resource);
  }

  destroy(): void {
    for (const r of this.attached.splice(0)) r.destroy();
    this.taps?.buffer.destroy();
    this.kv.destroy();
    const w = this.weights;
    // (a Set: acts.ropeTableLocal may be acts.ropeTable; acts.branch may be null)
    const buffers = new Set<GPUBuffer | null>([...w.embed.parts, ...w.lmHead.parts, w.finalNorm, ...Object.values(this.acts), this.step.buffer, this.hostStaging]);
    for (const l of w.layers) for (const b of Object.values(l)) if (b) buffers.add(b);
    for (const b of buffers) b?.destroy();
  }

  /** Refuses a pass over a ring that lost the keys behind kv.length (read stale K/V, never); then records the slots it writes, below `end`. */
  private claimSlots(end: number, where: string): void {
    if (!this.kv.holds(this.kv.length)) {
      throw new KvCommitError(`GpuModel.${where}: a sliding-window layer's ring (${this.kv.layout.ring} slots) no longer holds the keys behind the ${this.kv.length} committed slots; rewind() or truncate(0) and recompute`);
    }
    this.kv.wrote(end);
  }

  private checkPass(tokens: Int32Array, positions: Int32Array, mask: Uint32Array, tokensOnGpu: boolean): number {
    const rows = tokens.length;
    if (rows < 1 || rows > this.maxRows) throw new OptionsError(`GpuModel.forward: ${rows} rows, expected 1..${this.maxRows} (maxTreeRows)`);
    if (positions.length !== rows || mask.length < rows * 4) {
      throw new OptionsError(`GpuModel.forward: ${rows} tokens need ${rows} positions and ${rows * 4} mask words, got ${positions.length} and ${mask.length}`);
    }
    if (this.kv.length + rows > this.kv.capacity) {
      throw new ContextLengthError(`GpuModel.forward: ${rows} rows after ${this.kv.length} committed slots exceed the KV capacity ${this.kv.capacity}`);
    }
    const vocab = this.config.vocabSize;
    for (let r = 0; r < rows; r++) {
      if (!tokensOnGpu && !(tokens[r] >= 0 && tokens[r] < vocab)) throw new OptionsError(`GpuModel.forward: token ${tokens[r]} at row ${r} is outside [0, ${vocab})`);
      // The RoPE table covers positions below the cache capacity; a row's position never exceeds its slot.
      if (!(positions[r] >= 0 && positions[r] < this.kv.capacity)) {
        throw new ContextLengthError(`GpuModel.forward: position ${positions[r]} at row ${r} is outside [0, ${this.kv.capacity})`);
      }
    }
    return rows;
  }

  private checkReadRows(rows: number, where: string): void {
    if (this.lastRows === 0) throw new TreespecError(`GpuModel.${where}: no pass to read (no forward with logits since load or the last logits-free pass)`);
    if (!Number.isInteger(rows) || rows < 1 || rows > this.lastRows) {
      throw new OptionsError(`GpuModel.${where}: rows must be in 1..${this.lastRows} (rows of the last pass), got ${rows}`);
    }
  }
}
