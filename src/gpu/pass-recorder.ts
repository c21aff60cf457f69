/**
 * How a forward pass is encoded and submitted. Normally every op goes into one compute pass of
 * one command buffer (one submit per pass, STYLE 5). Under profiling (`--profile`) each op gets
 * its own compute pass with timestamp writes when the device has 'timestamp-query' (WebGPU
 * times passes, not dispatches), or its own submit timed from the CPU when it has not.
 */
import type { GpuOp } from './pipelines.ts';
import { OpShapeError } from './errors.ts';
import { GpuTimer, type Span } from './profiler.ts';
import type { GpuCounter } from './counter.ts';

export interface PassRecorder {
  /** Records `op` over `rows` rows; `label` names it in a profile ("layer3.q"). */
  op(label: string, op: GpuOp, rows: number): void;
  /** Records encoder work between compute passes (a buffer copy). */
  copy(record: (encoder: GPUCommandEncoder) => void): void;
  /** Ends recording, records `after` (more work for the same command buffer, e.g. a readback copy), and submits. */
  submit(after?: (encoder: GPUCommandEncoder) => void): void;
}

/**
 * One compute pass for every op: the unprofiled hot path. Given an encoder (a step recorded as
 * one command buffer by its caller), submit() only ends the pass and records `after`.
 */
class SinglePass implements PassRecorder {
  private readonly encoder: GPUCommandEncoder;
  private pass: GPUComputePassEncoder;

  constructor(private readonly device: GPUDevice, private readonly label: string, private readonly counter: GpuCounter, private readonly outer: GPUCommandEncoder | null = null) {
    this.encoder = outer ?? device.createCommandEncoder({ label: `${label}.encoder` });
    this.pass = counter.beginPass(this.encoder, { label: `${label}.pass` });
  }

  op(_label: string, op: GpuOp, rows: number): void {
    op.encode(this.pass, rows);
  }

  copy(record: (encoder: GPUCommandEncoder) => void): void {
    this.pass.end();
    record(this.encoder);
    this.pass = this.counter.beginPass(this.encoder, { label: `${this.label}.pass` });
  }

  submit(after?: (encoder: GPUCommandEncoder) => void): void {
    this.pass.end();
    after?.(this.encoder);
    if (!this.outer) this.counter.submit(this.device.queue, this.encoder);
  }
}

/** One compute pass per op, each writing a begin and an end timestamp. */
class TimedPasses implements PassRecorder {
  private readonly encoder: GPUCommandEncoder;

  constructor(
    private readonly device: GPUDevice,
    private readonly timer: GpuTimer,
    private readonly counter: GpuCounter,
    private readonly done: (spans: Promise<Span[]>) => void,
  ) {
    this.encoder = device.createCommandEncoder({ label: 'profile.encoder' });
  }

  op(label: string, op: GpuOp, rows: number): void {
    const pass = this.counter.beginPass(this.encoder, { label: `profile.${label}`, timestampWrites: this.timer.pass(label) });
    op.encode(pass, rows);
    pass.end();
  }

  copy(record: (encoder: GPUCommandEncoder) => void): void {
    record(this.encoder);
  }

  submit(after?: (encoder: GPUCommandEncoder) => void): void {
    after?.(this.encoder);
    this.timer.resolve(this.encoder);
    this.counter.submit(this.device.queue, this.encoder);
    this.done(this.timer.read());
  }
}

/**
 * One submit per op, timed from the CPU: op i's span is the time between the completion of
 * op i-1's submit (or op i's submit, for the first) and the completion of its own. It includes
 * queue latency, so it reads high for short kernels; used only without timestamp queries.
 */
class SubmitPerOp implements PassRecorder {
  private readonly ends: Promise<number>[] = [];
  private readonly labels: string[] = [];
  private start = 0;

  constructor(private readonly device: GPUDevice, private readonly counter: GpuCounter, private readonly done: (spans: Promise<Span[]>) => void) {}

  op(label: string, op: GpuOp, rows: number): void {
    const encoder = this.device.createCommandEncoder({ label: `profile.${label}` });
    const pass = this.counter.beginPass(encoder, { label: `profile.${label}` });
    op.encode(pass, rows);
    pass.end();
    if (this.labels.length === 0) this.start = performance.now();
    this.counter.submit(this.device.queue, encoder);
    this.labels.push(label);
    this.ends.push(this.device.queue.onSubmittedWorkDone().then(() => performance.now()));
  }

  copy(record: (encoder: GPUCommandEncoder) => void): void {
    const encoder = this.device.createCommandEncoder({ label: 'profile.copy' });
    record(encoder);
    this.counter.submit(this.device.queue, encoder);
  }

  submit(after?: (encoder: GPUCommandEncoder) => void): void {
    if (after) this.copy(after);
    const start = this.start;
    this.done(Promise.all(this.ends).then((ends) => this.labels.map((label, i) => ({ label, ms: ends[i] - (i === 0 ? start : ends[i - 1]) }))));
  }
}

/**
 * Per-op GPU times of the forward passes run while it is attached to a model. Spans accumulate
 * until take() returns them (e.g. once per decoding step).
 */
export class ForwardProfiler {
  /** 'gpu-timestamps' (timestamp queries) or 'cpu-submit' (per-op submits timed from the CPU). */
  readonly timing: 'gpu-timestamps' | 'cpu-submit';
  /** Timers free for the next pass; a timer stays busy until its spans are read back. */
  private readonly idle: GpuTimer[] = [];
  private readonly pending: Promise<Span[]>[] = [];

  /** `timing` defaults to timestamp queries where the device has them. */
  constructor(private readonly device: GPUDevice, timing?: 'gpu-timestamps' | 'cpu-submit') {
    const canStamp = device.features.has('timestamp-query');
    this.timing = timing ?? (canStamp ? 'gpu-timestamps' : 'cpu-submit');
    if (this.timing === 'gpu-timestamps' && !canStamp) throw new OpShapeError("ForwardProfiler: the device has no 'timestamp-query' feature; use 'cpu-submit' timing");
  }

  /** The recorder of one profiled forward pass; its work counts into `counter` (the profiler's own timestamp reads do not). */
  recorder(counter: GpuCounter): PassRecorder {
    if (this.timing === 'cpu-submit') return new SubmitPerOp(this.device, counter, (spans) => this.pending.push(spans));
    const timer = this.idle.pop() ?? new GpuTimer(this.device, 512, 'profile');
    return new TimedPasses(this.device, timer, counter, (spans) => {
      this.pending.push(spans.finally(() => this.idle.push(timer)));
    });
  }

  /** Every span recorded since the last take(), in submit order. */
  async take(): Promise<Span[]> {
    const all = await Promise.all(this.pending.splice(0));
    return all.flat();
  }
}

/** The recorder of a forward pass, counting into `counter`: profiled when a profiler is attached, else one compute pass. */
export function passRecorder(device: GPUDevice, label: string, profiler: ForwardProfiler | null, counter: GpuCounter): PassRecorder {
  return profiler ? profiler.recorder(counter) : new SinglePass(device, label, counter);
}

/** A recorder of ops into the caller's `encoder` (one compute pass, its dispatches counted in `counter`); its submit() submits nothing. */
export function encoderRecorder(device: GPUDevice, label: string, encoder: GPUCommandEncoder, counter: GpuCounter): PassRecorder {
  return new SinglePass(device, label, counter, encoder);
}
