/**
 * WebGPU device acquisition in a browser (navigator.gpu) and in Node (the `webgpu` package,
 * Dawn: an optional peer dependency that Node users install themselves). In Node with no other
 * adapter, SwiftShader is used through the ICD that Debian's chromium package ships.
 */

import { TreespecError } from '../errors';
import { isNode } from '../env';
import { isSoftwareAdapter } from './adapter';
import { calmMapWaits } from './map-wait';

/** No WebGPU implementation or no adapter: the message says what to install or enable. */
export class WebGPUUnavailableError extends TreespecError {
  override name = 'WebGPUUnavailableError';
}

export interface GpuContext {
  device: GPUDevice;
  adapterInfo: string;
  /** Whether timestamp queries can be used for profiling. */
  hasTimestamps: boolean;
}

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

async function nodeGpu(): Promise<GPU> {
  const fs = await import(/* @vite-ignore */ /* webpackIgnore: true */ 'node:fs');
  // The Vulkan loader reads this when Dawn creates its instance, so set it first.
  if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES && fs.existsSync(SWIFTSHADER_ICD)) {
    const hasNvidia = fs.existsSync('/dev/nvidia0') || fs.existsSync('/dev/dri/renderD128');
    if (!hasNvidia) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  }
  const name = 'webgpu';
  let mod: { create: (opts: string[]) => GPU; globals: Record<string, unknown> };
  try {
    mod = await import(/* @vite-ignore */ /* webpackIgnore: true */ name);
  } catch (e) {
    // An optional peer dependency: web apps never need Dawn's binaries, so npm does not install them with treespec.
    const missing = (e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND';
    throw new WebGPUUnavailableError(
      `WebGPU in Node needs the package "webgpu" (Dawn), which treespec does not install: run "npm install webgpu"` +
        (missing ? '' : ` (it is installed but failed to load: ${(e as Error).message})`),
    );
  }
  Object.assign(globalThis, mod.globals);
  return mod.create([]);
}

let nodeGpuPromise: Promise<GPU> | null = null;

async function getGpu(): Promise<GPU> {
  if (typeof navigator !== 'undefined' && (navigator as Navigator & { gpu?: GPU }).gpu) {
    return (navigator as Navigator & { gpu: GPU }).gpu;
  }
  if (isNode()) {
    nodeGpuPromise ??= nodeGpu();
    return nodeGpuPromise;
  }
  throw new WebGPUUnavailableError(
    'WebGPU is not available in this browser (navigator.gpu is missing). Use a recent Chrome or Edge, or enable WebGPU.',
  );
}

/** Requests an adapter and a device with the adapter's largest buffer limits. */
export async function acquireDevice(opts: { powerPreference?: GPUPowerPreference } = {}): Promise<GpuContext> {
  const gpu = await getGpu();
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new WebGPUUnavailableError(
      'WebGPU is present but no adapter was found (no GPU and no software fallback). In Node on Linux, install chromium and libvulkan1 for SwiftShader.',
    );
  }
  const hasTimestamps = adapter.features.has('timestamp-query');
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    label: 'treespec.device',
    requiredFeatures: hasTimestamps ? ['timestamp-query'] : [],
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    },
  });
  // Dawn's Node binding spins a core while a map is pending: on a software adapter, sleep first.
  calmMapWaits(isNode() && isSoftwareAdapter(device));
  const info = adapter.info;
  const adapterInfo = [info?.vendor, info?.architecture, info?.device, info?.description].filter(Boolean).join(' ') || 'unknown adapter';
  return { device, adapterInfo, hasTimestamps };
}
