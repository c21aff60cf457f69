/**
 * Collecting a generate() stream into one result, shared by Engine and the worker client (types
 * only imported, so the main-thread client bundle stays free of engine code).
 */
import type { GenerateChunk } from './decode-loop';
import type { GenerationStats } from './stats';

/** A generation collected: the whole text, the token ids and the statistics. */
export interface CollectedGeneration {
  text: string;
  tokens: number[];
  stats: GenerationStats;
}

/** Drains a generate() stream (Engine's or WorkerEngine's) into one result. */
export async function collectGeneration(it: AsyncGenerator<GenerateChunk, GenerationStats, void>): Promise<CollectedGeneration> {
  let text = '';
  const tokens: number[] = [];
  for (;;) {
    const r = await it.next();
    if (r.done) return { text, tokens, stats: r.value };
    text += r.value.text;
    tokens.push(...r.value.tokens);
  }
}
