/**
 * Messages between the main-thread WorkerEngine and the engine's Web Worker. Only plain,
 * structured-cloneable data crosses: File objects clone, AbortSignals and class instances do
 * not, so an abort is a message and errors travel as SerializedError.
 */
import type { DocumentsProgress, EngineOptions, GenerateOptions } from '../engine/options';
import type { GenerateChunk } from '../engine/decode-loop';
import type { GenerationStats } from '../engine/stats';
import type { ModelConfig } from '../model/config';
import type { LoadProgress } from '../model/source-base';

/** Where the worker loads a model from. */
export type ModelSpec =
  /** An absolute URL base in the Hugging Face `resolve/main/` layout (or a served folder). */
  | { kind: 'url'; base: string }
  /** Files picked by the user (a folder through webkitdirectory, or several files). */
  | { kind: 'files'; files: File[]; id: string };

/** Engine options that can cross to a worker (a GPUDevice cannot). */
export type WorkerLoadOptions = Omit<EngineOptions, 'device'>;

/**
 * Generate options that can cross: the signal becomes an 'abort' message, the onProgress
 * function the flag `progress`, which has the worker send each DocumentsProgress as an
 * 'indexing' message.
 */
export type WorkerGenerateOptions = Omit<GenerateOptions, 'signal' | 'onProgress'> & { progress?: boolean };

/** What the page learns about a loaded engine. */
export interface EngineInfo {
  config: ModelConfig;
  /** strategyNames() as registered in the worker, 'ar' first. */
  strategies: string[];
  maxContext: number;
  /** tokenizer_config.json has a chat_template, so `chat: true` applies it. */
  hasChatTemplate: boolean;
}

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  /** The error was a TreespecError (of a class the client may not export). */
  treespec?: boolean;
  /** ModelSourceError's file and HTTP status. */
  file?: string;
  status?: number | null;
}

export type Request =
  /** `draft`: a draft model of the same tokenizer for the `draft` and `fusion` strategies. */
  | { type: 'load'; id: number; model: ModelSpec; draft?: ModelSpec; options: WorkerLoadOptions }
  | { type: 'generate'; id: number; prompt: string; options: WorkerGenerateOptions }
  /** Vocabulary entries of token ids (for showing draft trees), answered between steps. */
  | { type: 'pieces'; id: number; ids: number[] }
  /** Aborts the generation whose request id is `id`. */
  | { type: 'abort'; id: number };

export type Response =
  | { type: 'progress'; id: number; progress: LoadProgress }
  | { type: 'loaded'; id: number; info: EngineInfo }
  /** Indexing progress of a generation's documents (sent when its options ask for `progress`). */
  | { type: 'indexing'; id: number; progress: DocumentsProgress }
  | { type: 'chunk'; id: number; chunk: GenerateChunk }
  | { type: 'done'; id: number; stats: GenerationStats }
  | { type: 'pieces'; id: number; pieces: string[] }
  | { type: 'error'; id: number; error: SerializedError };
