import { describe, expect, it } from 'vitest';
import { RandomDrafter } from '../../src/draft/random';
import type { DraftContext } from '../../src/draft/drafter';
import { OptionsError } from '../../src/errors';
import { layoutTree } from '../../src/tree/layout';
import type { DraftTree } from '../../src/tree/types';
import { Rng } from '../../src/verify/rng';
import { chiSquarePValue } from './stats';

// The random drafter reads nothing from its context; the cast keeps this test independent of
// context fields it never uses.
const ctx = { tokens: Int32Array.from([1, 2, 3]), sampling: false, rng: new Rng(0) } as Partial<DraftContext> as DraftContext;

function snapshot(t: DraftTree): string {
  return `${[...t.tokens]}|${[...t.parents]}`;
}

describe('RandomDrafter', () => {
  it('is named random and rejects a bad vocabulary size', () => {
    expect(new RandomDrafter({ vocabSize: 10, seed: 1 }).name).toBe('random');
    expect(() => new RandomDrafter({ vocabSize: 0, seed: 1 })).toThrow(OptionsError);
  });

  it('proposes valid BFS trees within the budget, for tiny and large vocabularies', () => {
    for (const vocabSize of [1, 2, 3, 50, 32000]) {
      const d = new RandomDrafter({ vocabSize, seed: vocabSize });
      for (const budget of [0, 1, 2, 5, 31, 127]) {
        for (let k = 0; k < 40; k++) {
          const t = d.propose(ctx, budget);
          expect(t.tokens.length).toBeLessThanOrEqual(budget);
          expect(t.draft.kind).toBe('deterministic');
          // layoutTree throws TreeError on any contract violation (order, range, duplicate siblings).
          expect(layoutTree(t, vocabSize).rows).toBe(t.tokens.length + 1);
          if (budget > 0) expect(t.tokens.length).toBeGreaterThanOrEqual(1);
        }
      }
    }
  });

  it('spans sizes 1..budget and both wide and deep shapes', () => {
    const d = new RandomDrafter({ vocabSize: 100, seed: 7 });
    const sizes = new Set<number>();
    let maxDepth = 0;
    let maxRootKids = 0;
    for (let k = 0; k < 400; k++) {
      const t = d.propose(ctx, 8);
      sizes.add(t.tokens.length);
      const l = layoutTree(t, 100);
      maxDepth = Math.max(maxDepth, l.depth[l.rows - 1]);
      maxRootKids = Math.max(maxRootKids, l.children[0].length);
    }
    expect([...sizes].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(maxDepth).toBeGreaterThanOrEqual(5);
    expect(maxRootKids).toBeGreaterThanOrEqual(5);
  });

  it('is reproducible from its seed and restarts on reset', () => {
    const a = new RandomDrafter({ vocabSize: 500, seed: 42 });
    const b = new RandomDrafter({ vocabSize: 500, seed: 42 });
    const c = new RandomDrafter({ vocabSize: 500, seed: 43 });
    const first = [0, 1, 2, 3, 4].map(() => snapshot(a.propose(ctx, 20)));
    expect([0, 1, 2, 3, 4].map(() => snapshot(b.propose(ctx, 20)))).toEqual(first);
    expect([0, 1, 2, 3, 4].map(() => snapshot(c.propose(ctx, 20)))).not.toEqual(first);
    a.reset();
    expect([0, 1, 2, 3, 4].map(() => snapshot(a.propose(ctx, 20)))).toEqual(first);
  });

  it('draws the first token uniformly over the vocabulary', () => {
    const V = 8;
    const d = new RandomDrafter({ vocabSize: V, seed: 3 });
    const counts = new Array(V).fill(0);
    const n = 8000;
    for (let k = 0; k < n; k++) counts[d.propose(ctx, 4).tokens[0]]++;
    expect(chiSquarePValue(counts, new Array(V).fill(n / V))).toBeGreaterThan(1e-4);
  });
});
