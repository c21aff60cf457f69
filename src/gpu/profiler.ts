/**
 * Per-pass GPU timing. With the adapter's `timestamp-query` feature each profiled compute pass
 * writes a begin and an end timestamp (WebGPU core has timestamps per pass, not per dispatch,
 * so a profiled forward encodes one pass per kernel). Without the feature, CpuTimer measures a
 * whole submit from the CPU (submit to onSubmittedWorkDone), which includes queue latency.
 * Query set, resolve buffer and staging buffer are allocated once.
 */
import { OpShapeError, ReadbackStateError } from './errors.ts';

export interface Span {
  label: string;
  /** GPU time of the pass in milliseconds. */
  ms: number;
}

export class GpuTimer {
  private readonly querySet: GPUQuerySet;
  /** (2 * capacity) u64 timestamps in ns, resolved from the query set. */
  private readonly resolveBuf: GPUBuffer;
  private readonly staging: GPUBuffer;
  private readonly labels: string[] = [];
  private resolved = false;

  /** `capacity` passes per frame (begin()..read()). The device must have 'timestamp-query'. */
  constructor(private readonly device: GPUDevice, readonly capacity = 256, label = 'profiler') {
    if (!device.features.has('timestamp-query')) throw new OpShapeError('GpuTimer: the device was created without the timestamp-query feature; use CpuTimer');
    this.querySet = device.createQuerySet({ label: `${label}.queries`, type: 'timestamp', count: 2 * capacity });
    const bytes = 2 * capacity * 8;
    this.resolveBuf = device.createBuffer({ label: `${label}.resolve`, size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    this.staging = device.createBuffer({ label: `${label}.staging`, size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  /** Timestamp writes for the next profiled pass: `encoder.beginComputePass({ timestampWrites })`. */
  pass(label: string): GPUComputePassTimestampWrites {
    if (this.resolved) throw new ReadbackStateError('GpuTimer.pass: read() the previous frame first');
    const i = this.labels.length;
    if (i >= this.capacity) throw new OpShapeError(`GpuTimer.pass: more than ${this.capacity} profiled passes in one frame`);
    this.labels.push(label);
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Records the resolve and the copy to staging; call once per frame, after the profiled passes. */
  resolve(encoder: GPUCommandEncoder): void {
    const n = 2 * this.labels.length;
    if (n === 0) return;
    encoder.resolveQuerySet(this.querySet, 0, n, this.resolveBuf, 0);
    encoder.copyBufferToBuffer(this.resolveBuf, 0, this.staging, 0, n * 8);
    this.resolved = true;
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuf.destroy();
    this.staging.destroy();
  }

  /** After the submit: the frame's spans in pass order; starts a new frame. */
  async read(): Promise<Span[]> {
    if (!this.resolved) throw new ReadbackStateError('GpuTimer.read: resolve(encoder) was not recorded');
    const n = 2 * this.labels.length;
    await this.staging.mapAsync(GPUMapMode.READ, 0, n * 8);
    const t = new BigUint64Array(this.staging.getMappedRange(0, n * 8));
    const spans = this.labels.map((label, i) => ({ label, ms: Number(t[2 * i + 1] - t[2 * i]) / 1e6 }));
    this.staging.unmap();
    this.labels.length = 0;
    this.resolved = false;
    return spans;
  }
}

/**
 * Milliseconds per `encode` of `passes` compute passes recorded in one submit, each pass encoding
 * it `batch` times: one figure per pass from GPU timestamps (`timer`, capacity >= passes), or
 * without a timer one figure, the submit's CPU wall time over passes * batch.
 */
export async function timePasses(device: GPUDevice, timer: GpuTimer | null, passes: number, batch: number, encode: (pass: GPUComputePassEncoder) => void, label = 'timed'): Promise<number[]> {
  const submit = (t: GpuTimer | null) => {
    const enc = device.createCommandEncoder({ label: `${label}.encoder` });
    for (let i = 0; i < passes; i++) {
      const pass = enc.beginComputePass({ label: `${label}.pass`, timestampWrites: t ? t.pass(`${label}${i}`) : undefined });
      for (let b = 0; b < batch; b++) encode(pass);
      pass.end();
    }
    t?.resolve(enc);
    device.queue.submit([enc.finish()]);
  };
  if (!timer) return [(await cpuTimeSubmit(device, () => submit(null))) / (passes * batch)];
  submit(timer);
  return (await timer.read()).map((s) => s.ms / batch);
}

/** CPU-side timing of GPU work: wall time from before `submit` to the queue going idle. */
export async function cpuTimeSubmit(device: GPUDevice, submit: () => void): Promise<number> {
  await device.queue.onSubmittedWorkDone(); // start from an idle queue
  const t0 = performance.now();
  submit();
  await device.queue.onSubmittedWorkDone();
  return performance.now() - t0;
}
