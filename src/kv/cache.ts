/**
 * The target's KV cache (DESIGN section 3): per layer a K and a V range of shape
 * (capacity, nKvHeads, headDim), f32 or f16 (KvDtype), allocated once. Slots 0..length-1 are committed; a pass
 * writes its rows to slots length + r (src/ops/rope.ts), and `commit` keeps the accepted rows
 * by compacting them to length..length+k-1 (src/ops/compact.ts). Rejected rows are simply left
 * behind and overwritten by the next pass.
 *
 * The compaction is recorded lazily: commit() updates the length at once and leaves the moves
 * pending; the next pass records them first in its own command buffer (takePending), so a
 * speculative step is one submit. A path that keeps rows in place (a prefill chunk, a chain
 * accepted from its first node) moves nothing. Whoever reads the buffers directly calls flush().
 *
 * Layout: the layers share one K and one V buffer, each layer's range 256-byte aligned (the
 * coarsest minStorageBufferOffsetAlignment WebGPU allows, so each layer binds at its offset), and
 * the compaction moves the rows of every layer in ONE dispatch. The compaction binds a buffer
 * whole, so a buffer holds at most as many layers as one storage binding (and one buffer) allows;
 * a larger cache is split into groups of layers (kvLayerGroups), one dispatch each. Per-layer
 * buffers bound in one dispatch would not do: WGSL has no arrays of buffers, and a stage may bind
 * 8 storage buffers by default.
 *
 * Rings (sliding-window layers: Gemma 2/3's local layers, Mistral's, ...): a layer whose query at
 * position p sees only the keys p - window < k <= p never reads a slot more than window + one
 * pass's rows behind the newest, so its cache is a ring of `ring` = window + maxRows slots
 * (widened to fill its 256-byte alignment), logical slot s stored at s % ring
 * (shaders/common/kv_load.wgsl), wherever that is smaller than the full capacity; the other
 * layers keep the full cache. In each buffer the full layers come first, `fullBytes` apart, then
 * the rings, `ringBytes` apart (kvLayout): two strides in closed form, so one compaction
 * dispatch still moves every layer of a buffer (shaders/compact_kv_u32.wgsl), where a buffer of
 * rings of its own would cost a second dispatch per commit and a per-layer offset table a
 * binding. A ring forgets: after truncate(length) it may no longer hold the keys a pass after
 * `length` needs (slots older than the highest slot written minus `ring` are overwritten);
 * holds() says so, forward refuses such a cache, and prefix reuse falls back to recomputing
 * from the start (kept()).
 *
 * Memory bound: 2 * (full layers * fullBytes + rings * ringBytes) (`kvCacheBytes`), a layer's
 * bytes = its slots * slot bytes rounded up to 256, with the full capacity = max context + max
 * tree rows so a full tree fits behind a full context; a slot is nKvHeads * headDim f32, or as
 * many f16 packed two per u32 word (shaders/common/kv_load.wgsl), half the bytes. The same
 * whatever the grouping, so the estimate needs no adapter.
 */
import { ContextLengthError, TreespecError } from '../errors.ts';
import type { GpuOp, PipelineCache } from '../gpu/pipelines.ts';
import type { GpuCounter } from '../gpu/counter.ts';
import type { BufferLimits } from '../gpu/limits.ts';
import { KvCompact, type KvLayerGroup } from '../ops/compact.ts';
import type { KvDtype } from '../ops/kv-storage.ts';

export { defaultKvDtype, isKvDtype, type KvDtype } from '../ops/kv-storage.ts';

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
  /** Element storage; default 'f32'. */
  dtype?: KvDtype;
  /** (numLayers) each layer's sliding window, 0 for full attention (ModelConfig.layerWindows); default none: every layer full. */
  layerWindows?: readonly number[];
}

