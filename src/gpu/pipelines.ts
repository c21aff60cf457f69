/**
 * Compute pipelines created once, at load, and looked up by (shader, entry point, override
 * constants) - the key of web-rwkv's `PipelineKey`. Ops ask the cache in their constructors;
 * nothing here runs in the token loop.
 */
import { ShaderCompileError } from './errors.ts';
import { shaderSource } from './shaders.ts';

/** WGSL `override` values of one pipeline (numbers; booleans as true/false). */
export type Constants = Record<string, number | boolean>;

function constantsKey(c: Constants): string {
  return Object.keys(c).sort().map((k) => `${k}=${Number(c[k])}`).join(',');
}

export class PipelineCache {
  private readonly modules = new Map<string, GPUShaderModule>();
  /** Modules whose compilation info was read (checkCompilation). */
  private readonly checked = new Set<string>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();

  constructor(readonly device: GPUDevice) {}

  /** Number of distinct pipelines created so far. */
  get size(): number {
    return this.pipelines.size;
  }

  /** The shader module of a kernel (created once). */
  module(shader: string): GPUShaderModule {
    let m = this.modules.get(shader);
    if (!m) {
      m = this.device.createShaderModule({ label: `shaders.${shader}`, code: shaderSource(shader) });
      this.modules.set(shader, m);
    }
    return m;
  }

  /**
   * The pipeline of `shader` (name under shaders/) at `entryPoint` specialised with `constants`.
   * Layout 'auto': bind groups use `pipeline.getBindGroupLayout(0)`, so every declared binding
   * must be used by the entry point.
   */
  get(shader: string, constants: Constants = {}, entryPoint = 'main'): GPUComputePipeline {
    const key = `${shader}:${entryPoint}:${constantsKey(constants)}`;
    let p = this.pipelines.get(key);
    if (!p) {
      const c: Record<string, number> = {};
      for (const [k, v] of Object.entries(constants)) c[k] = Number(v);
      p = this.device.createComputePipeline({
        label: `pipelines.${key}`,
        layout: 'auto',
        compute: { module: this.module(shader), entryPoint, constants: c },
      });
      this.pipelines.set(key, p);
    }
    return p;
  }

  /**
   * Throws ShaderCompileError if any module created since the last check has compile errors.
   * Call after building ops: compile errors otherwise surface only as asynchronous uncaptured
   * device errors. Each module is asked once: in Chromium a second getCompilationInfo() on a
   * module never resolved (a model load hung after its matmul tuning had checked the same cache).
   */
  async checkCompilation(): Promise<void> {
    const problems: string[] = [];
    for (const [name, m] of this.modules) {
      if (this.checked.has(name)) continue;
      this.checked.add(name);
      const info = await m.getCompilationInfo();
      for (const msg of info.messages) {
        if (msg.type === 'error') problems.push(`shaders/${name}.wgsl:${msg.lineNum}:${msg.linePos}: ${msg.message}`);
      }
    }
    if (problems.length) throw new ShaderCompileError(problems.join('\n'));
  }
}

/** A range of a buffer bound on its own (offset a multiple of minStorageBufferOffsetAlignment). */
export interface BufferRange {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}

/** Bind group 0 of `pipeline` with `buffers[i]` at binding i (whole buffers, or ranges). */
export function bindBuffers(device: GPUDevice, label: string, pipeline: GPUComputePipeline, buffers: (GPUBuffer | BufferRange)[]): GPUBindGroup {
  return device.createBindGroup({
    label,
    layout: pipeline.getBindGroupLayout(0),
    entries: buffers.map((b, binding) => ({ binding, resource: 'offset' in b ? { buffer: b.buffer, offset: b.offset, size: b.size } : { buffer: b } })),
  });
}

/** Most workgroups per dispatch dimension guaranteed by WebGPU's default limits. */
export const MAX_GROUPS_PER_DIM = 65535;

/**
 * Dispatches `groups` workgroups as (x, y) with x <= 65535; kernels take the linear workgroup
 * index as `wid.y * nwg.x + wid.x` and bound-check it, since x * y may exceed `groups`.
 */
export function dispatchLinear(pass: GPUComputePassEncoder, groups: number): void {
  const x = Math.min(groups, MAX_GROUPS_PER_DIM);
  pass.dispatchWorkgroups(x, Math.ceil(groups / x));
}

/** What every op needs at construction: the device, the pipeline cache, the pass's Step uniform. */
export interface KernelEnv {
  device: GPUDevice;
  pipelines: PipelineCache;
  /** Step { rows, prefix, pad0, pad1 } uniform (16 bytes), written once per forward call. */
  step: GPUBuffer;
}

/** An op: built once with its buffers, then records its dispatches for `rows` rows per pass. */
export interface GpuOp {
  encode(pass: GPUComputePassEncoder, rows: number): void;
}
