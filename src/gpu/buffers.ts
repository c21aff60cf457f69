/**
 * Buffer helpers: storage and uniform allocation with labels and size checks, uploads, and the
 * f16 weight packing shared by every f16 kernel.
 *
 * f16 packing: two f16 per u32, element 2i in the low half and 2i+1 in the high half - the
 * order `unpack2x16float` returns as (.x, .y), so kernels need no `shader-f16` feature. Each
 * weight ROW is packed separately with a row stride of ceil(cols/2) u32; for an odd width the
 * last u32 of a row has a zero high half.
 */
import { f16BitsToF32, f32ToF16Bits } from '../model/f16.ts';
import { GpuLimitsError } from '../errors.ts';

/** Storage read/write, copy source and destination (uploads and readback). */
export function storageUsage(): GPUBufferUsageFlags {
  // Computed on call: in Node the GPUBufferUsage global exists only after acquireDevice().
  return GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
}

/** Bytes rounded up to a multiple of 4 (and at least 4: zero-sized bindings are invalid). */
export function alignedSize(byteSize: number): number {
  return Math.max(4, Math.ceil(byteSize / 4) * 4);
}

function checkLimits(device: GPUDevice, label: string, size: number, binding: boolean): void {
  const lim = binding ? Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize) : device.limits.maxBufferSize;
  if (size > lim) {
    throw new GpuLimitsError(`buffer "${label}" needs ${size} bytes; this adapter allows ${lim} per ${binding ? 'storage binding' : 'buffer'}`);
  }
}

/** A storage buffer of `byteSize` bytes (rounded up to 4), zero-filled by WebGPU. */
export function createStorage(device: GPUDevice, label: string, byteSize: number, usage: GPUBufferUsageFlags = storageUsage()): GPUBuffer {
  const size = alignedSize(byteSize);
  checkLimits(device, label, size, true);
  return device.createBuffer({ label, size, usage });
}

/** A uniform buffer (rounded up to 16 bytes) writable with queue.writeBuffer. */
export function createUniform(device: GPUDevice, label: string, byteSize: number): GPUBuffer {
  const size = Math.max(16, Math.ceil(byteSize / 16) * 16);
  return device.createBuffer({ label, size, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
}

/** A storage buffer holding `data` (f32, u32 or i32 elements). */
export function uploadStorage(device: GPUDevice, label: string, data: Float32Array | Uint32Array | Int32Array, usage?: GPUBufferUsageFlags): GPUBuffer {
  const buf = createStorage(device, label, data.byteLength, usage);
  writeStorage(device, buf, data);
  return buf;
}

/** Writes `data` into `buf` at byte offset `offset` (a multiple of 4). */
export function writeStorage(device: GPUDevice, buf: GPUBuffer, data: Float32Array | Uint32Array | Int32Array, offset = 0): void {
  device.queue.writeBuffer(buf, offset, data.buffer, data.byteOffset, data.byteLength);
}

/** u32 per packed row of `cols` f16 values. */
export function f16RowStride(cols: number): number {
  return Math.ceil(cols / 2);
}

/** Packs w (rows, cols) f32 into (rows, ceil(cols/2)) u32 of f16 pairs, round to nearest even. */
export function packF16Rows(w: Float32Array, rows: number, cols: number): Uint32Array {
  const stride = f16RowStride(cols);
  const out = new Uint32Array(rows * stride);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c += 2) {
      const lo = f32ToF16Bits(w[r * cols + c]);
      const hi = c + 1 < cols ? f32ToF16Bits(w[r * cols + c + 1]) : 0;
      out[r * stride + c / 2] = (lo | (hi << 16)) >>> 0;
    }
  }
  return out;
}

/** Inverse of packF16Rows: (rows, ceil(cols/2)) u32 -> (rows, cols) f32. */
export function unpackF16Rows(packed: Uint32Array, rows: number, cols: number): Float32Array {
  const stride = f16RowStride(cols);
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const word = packed[r * stride + (c >> 1)];
      out[r * cols + c] = f16BitsToF32(c & 1 ? word >>> 16 : word & 0xffff);
    }
  }
  return out;
}

/** Row-packed f16 weights (rows, cols) uploaded to a storage buffer of (rows, ceil(cols/2)) u32. */
export function uploadF16Rows(device: GPUDevice, label: string, w: Float32Array, rows: number, cols: number): GPUBuffer {
  return uploadStorage(device, label, packF16Rows(w, rows, cols));
}