/** Where each layer's cache lives (see the header). */
export interface KvLayout {
  /** Slots of a ring layer; 0 when no layer is a ring. */
  ring: number;
  /** The largest window among the ring layers (what a pass reads behind its first row). */
  window: number;
  /** (numLayers) whether the layer's cache is a ring. */
  rings: boolean[];
  /** A full layer's bytes (its range's stride). */
  fullBytes: number;
  /** A ring layer's bytes; 0 without rings. */
  ringBytes: number;
  /** The layers in buffer order: the full ones, then the rings. */
  order: number[];
}

/** Where one layer's K or V lives: a range of a buffer shared with other layers. */
export interface KvRange {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}

/** Alignment of a layer's range: 256, the largest minStorageBufferOffsetAlignment WebGPU allows (any adapter's divides it). */
const LAYER_ALIGN = 256;

/** u32 words of one slot: nKvHeads * headDim f32, or that many f16 two per word (an odd count leaves half a word unused). */
export function kvSlotWords(s: KvCacheShape): number {
  const elements = s.nKvHeads * s.headDim;
  return (s.dtype ?? 'f32') === 'f16' ? Math.ceil(elements / 2) : elements;
}

/** Bytes from one layer's K (or V) to the next: the layer's (capacity, slot words) u32, rounded up to LAYER_ALIGN. */
export function kvLayerBytes(s: KvCacheShape): number {
  return Math.ceil((s.capacity * kvSlotWords(s) * 4) / LAYER_ALIGN) * LAYER_ALIGN;
}

/**
 * Each layer's place: a sliding-window layer is a ring of window + maxRows slots (every window
 * gets the largest one's ring, one stride for all), widened to its 256-byte range's slots, where
 * that is fewer than the full capacity.
 */
export function kvLayout(s: KvCacheShape): KvLayout {
  const fullBytes = kvLayerBytes(s);
  const windows = s.layerWindows ?? [];
  const window = Math.max(0, ...windows);
  const ringBytes = kvLayerBytes({ ...s, capacity: window + s.maxRows });
  const ring = Math.floor(ringBytes / (kvSlotWords(s) * 4));
  const rings = Array.from({ length: s.numLayers }, (_, l) => window > 0 && (windows[l] ?? 0) > 0 && ring < s.capacity);
  const order = [...rings.keys()].sort((a, b) => Number(rings[a]) - Number(rings[b]) || a - b);
  const any = rings.some((r) => r);
  return { ring: any ? ring : 0, window: any ? window : 0, rings, fullBytes, ringBytes: any ? ringBytes : 0, order };
}

/** Bytes of GPU memory the K and V buffers of every layer take. */
export function kvCacheBytes(s: KvCacheShape): number {
  const l = kvLayout(s);
  return 2 * l.rings.reduce((sum, r) => sum + (r ? l.ringBytes : l.fullBytes), 0);
}

/**
 * Layers per K (and V) buffer, in order: as many as one storage binding and one buffer hold
 * (the compaction binds a buffer whole), so one buffer, one compaction dispatch, unless the
 * cache exceeds the limits. A single layer above them is refused before allocation
 * (largestBuffers' kv.k0); here it still gets a group of its own.
 */
export function kvLayerGroups(numLayers: number, layerBytes: number, limits: BufferLimits): number[] {
  return kvGroupsOf(new Array<number>(numLayers).fill(layerBytes), limits);
}

/** kvLayerGroups for layers of the given bytes, in buffer order: consecutive runs, each within the limits (a layer above them alone). */
export function kvGroupsOf(layerBytes: readonly number[], limits: BufferLimits): number[] {
  const most = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  const groups: number[] = [];
  let bytes = Infinity;
  for (const b of layerBytes) {
    if (bytes + b > most) {
      groups.push(0);
      bytes = 0;
    }
    groups[groups.length - 1]++;
    bytes += b;
  }
  return groups;
}

export class KvCache {
  /** Per layer (capacity or ring, kvSlotWords) u32 (f32 bits or f16 pairs): a range of its group's K buffer. */
  readonly k: KvRange[] = [];
  /** Per layer (capacity or ring, kvSlotWords) u32: a range of its group's V buffer. */
  readonly v: KvRange[] = [];
  /** The buffers: per group of layers consecutive in buffer order one K and one V, full layers then rings (kvLayout). */
  readonly groups: KvLayerGroup[] = [];
  readonly layout: KvLayout;
  private committed = 0;
  /** One past the highest slot written since the cache was last emptied (what a ring has overwritten: see holds). */
  private written = 0;
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

