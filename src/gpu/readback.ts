/**
 * A small ring of MAP_READ staging buffers for the few dozen bytes the CPU must see per step
 * (accepted ids, bonus token). Buffers are allocated once; each step records a copy into the
 * next slot and maps it after the submit. With two or more slots, step n+1 can be encoded while
 * step n's slot is still being mapped.
 */
import { OpShapeError, ReadbackStateError } from './errors.ts';
import type { GpuCounter } from './counter.ts';

type SlotState = 'free' | 'pending' | 'mapping';

/** A range of a GPU buffer to read back: `bytes` bytes from byte `srcOffset` (multiples of 4). */
export interface ReadbackPart {
  src: GPUBuffer;
  srcOffset: number;
  bytes: number;
}

export class ReadbackRing {
  private readonly staging: GPUBuffer[];
  private readonly state: SlotState[];
  private readonly bytes: number[];
  private next = 0;

  /** `slots` staging buffers of `slotBytes` bytes each (multiple of 4); every read counts as a readback in `counter`. */
  constructor(device: GPUDevice, label: string, readonly slotBytes: number, private readonly counter: GpuCounter, slots = 2) {
    if (slotBytes <= 0 || slotBytes % 4 !== 0) throw new OpShapeError(`ReadbackRing "${label}": slotBytes must be a positive multiple of 4, got ${slotBytes}`);
    this.staging = Array.from({ length: slots }, (_, i) =>
      device.createBuffer({ label: `${label}.staging${i}`, size: slotBytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
    );
    this.state = new Array<SlotState>(slots).fill('free');
    this.bytes = new Array<number>(slots).fill(0);
  }

  /**
   * Records into `encoder` a copy of `bytes` bytes of `src` from byte `srcOffset` (both multiples
   * of 4) into the next slot, and returns the slot to pass to read() once the encoder is submitted.
   */
  copy(encoder: GPUCommandEncoder, src: GPUBuffer, srcOffset: number, bytes: number): number {
    return this.copyParts(encoder, [{ src, srcOffset, bytes }]);
  }

  /** As copy(), for several ranges placed back to back in one slot (one map reads them all). */
  copyParts(encoder: GPUCommandEncoder, parts: ReadbackPart[]): number {
    const total = parts.reduce((sum, p) => sum + p.bytes, 0);
    if (parts.some((p) => p.bytes <= 0 || p.bytes % 4 !== 0 || p.srcOffset % 4 !== 0) || total > this.slotBytes) {
      throw new OpShapeError(`ReadbackRing.copy: ${parts.map((p) => `${p.bytes} bytes at offset ${p.srcOffset}`).join(', ')} do not fit slots of ${this.slotBytes} bytes (multiples of 4)`);
    }
    const slot = this.next;
    if (this.state[slot] !== 'free') throw new ReadbackStateError(`ReadbackRing.copy: slot ${slot} has not been read yet (${this.staging.length} slots)`);
    this.next = (slot + 1) % this.staging.length;
    let at = 0;
    for (const p of parts) {
      encoder.copyBufferToBuffer(p.src, p.srcOffset, this.staging[slot], at, p.bytes);
      at += p.bytes;
    }
    this.state[slot] = 'pending';
    this.bytes[slot] = total;
    return slot;
  }

  /**
   * Frees a pending slot without reading it: its copy's result is not needed (a pass encoded
   * ahead past the end of a generation). The copy may still run; the next copy into the slot
   * is queued after it.
   */
  discard(slot: number): void {
    if (this.state[slot] !== 'pending') throw new ReadbackStateError(`ReadbackRing.discard: slot ${slot} is ${this.state[slot] ?? 'out of range'}, expected a pending copy`);
    this.state[slot] = 'free';
  }

  /** Copies that can be pending at once. */
  get slots(): number {
    return this.staging.length;
  }

  destroy(): void {
    for (const b of this.staging) b.destroy();
  }

  /** Waits for the slot's copy, copies its bytes into `out` (which must hold them) and frees the slot. */
  async read<T extends Uint32Array | Int32Array | Float32Array>(slot: number, out: T): Promise<T> {
    if (this.state[slot] !== 'pending') throw new ReadbackStateError(`ReadbackRing.read: slot ${slot} is ${this.state[slot] ?? 'out of range'}, expected a pending copy`);
    const bytes = this.bytes[slot];
    if (out.byteLength < bytes) throw new OpShapeError(`ReadbackRing.read: output holds ${out.byteLength} bytes, the copy has ${bytes}`);
    const buf = this.staging[slot];
    this.state[slot] = 'mapping';
    try {
      await this.counter.mapRead(buf, 0, bytes);
      new Uint8Array(out.buffer, out.byteOffset, bytes).set(new Uint8Array(buf.getMappedRange(0, bytes)));
      buf.unmap();
    } finally {
      this.state[slot] = 'free';
    }
    return out;
  }
}
