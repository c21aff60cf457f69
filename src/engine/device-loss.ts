/**
 * Device loss during generation (issue 9). A lost device (driver reset, tab backgrounded too
 * long, `GPUDevice.destroy()`) resolves `device.lost`; a readback in flight then rejects with a
 * bare DOMException (AbortError / OperationError) or, on some implementations, never settles.
 * The engine turns both into one DeviceLostError that names the reason, and never waits on a
 * lost device: every awaited step of the loop races the `lost` promise.
 */
import { DeviceLostError, TreespecError } from '../errors';

/** How long a GPU failure waits for `device.lost` before it is reported as what it is. */
const LOST_GRACE_MS = 200;

export class DeviceWatch {
  /** The loss, once `device.lost` has resolved. */
  info: GPUDeviceLostInfo | null = null;
  private readonly lost: Promise<GPUDeviceLostInfo>;

  constructor(device: GPUDevice) {
    this.lost = device.lost.then((info) => (this.info = info));
  }

  /** The error every call on a lost device gets. */
  error(cause?: unknown): DeviceLostError {
    const i = this.info;
    const why = i ? `reason "${i.reason}"${i.message ? `: ${i.message}` : ''}` : 'reason unknown';
    return new DeviceLostError(`the GPU device was lost (${why}); this engine cannot run any more: load a new one with Engine.load`, { cause });
  }

  /** Throws DeviceLostError if the device is known to be lost. */
  check(): void {
    if (this.info) throw this.error();
  }

  /**
   * `run()`, or DeviceLostError as soon as the device is lost; on a lost device `run` is not
   * called. A failure that is not ours (a DOMException of mapAsync) waits briefly for
   * `device.lost`, which may resolve after it.
   */
  async guard<T>(run: () => Promise<T>): Promise<T> {
    this.check();
    const p = run();
    const lostFirst = this.lost.then((): never => {
      throw this.error();
    });
    // Whichever loses the race may reject later, with nobody awaiting it: a lost device fails
    // the abandoned readback, and the loss may come after `p` settled.
    lostFirst.catch(() => {});
    p.catch(() => {});
    try {
      return await Promise.race([p, lostFirst]);
    } catch (e) {
      if (e instanceof DeviceLostError) throw e;
      if (!(e instanceof TreespecError)) {
        await Promise.race([this.lost, new Promise((r) => setTimeout(r, LOST_GRACE_MS))]);
      }
      if (this.info) throw this.error(e);
      throw e;
    }
  }

  /** Iterates `inner`, each step guarded: rejects with DeviceLostError instead of hanging on a lost device. */
  async *guardGenerator<T, R>(inner: AsyncGenerator<T, R, void>): AsyncGenerator<T, R, void> {
    let finished = false;
    /** Whether `inner` is suspended at a yield (its consumer holds a chunk). */
    let suspended = false;
    try {
      for (;;) {
        const r = await this.guard(() => inner.next());
        if (r.done) {
          finished = true;
          return r.value;
        }
        suspended = true;
        yield r.value;
        suspended = false;
      }
    } finally {
      // A consumer that stops early (break, return): the loop, suspended at its yield, runs its
      // own cleanup (the cache's length, passes encoded ahead) before the engine takes the next
      // generation. A failure: let it clean up, not awaited (a step on a lost device may never end).
      if (!finished && suspended) await inner.return(undefined as R).catch(() => {});
      else if (!finished) void inner.return(undefined as R).catch(() => {});
    }
  }
}
