/**
 * The per-pass uniform `Step` (shaders/common/step.wgsl), owned by a forward driver. Written
 * once per forward call, before its single submit: a queue write is ordered before the submit
 * that follows it, so every dispatch of that submit reads these values.
 */
import { OpShapeError } from './errors.ts';

/** Largest row count of one pass: four u32 of ancestor mask per row (DESIGN section 3). */
export const MAX_ROWS = 128;

export class StepUniform {
  /** Step { rows: u32, prefix: u32, rowBase: u32, pad1: u32 } - 16 bytes. */
  readonly buffer: GPUBuffer;

  constructor(private readonly device: GPUDevice, label = 'step.uniform') {
    this.buffer = device.createBuffer({ label, size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  }

  /** Sets the rows of the next pass (1..MAX_ROWS) and the committed prefix every row sees. */
  write(rows: number, prefix = 0): void {
    this.device.queue.writeBuffer(this.buffer, 0, stepWords(rows, prefix, 0));
  }
}

/**
 * The Step words of a pass: `rows` rows after `prefix` committed slots, row r writing slot
 * prefix + rowBase + r (rowBase + rows <= MAX_ROWS: mask bit j names slot prefix + j).
 */
export function stepWords(rows: number, prefix: number, rowBase: number, out = new Uint32Array(4)): Uint32Array<ArrayBuffer> {
  checkRows(rows, MAX_ROWS, 'Step');
  if (!Number.isInteger(prefix) || prefix < 0) throw new OpShapeError(`Step: prefix must be a non-negative integer, got ${prefix}`);
  if (!Number.isInteger(rowBase) || rowBase < 0 || rowBase + rows > MAX_ROWS) throw new OpShapeError(`Step: rowBase ${rowBase} + rows ${rows} must be at most ${MAX_ROWS}`);
  out.set([rows, prefix, rowBase, 0]);
  return out as Uint32Array<ArrayBuffer>;
}

/** Throws OpShapeError unless 1 <= rows <= max (an op's capacity). */
export function checkRows(rows: number, max: number, where: string): void {
  if (!Number.isInteger(rows) || rows < 1 || rows > max) {
    throw new OpShapeError(`${where}: rows must be an integer in 1..${max}, got ${rows}`);
  }
}
