/**
 * The page of tools/size-proof.ts: loads a model served under /__proof/<name>/ through the
 * public Engine API on a device with WebGPU's default limits (128 MiB per storage binding,
 * 256 MiB per buffer: what a page gets without asking for more, so the embedding and LM head
 * of a 128k-152k vocabulary are split by rows), generates a few tokens, and asks for two loads
 * that do not fit (the model's whole context; a memory budget below the estimate).
 */
import { Engine } from '../../src/index.ts';

export interface ProofResult {
  limits: { maxStorageBufferBindingSize: number; maxBufferSize: number };
  /** The two oversized requests: the error each got, and how long it took. */
  refusals: { request: string; name: string; message: string; ms: number }[];
  loadMs: number;
  memory: { weights: number; kvCache: number; activations: number };
  tokens: number[];
  text: string;
  generateMs: number;
  tokensPerSecond: number;
}

async function runProof(name: string, maxPositions: number): Promise<ProofResult> {
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter');
  const device = await adapter.requestDevice({ label: 'size-proof' });
  const base = new URL(`/__proof/${name}/`, location.href).href;
  const refusals: ProofResult['refusals'] = [];
  // The whole context with an f32 KV cache named: one layer's keys then exceed a 128 MiB binding
  // in both shapes. (With q4's default f16 cache Qwen3-0.6B's layer, 80.3 MiB, fits: only a
  // memoryBudget would refuse it.)
  const requests: [string, Parameters<typeof Engine.load>[1]][] = [
    [`maxContext ${maxPositions} (the model's whole context, f32 KV cache)`, { weightDtype: 'q4', kvDtype: 'f32', maxContext: maxPositions, device }],
    ['memoryBudget 32 MiB', { weightDtype: 'q4', maxContext: 256, memoryBudget: 32 * 2 ** 20, device }],
  ];
  for (const [request, opts] of requests) {
    const t = performance.now();
    const e = await Engine.load(base, opts).then((ok) => (ok.destroy(), null), (err: Error) => err);
    refusals.push({ request, name: e?.name ?? 'none (it loaded)', message: e?.message ?? '', ms: performance.now() - t });
  }
  const t0 = performance.now();
  const engine = await Engine.load(base, { weightDtype: 'q4', maxContext: 256, maxTreeNodes: 16, device });
  const loadMs = performance.now() - t0;
  const t1 = performance.now();
  const r = await engine.generateText('Once upon a time', { maxTokens: 4, strategy: 'ar' });
  const generateMs = performance.now() - t1;
  const out: ProofResult = {
    limits: { maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize, maxBufferSize: device.limits.maxBufferSize },
    refusals,
    loadMs,
    memory: { ...engine.model.memory },
    tokens: Array.from(r.tokens),
    text: r.text,
    generateMs,
    tokensPerSecond: r.tokens.length / (generateMs / 1000),
  };
  engine.destroy();
  device.destroy();
  return out;
}

(window as unknown as { runProof: typeof runProof }).runProof = runProof;
(window as unknown as { proofReady: boolean }).proofReady = true;
