/// <reference types="@webgpu/types" preserve="true" />
/** treespec: speculative-decoding LLM inference on WebGPU, in the browser and in Node. */
export { Engine, type LoadOptions, type ModelInput } from './engine/engine';
export type { EngineOptions, GenerateOptions, WeightDtype } from './engine/options';
export { engineDefaults, generateDefaults } from './engine/options';
export type { GenerateChunk } from './engine/decode-loop';
export type { GenerationStats, StepRecord, FinishReason } from './engine/stats';
export { strategyNames, isStrategyName, registerStrategy } from './engine/strategies';
export { acquireDevice, WebGPUUnavailableError } from './gpu/device';
export * from './errors';
export { WorkerError } from './worker/errors';
export { parseConfig, type ModelConfig } from './model/config';
export { loadModelFiles, type ModelFiles, type RawTensor } from './model/weights';
export * from './model/source';
export { Tokenizer } from './tokenizer/tokenizer';
export type { Drafter, DraftContext, VerifyObservation } from './draft/drafter';
export type { DraftTree, DraftProbabilities } from './tree/types';
export { Rng } from './verify/rng';
export { DraftModel, type DraftModelOptions } from './draft/draft-model';
export { ModelDrafter, type ModelDrafterOptions } from './draft/model-drafter';
export { FusionDrafter, fuseTrees } from './draft/fusion';
export { keptTokens, parseVocabCounts, type VocabCounts } from './draft/vocab-trim';
