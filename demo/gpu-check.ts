/**
 * Tells the user up front whether this browser can run the engine: WebGPU present, an
 * adapter granted, and how large a buffer it allows (the weights of the largest matrix,
 * usually the embedding table, must fit in one storage binding).
 */
import { formatBytes } from './dom';
import { isSoftwareAdapterInfo } from '../src/gpu/adapter';
import type { AdapterFacts } from './model-catalog';

export interface GpuCheck {
  ok: boolean;
  message: string;
  /** The adapter's buffer limits (the engine requests the adapter's largest) and kind; absent without an adapter. */
  adapter?: AdapterFacts;
}

export async function checkWebGPU(): Promise<GpuCheck> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) {
    return {
      ok: false,
      message: 'WebGPU is not available in this browser (navigator.gpu is missing). Use a recent Chrome or Edge (113+) on a secure origin (https or localhost).',
    };
  }
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return { ok: false, message: `WebGPU refused an adapter: ${(e as Error).message}` };
  }
  if (!adapter) {
    return { ok: false, message: 'WebGPU is present but no GPU adapter was granted (GPU blocklisted or hardware acceleration off). Check chrome://gpu.' };
  }
  const info = adapter.info;
  const name = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') || 'unknown adapter';
  const binding = adapter.limits.maxStorageBufferBindingSize;
  const { maxStorageBufferBindingSize, maxBufferSize } = adapter.limits;
  return {
    ok: true,
    message: `WebGPU ready: ${name}; largest storage binding ${formatBytes(binding)}.`,
    adapter: { limits: { maxStorageBufferBindingSize, maxBufferSize }, software: isSoftwareAdapterInfo(info) },
  };
}
