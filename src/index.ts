/** treespec: speculative-decoding LLM inference on WebGPU, in the browser and in Node. */
export { Engine, type LoadOptions, type ModelInput } from './engine/engine';
export type { EngineOptions, GenerateOptions, WeightDtype } from './engine/options';
export { engineDefaults, generateDefaults } from './engine/options';
export type { GenerateChunk } from './engine/decode-loop';
export type { GenerationStats, StepRecord, FinishReason } from './engine/stats';
export { strategyNames, registerStrategy } from './engine/strategies';
export { acquireDevice, WebGPUUnavailableError } from './gpu/device';
export * from './errors';
export { parseConfig, type ModelConfig } from './model/config';
export { loadModelFiles, type ModelFiles, type RawTensor } from './model/weights';
export * from './model/source';
export { Tokenizer } from './tokenizer/tokenizer';
export type { Drafter, DraftContext, VerifyObservation } from './draft/drafter';
export type { DraftTree, DraftProbabilities } from './tree/types';
export { Rng } from './verify/rng';
