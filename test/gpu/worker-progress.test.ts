/**
 * WorkerEngine forwards the indexing progress of a generation's documents (issue 20): the
 * worker posts each DocumentsProgress as a message while it tokenizes, and the page's
 * onProgress receives them in order, ending at the documents' characters and tokens. A real
 * module Worker running src/worker/engine-worker.ts, so only where the runtime has Web Workers
 * (gpu-browser; Node has none).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURE_SHAPES, makeFixture } from '../../src/model/fixture';
import type { DocumentsProgress } from '../../src/engine/options';
import { WorkerEngine } from '../../src/worker/client';

const hasWorkers = typeof Worker !== 'undefined';

describe.skipIf(!hasWorkers)('WorkerEngine: document indexing progress', () => {
  let engine: WorkerEngine | null = null;
  afterAll(() => engine?.destroy());

  it('arrives on the page as onProgress calls, tokenize then index, ending at the totals', async () => {
    const files = [...makeFixture(FIXTURE_SHAPES.tiny, 3)].map(([name, bytes]) => new File([bytes as Uint8Array<ArrayBuffer>], name));
    engine = await WorkerEngine.load(
      { kind: 'files', files, id: 'tiny' },
      { maxContext: 64, maxTreeNodes: 8, weightDtype: 'f32', createWorker: () => new Worker(new URL('../../src/worker/engine-worker.ts', import.meta.url), { type: 'module' }) },
    );
    // 150k characters: more than two of the tokenizer's 64k-character progress intervals
    const words = ['the', 'cat', 'sat', 'on', 'a', 'mat', 'and', 'looked', 'at', 'dog'];
    const long = Array.from({ length: 30000 }, (_, i) => words[(i * 7) % words.length]).join(' ');
    const documents = [long.slice(0, 150000), 'the cat sat on the mat'];
    const events: DocumentsProgress[] = [];
    const r = await engine.generateText('the cat sat', { maxTokens: 3, strategy: 'retrieval', documents, onProgress: (p) => events.push(p) });
    expect(r.tokens).toHaveLength(3);
    const chars = documents[0].length + documents[1].length;
    const tokenize = events.filter((e) => e.stage === 'tokenize');
    const index = events.filter((e) => e.stage === 'index');
    expect(events.slice(0, tokenize.length)).toEqual(tokenize); // every tokenize event precedes the index ones
    expect(tokenize.length).toBeGreaterThanOrEqual(3); // within the long document, not only at its end
    expect(tokenize.every((e, i) => e.total === chars && (i === 0 || e.done >= tokenize[i - 1].done))).toBe(true);
    expect(tokenize.at(-1)!.done).toBe(chars);
    expect(index.map((e) => e.done)).toEqual([0, index[0].total]);
    expect(index[0].total).toBeGreaterThan(30000);
    // A non-function is refused on the page, as Engine.generate refuses it
    await expect(engine.generateText('the cat', { maxTokens: 1, onProgress: 'yes' as never })).rejects.toThrow(/generate option "onProgress" is "yes"; expected a function/);
  });
});
