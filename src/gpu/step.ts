/**
 * The per-pass uniform `Step` (shaders/common/step.wgsl), owned by a forward driver. Written
 * once per forward call, before its single submit: a queue write is ordered before the submit
 * that follows it, so every dispatch of that submit reads these values.
 */
import { OpShapeError } from './errors.ts';

/** Largest row count of one pass: four u32 of ancestor mask per row (DESIGN section 3). */
export const MAX_ROWS = 128;

export class StepUniform {
  /** Step { rows: u32, prefix: u32, pad0: u32, pad1: u32 } - 16 bytes. */
  readonly buffer: GPUBuffer;
  private readonly data = new Uint32Array(4);

  constructor(private readonly device: GPUDevice, label = 'step.uniform') {
    this.buffer = device.createBuffer({ label, size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  }

  /** Sets the rows of the next pass (1..MAX_ROWS) and the committed prefix every row sees. */
  write(rows: number, prefix = 0): void {
    checkRows(rows, MAX_ROWS, 'StepUniform.write');
    if (!Number.isInteger(prefix) || prefix < 0) throw new OpShapeError(`StepUniform.write: prefix must be a non-negative integer, got ${prefix}`);
    this.data[0] = rows;
    this.data[1] = prefix;
    this.device.queue.writeBuffer(this.buffer, 0, this.data);
  }
}

/** Throws OpShapeError unless 1 <= rows <= max (an op's capacity). */
export function checkRows(rows: number, max: number, where: string): void {
  if (!Number.isInteger(rows) || rows < 1 || rows > max) {
    throw new OpShapeError(`${where}: rows must be an integer in 1..${max}, got ${rows}`);
  }
}
