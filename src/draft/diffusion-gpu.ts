/**
 * The block (diffusion) drafter's pass on the GPU: the forward of src/model/diffusion-reference.ts
 * and the lattice's top-k, in one command buffer with one readback per drafting (the lattice,
 * plus the logits for sampling requests).
 *
 * Slot layout: the K mask slots are rows 0..K-1 and the C context slots rows K..K+C-1 (position
 * embeddings uploaded in that order), so the final norm + LM head runs on the first K rows.
 * Attention is bidirectional, so the order of rows changes nothing but the order of a sum.
 * Dispatches per drafting: embed, position add, 5 per layer (norm+qkv, attention, o + residual,
 * norm+gate|up, silu*up+down + residual), norm+LM head, softmax, top-k: 5 + 5 x layers.
 */
import { createStorage, uploadStorage } from '../gpu/buffers.ts';
import { GpuCounter } from '../gpu/counter.ts';
import { PipelineCache, type GpuOp } from '../gpu/pipelines.ts';
import { ReadbackRing } from '../gpu/readback.ts';
import { StepUniform } from '../gpu/step.ts';
import type { DiffusionDrafterModel } from '../model/diffusion.ts';
import { inputRows, trimIndex } from '../model/diffusion-reference.ts';
import { DiffusionAttentionOp } from '../ops/diffusion-attention.ts';
import { AddOp } from '../ops/add.ts';
import { EmbedOp } from '../ops/embed.ts';
import { MatmulOp } from '../ops/matmul.ts';
import { SoftmaxOp } from '../ops/softmax.ts';
import { TopKOp } from '../ops/topk.ts';
import type { BlockLattice, BlockPass } from './diffusion-pass.ts';

const RMS_EPS = 1e-6;

export class GpuBlockPass implements BlockPass {
  /** The drafter's own submits, dispatches and readbacks (stats.gpu's draft share). */
  readonly counter = new GpuCounter('diffusion');
  private readonly pipelines: PipelineCache;
  private readonly buffers: GPUBuffer[] = [];
  private readonly trim: Map<number, number>;
  /** Ops over all slots (step: T rows), then over the mask slots (step: K rows). */
  private readonly slotOps: (GpuOp | DiffusionAttentionOp)[] = [];
  private readonly maskOps: GpuOp[] = [];
  private readonly rows: GPUBuffer;
  private readonly out: { ids: GPUBuffer; values: GPUBuffer; logits: GPUBuffer };
  private readonly ring: ReadbackRing;

