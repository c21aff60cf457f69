/**
 * Plain decoding on the CPU reference model: the oracle the GPU engine is compared with
 * (`treespec generate --device cpu`). Same sampling rules and random stream as the engine's
 * plain decoding.
 */
import type { ModelFiles } from '../model/weights';
import { ReferenceModel } from '../model/reference';
import type { KvDtype } from '../kv/cache';
import type { Tokenizer } from '../tokenizer/tokenizer';
import { Rng } from '../verify/rng';
import { greedyToken, sampleFrom, targetProbs } from '../verify/sampler';
import type { ResolvedGenerateOptions } from './options';
import { ModelError } from '../errors';

/** The GPU engine's rule on the CPU: a row of logits with NaN or infinity yields no token. */
function checkLogits(row: Float32Array, position: number): void {
  for (let i = 0; i < row.length; i++) {
    if (!Number.isFinite(row[i])) throw new ModelError(`the model's logits at position ${position} are not finite (NaN or infinity): the weights overflow f32 on this input; no token was produced`);
  }
}

export interface CpuGeneration {
  tokens: number[];
  text: string;
  stats: { promptTokens: number; generatedTokens: number; prefillMs: number; decodeMs: number; tokensPerSecond: number; finishReason: 'length' | 'eos' | 'context' };
}

/**
 * Plain decoding of at most opts.maxTokens tokens within `maxContext` (prompt + output), with the
 * engine's finish reasons: 'eos', 'length' (maxTokens reached) or 'context' (the context is full).
 */
export function generateOnCpu(files: ModelFiles, tokenizer: Tokenizer, prompt: Int32Array, opts: ResolvedGenerateOptions, maxContext = Infinity, kvDtype: KvDtype = 'f32'): CpuGeneration {
  const vocab = files.config.vocabSize;
  const budget = Math.min(opts.maxTokens, maxContext - prompt.length);
  // the engine's context, not this request's length, picks LongRoPE's factors (as on the GPU)
  const model = ReferenceModel.fromFiles(files, prompt.length + budget + 1, Math.min(maxContext, files.config.maxPositionEmbeddings), kvDtype);
  const rng = new Rng(opts.seed);
  const eos = new Set(tokenizer.eosIds);
  const sampling = { temperature: opts.temperature, topK: opts.topK, topP: opts.topP, repetitionPenalty: opts.repetitionPenalty };
  const greedy = opts.temperature === 0 && opts.repetitionPenalty === 1;
  const t0 = performance.now();
  let logits = model.forward(prompt);
  let last = logits.subarray((prompt.length - 1) * vocab);
  const t1 = performance.now();
  const history = Array.from(prompt);
  const out: number[] = [];
  let finishReason: 'length' | 'eos' | 'context' = budget < opts.maxTokens ? 'context' : 'length';
  while (out.length < budget) {
    checkLogits(last, history.length - 1);
    const next = greedy ? greedyToken(last) : sampleFrom(targetProbs(last, sampling, Int32Array.from(history)), rng);
    if (eos.has(next)) { finishReason = 'eos'; break; }
    out.push(next);
    history.push(next);
    if (out.length === budget) break;
    logits = model.forward(Int32Array.of(next));
    last = logits.subarray(0, vocab);
  }
  const decodeMs = performance.now() - t1;
  return {
    tokens: out,
    text: tokenizer.decode(out),
    stats: { promptTokens: prompt.length, generatedTokens: out.length, prefillMs: t1 - t0, decodeMs, tokensPerSecond: (out.length * 1000) / Math.max(decodeMs, 1e-9), finishReason },
  };
}
