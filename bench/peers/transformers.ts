/**
 * transformers.js (@huggingface/transformers: onnxruntime-web, WebGPU or WebAssembly) as a peer
 * in the browser runtime, on an ONNX export of the same model (tools/fixtures/export_onnx.py:
 * f32, KV cache; quantize_onnx.py: its fp16, q8 and q4 variants, one peer each). It is fed treespec's own prompt token ids, so its output ids compare with
 * treespec `ar`'s one for one. Greedy (do_sample false). Local files only: the model and
 * onnxruntime-web's WebAssembly come from the bench's Vite server, never from a hub or a CDN.
 */
import { AutoModelForCausalLM, AutoTokenizer, BaseStreamer, Tensor, env, type TextStreamer } from '@huggingface/transformers';
import type { Peer } from '../suite';
import type { BenchPrompt, BenchWeights } from '../types';

export type TransformersDevice = 'webgpu' | 'wasm';

/** transformers.js's dtype for each treespec weight format (it picks onnx/model{_fp16,_quantized,_q4}.onnx). */
const DTYPE = { f32: 'fp32', f16: 'fp16', q8: 'q8', q4: 'q4' } as const;

/** Where the page finds the export and onnxruntime-web's files (URLs on the bench's server). */
export interface TransformersFiles {
  /** Absolute path on the page's origin of the folder holding the export folder (env.localModelPath). */
  modelsUrl: string;
  /** Name of the export folder under modelsUrl (config.json, tokenizer.json, onnx/model.onnx). */
  modelId: string;
  /** URL of node_modules/onnxruntime-web/dist/ (env.backends.onnx.wasm.wasmPaths). */
  ortUrl: string;
}

/**
 * Times every generated token: generate() puts the prompt first, then each new token once
 * its forward pass and sampling are done.
 */
class TimingStreamer extends BaseStreamer {
  start = 0;
  /** performance.now() when each generated token arrived. */
  readonly at: number[] = [];
  private sawPrompt = false;

  override put(): void {
    if (this.sawPrompt) this.at.push(performance.now());
    this.sawPrompt = true;
  }

  override end(): void {}
}

/** One greedy generate() from token ids; returns the generated ids (eos included when hit) and their times. */
async function generateIds(model: Awaited<ReturnType<typeof AutoModelForCausalLM.from_pretrained>>, ids: number[], maxTokens: number) {
  const input = new Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]);
  const mask = new Tensor('int64', new BigInt64Array(ids.length).fill(1n), [1, ids.length]);
  const streamer = new TimingStreamer();
  streamer.start = performance.now();
  // generate()'s declared parameter type asks for a TextStreamer; it calls only put() and end(),
  // and a TextStreamer would decode text on every token inside the timed loop.
  const out = (await model.generate({
    input_ids: input, attention_mask: mask, max_new_tokens: maxTokens, do_sample: false, streamer: streamer as unknown as TextStreamer,
  })) as Tensor;
  const all = Array.from(out.data as BigInt64Array, Number);
  return { ids: all.slice(ids.length), streamer };
}

/**
 * `encode` is treespec's prompt encoding (the engine's tokenizer, special tokens as generate()
 * adds them). The WebGPU load is checked with a one-token generation; the caller falls back
 * to WebAssembly when it throws.
 */
export async function loadTransformers(files: TransformersFiles, device: TransformersDevice, weights: BenchWeights, encode: (text: string) => number[], log: (line: string) => void): Promise<Peer> {
  const name = device === 'webgpu' ? 'transformers.js' : 'transformers.js-wasm';
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = files.modelsUrl;
  env.useBrowserCache = false;
  env.useWasmCache = false;
  // A URL prefix (not a {mjs, wasm} pair): onnxruntime-web fetches the .wasm its build needs from here.
  env.backends.onnx.wasm!.wasmPaths = files.ortUrl;
  const t0 = performance.now();
  const dtype = DTYPE[weights];
  const model = await AutoModelForCausalLM.from_pretrained(files.modelId, { device, dtype });
  const tokenizer = await AutoTokenizer.from_pretrained(files.modelId);
  const smoke = await generateIds(model, encode('Once upon a time'), 1);
  if (smoke.ids.length !== 1) throw new Error(`${name}: a one-token generation returned ${smoke.ids.length} tokens`);
  const eos = new Set([tokenizer.eos_token_id].filter((x): x is number => typeof x === 'number'));
  log(`${name} (transformers.js ${env.version}, onnxruntime-web ${env.backends.onnx.versions?.web ?? '?'}) loaded ${files.modelId} ${dtype} on ${device} in ${(performance.now() - t0).toFixed(0)} ms`);
  return {
    name,
    weights,
    environment: {
      [`${name} ${dtype}`]: `transformers.js ${env.version}, onnxruntime-web ${env.backends.onnx.versions?.web ?? '?'}, device ${device}, ${dtype} ONNX export, ` +
        `${env.backends.onnx.wasm?.numThreads ?? '?'} WebAssembly thread(s); prompts fed as treespec's token ids`,
    },
    async generate(p: BenchPrompt, maxTokens: number) {
      const promptIds = encode(p.prompt);
      const own = Array.from(tokenizer.encode(p.prompt));
      if (own.join() !== promptIds.join()) log(`${name}: its tokenizer encodes ${p.id} differently from treespec's (${own.length} vs ${promptIds.length} ids); treespec's ids are used`);
      const { ids, streamer } = await generateIds(model, promptIds, maxTokens);
      // treespec stops before an end-of-sequence token and does not return it.
      const eosAt = ids.findIndex((t) => eos.has(t));
      const tokens = eosAt >= 0 ? ids.slice(0, eosAt) : ids;
      const at = streamer.at;
      // The first token comes out of the prompt's forward pass (prefill); decode is every later
      // token, one forward each, as treespec's decode loop (which starts after a prefill of
      // all prompt tokens but the last) and llama.cpp's predicted_ms count it.
      const prefillMs = at.length ? at[0] - streamer.start : NaN;
      const decodeMs = at.length > 1 ? at[at.length - 1] - at[0] : NaN;
      const n = Math.max(0, at.length - 1);
      return {
        text: tokenizer.decode(tokens, { skip_special_tokens: true }),
        tokens,
        stats: {
          promptTokens: promptIds.length,
          generatedTokens: n,
          prefillMs,
          decodeMs,
          tokensPerSecond: (n * 1000) / decodeMs,
          targetForwards: n,
          tau: 1,
          draftMsPerToken: 0,
          verifyMsPerToken: n ? decodeMs / n : NaN,
          otherMsPerToken: 0,
          finishReason: eosAt >= 0 ? 'eos' : ids.length >= maxTokens ? 'length' : 'unknown',
        },
      };
    },
    destroy: () => model.dispose().then(() => undefined),
  };
}