  constructor(private readonly device: GPUDevice, readonly model: DiffusionDrafterModel, readonly width = 4) {
    const m = model;
    const [C, K, D, F, V] = [m.context, m.block, m.dim, m.ffn, m.vocabIds.length];
    const T = C + K;
    this.trim = trimIndex(m);
    this.pipelines = new PipelineCache(device);
    const keep = (b: GPUBuffer) => (this.buffers.push(b), b);
    const upload = (name: string, v: Float32Array) => keep(uploadStorage(device, `diffusion.${name}`, v));
    const stepT = new StepUniform(device, 'diffusion.stepSlots');
    const stepK = new StepUniform(device, 'diffusion.stepMasks');
    keep(stepT.buffer);
    keep(stepK.buffer);
    stepT.write(T);
    stepK.write(K);
    const envT = { device, pipelines: this.pipelines, step: stepT.buffer };
    const envK = { device, pipelines: this.pipelines, step: stepK.buffer };
    // position rows in slot order: masks (positions C..C+K-1) first, then the context (0..C-1)
    const pos = new Float32Array(T * D);
    pos.set(m.pos.subarray(C * D), 0);
    pos.set(m.pos.subarray(0, C * D), K * D);
    const emb = upload('emb', m.emb); // (trim + 3, dim): input rows and (first trim rows) the tied LM head
    this.rows = keep(createStorage(device, 'diffusion.rows', T * 4)); // (T) u32 embedding row per slot
    const x = keep(createStorage(device, 'diffusion.x', T * D * 4)); // (T, dim) residual stream
    const qkv = keep(createStorage(device, 'diffusion.qkv', T * 3 * D * 4)); // (T, 3 * dim)
    const attn = keep(createStorage(device, 'diffusion.attn', T * D * 4)); // (T, dim)
    const gateUp = keep(createStorage(device, 'diffusion.gateUp', T * 2 * F * 4)); // (T, 2 * ffn)
    const logits = keep(createStorage(device, 'diffusion.logits', K * V * 4)); // (K, trim)
    const probs = keep(createStorage(device, 'diffusion.probs', K * V * 4)); // (K, trim)
    const ids = keep(createStorage(device, 'diffusion.ids', K * width * 4)); // (K, width) u32
    const values = keep(createStorage(device, 'diffusion.values', K * width * 4)); // (K, width) f32 probabilities
    this.out = { ids, values, logits };
    this.slotOps.push(
      new EmbedOp(envT, 'diffusion.embed', { tokens: this.rows, table: emb, out: x }, D, V + 3, 'f32'),
      new AddOp(envT, 'diffusion.pos', x, upload('pos', pos), D),
    );
    m.layers.forEach((l, i) => {
      const gateUpW = new Float32Array(2 * F * D); // (2 * ffn, dim): gate rows then up rows
      gateUpW.set(l.gate, 0);
      gateUpW.set(l.up, F * D);
      const name = `diffusion.layer${i}`;
      this.slotOps.push(
        new MatmulOp(envT, `${name}.qkv`, { x, w: upload(`${name}.qkvW`, l.qkv), y: qkv, norm: upload(`${name}.attnNorm`, l.attnNorm) }, { inDim: D, outDim: 3 * D, dtype: 'f32', normEps: RMS_EPS }),
        new DiffusionAttentionOp(envT, `${name}.attention`, { qkv, out: attn }, T, D, m.heads),
        new MatmulOp(envT, `${name}.o`, { x: attn, w: upload(`${name}.oW`, l.o), y: x }, { inDim: D, outDim: D, dtype: 'f32', accumulate: true }),
        new MatmulOp(envT, `${name}.gateUp`, { x, w: upload(`${name}.gateUpW`, gateUpW), y: gateUp, norm: upload(`${name}.mlpNorm`, l.mlpNorm) }, { inDim: D, outDim: 2 * F, dtype: 'f32', normEps: RMS_EPS }),
        new MatmulOp(envT, `${name}.down`, { x: gateUp, w: upload(`${name}.downW`, l.down), y: x }, { inDim: F, outDim: D, dtype: 'f32', gated: true, accumulate: true }),
      );
    });
    this.maskOps.push(
      new MatmulOp(envK, 'diffusion.lmHead', { x, w: emb, y: logits, norm: upload('finalNorm', m.finalNorm) }, { inDim: D, outDim: V, dtype: 'f32', normEps: RMS_EPS }),
      new SoftmaxOp(envK, 'diffusion.softmax', { logits, probs }, V),
      // probabilities are monotone in the logits: the top-k of probs is the top-k of logits
      new TopKOp(envK, 'diffusion.topK', { logits: probs, ids, values }, V, width),
    );
    this.ring = new ReadbackRing(device, 'diffusion.readback', K * (2 * width + V) * 4, this.counter, 1);
  }

  /** Throws ShaderCompileError if a kernel does not compile. */
  async check(): Promise<void> {
    await this.pipelines.checkCompilation();
  }

  async draft(tokens: Int32Array, withLogits: boolean): Promise<BlockLattice> {
    const m = this.model;
    const [C, K, V, W] = [m.context, m.block, m.vocabIds.length, this.width];
    const slots = inputRows(m, tokens, this.trim); // context then masks
    const rows = new Uint32Array(C + K);
    rows.set(slots.subarray(C), 0);
    rows.set(slots.subarray(0, C), K);
    this.device.queue.writeBuffer(this.rows, 0, rows);
    const encoder = this.device.createCommandEncoder({ label: 'diffusion.encoder' });
    const pass = this.counter.beginPass(encoder, { label: 'diffusion.pass' });
    for (const op of this.slotOps) op.encode(pass, C + K);
    for (const op of this.maskOps) op.encode(pass, K);
    pass.end();
    const parts = [{ src: this.out.ids, srcOffset: 0, bytes: K * W * 4 }, { src: this.out.values, srcOffset: 0, bytes: K * W * 4 }];
    if (withLogits) parts.push({ src: this.out.logits, srcOffset: 0, bytes: K * V * 4 });
    const slot = this.ring.copyParts(encoder, parts);
    this.counter.submit(this.device.queue, encoder);
    const words = await this.ring.read(slot, new Uint32Array(parts.reduce((n, p) => n + p.bytes / 4, 0)));
    const f = new Float32Array(words.buffer);
    return {
      ids: new Int32Array(words.buffer, 0, K * W).slice(),
      probs: f.slice(K * W, 2 * K * W),
      logits: withLogits ? f.slice(2 * K * W) : undefined,
    };
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
  }
}
