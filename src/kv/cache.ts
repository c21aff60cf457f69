/**
 * The target's KV cache (DESIGN section 3): per layer one K and one V buffer of shape
 * (capacity, nKvHeads, headDim) f32, allocated once. Slots 0..length-1 are committed; a pass
 * writes its rows to slots length + r (src/ops/rope.ts), and `commit` keeps the accepted rows
 * by compacting them to length..length+k-1 (src/ops/compact.ts). Rejected rows are simply left
 * behind and overwritten by the next pass.
 *
 * The compaction is recorded lazily: commit() updates the length at once and leaves the moves
 * pending; the next pass records them first in its own command buffer (takePending), so a
 * speculative step is one submit. A path that keeps rows in place (a prefill chunk, a chain
 * accepted from its first node) moves nothing. Whoever reads the buffers directly calls flush().
 *
 * Memory bound: 2 * numLayers * capacity * nKvHeads * headDim * 4 bytes (`kvCacheBytes`), with
 * capacity = max context + max tree rows so a full tree fits behind a full context.
 */
import { ContextLengthError, TreespecError } from '../errors.ts';
import type { GpuOp, PipelineCache } from '../gpu/pipelines.ts';
import type { GpuCounter } from '../gpu/counter.ts';
import { KvCompact } from '../ops/compact.ts';

/** A commit path that is not a strictly increasing list of rows of the last pass. */
export class KvCommitError extends TreespecError {
  override name = 'KvCommitError';
}

export interface KvCacheShape {
  numLayers: number;
  nKvHeads: number;
  headDim: number;
  /** Slots per layer (max context + max tree rows). */
  capacity: number;
  /** Most rows of one pass, hence the longest commit path. */
  maxRows: number;
}

/** Bytes of GPU memory the K and V buffers of every layer take. */
export function kvCacheBytes(s: KvCacheShape): number {
  return 2 * s.numLayers * s.capacity * s.nKvHeads * s.headDim * 4;
}

export class KvCache {
  /** Per layer (capacity, nKvHeads, headDim) f32. */
  readonly k: GPUBuffer[] = [];
  /** Per layer (capacity, nKvHeads, headDim) f32. */
  readonly v: GPUBuffer[] = [];
  private committed = 0;
  /** Uniform Compact { prefix, count, pad0, pad1 }. */
  private readonly params: GPUBuffer;
  /** (maxRows) u32 commit path. */
  private readonly path: GPUBuffer;
  private readonly paramsData = new Uint32Array(4);
  private readonly pathData: Uint32Array<ArrayBuffer>;
  private readonly compact: KvCompact;
  /** The compaction of the last commit, while not yet recorded (see the header). */
  private pending = false;
  private readonly compaction: GpuOp;

