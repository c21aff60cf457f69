/**
 * What a model's GPU work costs in the currency of small models on a GPU (DESIGN section 8):
 * dispatches, submits (command buffers sent), readbacks (buffer maps: CPU-GPU round trips) and
 * bytes read back. Counted where the work is encoded, so the counts are exact on any adapter.
 *
 * Every GPU model owns one counter (GpuModel.counter); its KV cache, readback rings and the
 * acceptance walk built over it count into the same one. A drafter that runs GPU work reports
 * the counters of that work (Drafter.counters: its draft model's counter), and the decode loop
 * reads them before and after decoding (stats.gpu).
 *
 * Use:
 *   const pass = counter.beginPass(encoder, { label });   // its dispatches are counted
 *   counter.submit(device.queue, encoder);                 // finish + submit, counted
 *   await counter.mapRead(staging, 0, bytes);              // mapAsync(READ), counted as a readback
 * A drafter that runs the target's own layers (early exit) diverts the target's counts to its
 * own counter while it drafts: `const undo = target.counter.divert(mine); ...; undo()`.
 */

import { MapWaiter } from './map-wait';

export interface GpuCounts {
  /** dispatchWorkgroups calls encoded (indirect ones included). */
  dispatches: number;
  /** Command buffers submitted. */
  submits: number;
  /** Buffers mapped for reading: each is one CPU-GPU round trip. */
  readbacks: number;
  /** Bytes mapped for reading. */
  bytesRead: number;
}

export function zeroCounts(): GpuCounts {
  return { dispatches: 0, submits: 0, readbacks: 0, bytesRead: 0 };
}

/** after - before, field by field. */
export function countsSince(before: GpuCounts, after: GpuCounts): GpuCounts {
  return {
    dispatches: after.dispatches - before.dispatches,
    submits: after.submits - before.submits,
    readbacks: after.readbacks - before.readbacks,
    bytesRead: after.bytesRead - before.bytesRead,
  };
}

/** The sum of several counts. */
export function sumCounts(all: GpuCounts[]): GpuCounts {
  const s = zeroCounts();
  for (const c of all) {
    s.dispatches += c.dispatches;
    s.submits += c.submits;
    s.readbacks += c.readbacks;
    s.bytesRead += c.bytesRead;
  }
  return s;
}

export class GpuCounter {
  private readonly totals = zeroCounts();
  private readonly waiter = new MapWaiter();
  /** Where counts go: this counter, or the one it is diverted to. */
  private sink: GpuCounter = this;

  constructor(readonly label: string) {}

  /** The counts so far (a copy). Diverted work is in the counter it was diverted to. */
  snapshot(): GpuCounts {
    return { ...this.totals };
  }

  /** A compute pass on `encoder` whose dispatches count here. */
  beginPass(encoder: GPUCommandEncoder, desc: GPUComputePassDescriptor): GPUComputePassEncoder {
    const pass = encoder.beginComputePass(desc);
    // The pass is ours for its whole life: shadowing its two dispatch methods counts every
    // dispatch an op records, whatever op it is, without a wrapper type in every op's signature.
    const direct = pass.dispatchWorkgroups.bind(pass);
    const indirect = pass.dispatchWorkgroupsIndirect.bind(pass);
    pass.dispatchWorkgroups = (x: number, y?: number, z?: number) => {
      this.sink.totals.dispatches++;
      direct(x, y, z);
    };
    pass.dispatchWorkgroupsIndirect = (buffer: GPUBuffer, offset: number) => {
      this.sink.totals.dispatches++;
      indirect(buffer, offset);
    };
    return pass;
  }

  /** Finishes `encoder` and submits it: one command buffer. */
  submit(queue: GPUQueue, encoder: GPUCommandEncoder): void {
    this.sink.totals.submits++;
    queue.submit([encoder.finish()]);
  }

  /** Maps `bytes` bytes of `buffer` from `offset` for reading: one round trip. */
  mapRead(buffer: GPUBuffer, offset: number, bytes: number): Promise<void> {
    const t = this.sink.totals;
    t.readbacks++;
    t.bytesRead += bytes;
    return this.waiter.map(buffer, offset, bytes);
  }

  /**
   * Sends this counter's counts to `to` until the returned function is called (a drafter that
   * runs the target's own layers counts that work as its own). Not nested: undo before diverting again.
   */
  divert(to: GpuCounter): () => void {
    const before = this.sink;
    this.sink = to.sink;
    return () => {
      this.sink = before;
    };
  }
}
