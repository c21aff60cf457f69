/**
 * Defaults of loading a model, shared by the engine's target and a draft model loaded on its own
 * (src/draft/draft-model.ts), so that neither reads them from the other.
 */
import type { WeightDtype } from './upload.ts';

export const modelDefaults = {
  /** The context a model gets when none is given: its own, capped here (KV memory grows with it). */
  maxContextCap: 2048,
  weightDtype: 'f16' as WeightDtype,
};