  constructor(private readonly device: GPUDevice, pipelines: PipelineCache, readonly shape: KvCacheShape, private readonly counter: GpuCounter) {
    const bytes = shape.capacity * shape.nKvHeads * shape.headDim * 4;
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    for (let l = 0; l < shape.numLayers; l++) {
      this.k.push(device.createBuffer({ label: `kv.k${l}`, size: bytes, usage }));
      this.v.push(device.createBuffer({ label: `kv.v${l}`, size: bytes, usage }));
    }
    this.params = device.createBuffer({ label: 'kv.compactParams', size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.path = device.createBuffer({ label: 'kv.commitPath', size: shape.maxRows * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    this.pathData = new Uint32Array(shape.maxRows);
    this.compaction = { encode: (pass) => this.compact.encode(pass) };
    const buffers = { params: this.params, path: this.path, kCaches: this.k, vCaches: this.v };
    this.compact = new KvCompact(pipelines, 'kv.compact', buffers, shape.nKvHeads * shape.headDim);
  }

  /** Committed slots: every pass sees slots 0..length-1. */
  get length(): number {
    return this.committed;
  }

  get capacity(): number {
    return this.shape.capacity;
  }

  /**
   * Keeps rows `path` of the last pass (written at slots length + row) as slots
   * length..length+path.length-1, then commits them. `passRows` = rows of that pass. The moves
   * run at the start of the next pass (takePending) or at flush().
   */
  commit(path: ArrayLike<number>, passRows: number): void {
    this.checkPath(path, passRows);
    if (this.length + passRows > this.capacity) {
      throw new ContextLengthError(`KV cache: a pass of ${passRows} rows after ${this.length} committed slots exceeds the capacity ${this.capacity}`);
    }
    let moves = false;
    for (let j = 0; j < path.length; j++) {
      this.pathData[j] = path[j];
      moves ||= path[j] !== j;
    }
    if (moves) {
      this.paramsData[0] = this.length;
      this.paramsData[1] = path.length;
      this.device.queue.writeBuffer(this.params, 0, this.paramsData);
      this.device.queue.writeBuffer(this.path, 0, this.pathData, 0, path.length);
      this.pending = true;
    }
    this.committed += path.length;
  }

  /**
   * The last commit's compaction, to be recorded before anything that reads the cache (a pass
   * records it first), or null when nothing is pending. Taking it clears it.
   */
  takePending(): GpuOp | null {
    if (!this.pending) return null;
    this.pending = false;
    return this.compaction;
  }

  /** Submits a pending compaction on its own (for readers of the K/V buffers outside a pass). */
  flush(): void {
    const op = this.takePending();
    if (!op) return;
    const enc = this.device.createCommandEncoder({ label: 'kv.flush' });
    const pass = this.counter.beginPass(enc, { label: 'kv.flushPass' });
    op.encode(pass, 0);
    pass.end();
    this.counter.submit(this.device.queue, enc);
  }

  /**
   * Records into `encoder` the compaction of a commit path that a kernel wrote on the GPU (a
   * step recorded as one command buffer, src/draft/gpu-grow.ts): `src` holds Compact { prefix,
   * count, 0, 0 } at byte `offset`, then the path (at least maxRows u32). The caller advance()s
   * by the count once it has read it back. Nothing may be pending (a pass records that first).
   */
  encodeCompaction(encoder: GPUCommandEncoder, src: GPUBuffer, offset: number): void {
    if (this.pending) throw new KvCommitError('KV cache: encodeCompaction with the last commit\'s compaction still pending');
    encoder.copyBufferToBuffer(src, offset, this.params, 0, 16);
    encoder.copyBufferToBuffer(src, offset + 16, this.path, 0, this.shape.maxRows * 4);
    const pass = this.counter.beginPass(encoder, { label: 'kv.gpuCompactPass' });
    this.compact.encode(pass);
    pass.end();
  }

  /** Commits `count` slots already compacted on the GPU (encodeCompaction): length += count. */
  advance(count: number): void {
    if (!Number.isInteger(count) || count < 1 || this.length + count > this.capacity) {
      throw new KvCommitError(`KV cache: advance(${count}) needs an integer in 1..${this.capacity - this.length} (capacity ${this.capacity}, ${this.length} committed)`);
    }
    this.committed += count;
  }

  /**
   * Drops committed slots beyond `length` (mlx-lm `trim`); nothing moves on the GPU. A pending
   * compaction stays pending: it only moves rows into slots at or beyond its own prefix, and
   * runs before the next pass writes any slot.
   */
  truncate(length: number): void {
    if (!Number.isInteger(length) || length < 0 || length > this.length) {
      throw new KvCommitError(`KV cache: truncate(${length}) needs an integer in 0..${this.length} (the committed length)`);
    }
    this.committed = length;
  }

  destroy(): void {
    for (const b of [...this.k, ...this.v, this.params, this.path]) b.destroy();
  }

  /** The compaction shader's precondition: strictly increasing rows of the last pass. */
  private checkPath(path: ArrayLike<number>, passRows: number): void {
    if (path.length < 1 || path.length > this.shape.maxRows) {
      throw new KvCommitError(`KV cache: a commit path needs 1..${this.shape.maxRows} rows, got ${path.length}`);
    }
    for (let j = 0; j < path.length; j++) {
      const r = path[j];
      const prev = j === 0 ? -1 : path[j - 1];
      if (!Number.isInteger(r) || r <= prev || r >= passRows) {
        throw new KvCommitError(`KV cache: commit path [${Array.from(path).join(', ')}] must be strictly increasing rows of the last pass (0..${passRows - 1})`);
      }
    }
  }
}
