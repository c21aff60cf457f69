/**
 * Loading the draft model of the `cross-vocab` strategy: a model of another tokenizer, on the
 * target engine's device, with its own KV cache.
 */
import { GpuModel } from '../model/gpu-model';
import { loadModelFiles, type ModelFiles } from '../model/weights';
import { sourceFromString, type ModelSource } from '../model/source';
import { Tokenizer } from '../tokenizer/tokenizer';
import type { WeightDtype } from '../model/upload';
import type { CrossVocabModel } from './cross-vocab';

/** Rows of one draft pass: the chain drafts one row at a time; prefill appends chunks of this many. */
const DRAFT_ROWS = 64;

/**
 * Loads a cross-vocabulary draft (folder path or URL base, a ModelSource, or parsed files).
 * Its cache spans its own max_position_embeddings: a longer target context, re-tokenized,
 * simply stops the model's drafts (the n-gram cache keeps drafting).
 */
export async function loadCrossVocabDraft(device: GPUDevice, model: string | ModelSource | ModelFiles, weightDtype: WeightDtype): Promise<CrossVocabModel> {
  const files = typeof model === 'object' && 'tensors' in model ? model : await loadModelFiles(typeof model === 'string' ? sourceFromString(model) : model);
  const tokenizer = Tokenizer.fromFiles(files.tokenizerJson, files.tokenizerConfig, files.config);
  const maxContext = Math.min(files.config.maxPositionEmbeddings, 2048);
  const gpu = await GpuModel.load(device, files, { maxContext, maxTreeRows: DRAFT_ROWS, weightDtype });
  return { model: gpu, tokenizer };
}