  /** `limits`: the binding and buffer limits the groups respect (default: the device's). */
  constructor(private readonly device: GPUDevice, pipelines: PipelineCache, readonly shape: KvCacheShape, private readonly counter: GpuCounter, limits: BufferLimits = device.limits) {
    const layout = (this.layout = kvLayout(shape));
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const sizes = layout.order.map((l) => (layout.rings[l] ? layout.ringBytes : layout.fullBytes));
    let next = 0;
    for (const [g, layers] of kvGroupsOf(sizes, limits).entries()) {
      const members = layout.order.slice(next, next + layers);
      const bytes = sizes.slice(next, next + layers).reduce((a, b) => a + b, 0);
      const rings = members.filter((l) => layout.rings[l]).length;
      const group = { k: device.createBuffer({ label: `kv.k${g}`, size: bytes, usage }), v: device.createBuffer({ label: `kv.v${g}`, size: bytes, usage }), full: layers - rings, rings };
      this.groups.push(group);
      let offset = 0;
      for (const [i, l] of members.entries()) {
        const size = sizes[next + i];
        this.k[l] = { buffer: group.k, offset, size };
        this.v[l] = { buffer: group.v, offset, size };
        offset += size;
      }
      next += layers;
    }
    this.params = device.createBuffer({ label: 'kv.compactParams', size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.path = device.createBuffer({ label: 'kv.commitPath', size: shape.maxRows * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    this.pathData = new Uint32Array(shape.maxRows);
    this.compaction = { encode: (pass) => this.compact.encode(pass) };
    const strides = { rowWidth: kvSlotWords(shape), fullBytes: layout.fullBytes, ringBytes: layout.ringBytes, ring: layout.ring };
    this.compact = new KvCompact(pipelines, 'kv.compact', { params: this.params, path: this.path, groups: this.groups }, strides);
  }

  /** Slots of layer l's cache when it is a ring, else 0 (the kernels' KV_RING). */
  ringOf(l: number): number {
    return this.layout.rings[l] ? this.layout.ring : 0;
  }

  /** How K and V are stored. */
  get dtype(): KvDtype {
    return this.shape.dtype ?? 'f32';
  }

  /** Committed slots: every pass sees slots 0..length-1. */
  get length(): number {
    return this.committed;
  }

  /** Logical slots: positions a sequence may reach (a ring layer stores fewer, see the header). */
  get capacity(): number {
    return this.shape.capacity;
  }

  /** Records that a pass writes the slots below `end` (before it runs). */
  wrote(end: number): void {
    this.written = Math.max(this.written, end);
  }

  /**
   * Whether the cache holds every slot a pass after `length` committed slots reads: always for
   * full layers; for a ring, the window's slots behind `length`, which a later write of the
   * same ring slot (one `ring` slots ahead, up to the highest slot written) has not replaced.
   */
  holds(length: number): boolean {
    const { ring, window } = this.layout;
    return ring === 0 || Math.max(0, length - (window - 1)) >= this.written - ring;
  }

  /** The committed prefix of `length` slots a caller may keep: `length` where the cache holds() it, else 0 (recompute from the start). */
  kept(length: number): number {
    return this.holds(length) ? length : 0;
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
   * runs before the next pass writes any slot. With rings, a pass may then run only if the
   * cache still holds() `length` (GpuModel.forward checks; prefix reuse asks kept() first).
   */
  truncate(length: number): void {
    if (!Number.isInteger(length) || length < 0 || length > this.length) {
      throw new KvCommitError(`KV cache: truncate(${length}) needs an integer in 0..${this.length} (the committed length)`);
    }
    this.committed = length;
    if (length === 0) this.written = 0;
  }

  destroy(): void {
    for (const b of [...this.groups.flatMap((g) => [g.k, g.v]), this.params, this.path]) b.destroy();
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
