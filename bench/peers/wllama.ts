/**
 * wllama (llama.cpp compiled to WebAssembly, with llama.cpp's WebGPU backend) as a peer in the
 * browser runtime, on a GGUF export of the same model (tools/bench-gguf.ts). Greedy
 * (temperature 0); its own timings (llama.cpp's predicted_ms / prompt_ms) are reported.
 */
import { Wllama } from '@wllama/wllama';
import wasmUrl from '@wllama/wllama/esm/wasm/wllama.wasm?url';
import type { Peer } from '../suite';
import type { BenchPrompt } from '../types';

/** gpu: offload every layer to llama.cpp's WebGPU backend; false: CPU only (WebAssembly). */
export async function loadWllama(ggufUrl: string, nCtx: number, gpu: boolean, log: (line: string) => void): Promise<Peer> {
  const name = gpu ? 'wllama' : 'wllama-cpu';
  // llama.cpp's own lines about backends and offloading go to the log: they tell whether the
  // layers ran on WebGPU or on the CPU.
  const backendLines: string[] = [];
  const keep = (...a: unknown[]) => {
    const line = a.map(String).join(' ');
    if (/webgpu|offload|layers|buffer size|adapter/i.test(line) && backendLines.length < 16) {
      backendLines.push(line.trim());
      log(`${name}: ${line.trim()}`);
    }
  };
  const logger = { debug: keep, log: keep, warn: keep, error: keep };
  const wllama = new Wllama({ default: wasmUrl }, { suppressNativeLog: false, logger });
  const t0 = performance.now();
  const res = await fetch(ggufUrl);
  if (!res.ok) throw new Error(`${ggufUrl}: HTTP ${res.status}`);
  const blob = await res.blob();
  await wllama.loadModel([blob], { n_ctx: nCtx, n_gpu_layers: gpu ? 999 : 0, seed: 0 });
  // llama.cpp names the backend of every buffer it allocates ("WebGPU model buffer size", "CPU ...").
  const ranOn = backendLines.some((l) => /webgpu\S*\s+(model|KV|compute) buffer/i.test(l)) ? 'WebGPU' : 'the CPU (WebAssembly; no WebGPU buffers allocated)';
  log(`${name} (llama.cpp ${Wllama.getLibllamaVersion()}) loaded ${ggufUrl} in ${(performance.now() - t0).toFixed(0)} ms (multithread: ${wllama.isMultithread()})`);
  return {
    name,
    environment: {
      [name]: `llama.cpp ${Wllama.getLibllamaVersion()}, asked for ${gpu ? 'every layer on WebGPU' : 'CPU only'}, ran on ${ranOn}, ${wllama.isMultithread() ? 'multi-threaded' : 'single-threaded'}`,
      [`${name} log`]: backendLines.join(' | '),
    },
    async generate(p: BenchPrompt, maxTokens: number) {
      const r = await wllama.createCompletion({ prompt: p.prompt, max_tokens: maxTokens, temperature: 0, seed: 0 });
      const t = r.timings;
      const n = t?.predicted_n ?? r.usage?.completion_tokens ?? 0;
      const ms = t?.predicted_ms ?? NaN;
      return {
        text: r.choices[0]?.text ?? '',
        tokens: [],
        stats: {
          promptTokens: t?.prompt_n ?? r.usage?.prompt_tokens ?? 0,
          generatedTokens: n,
          prefillMs: t?.prompt_ms ?? NaN,
          decodeMs: ms,
          tokensPerSecond: t?.predicted_per_second ?? (n * 1000) / ms,
          targetForwards: n,
          tau: 1,
          draftMsPerToken: 0,
          verifyMsPerToken: n ? ms / n : NaN,
          otherMsPerToken: 0,
          finishReason: r.choices[0]?.finish_reason ?? 'unknown',
        },
      };
    },
    destroy: () => wllama.exit(),
  };
}
