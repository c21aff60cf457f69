import { describe, expect, it } from 'vitest';
import { LookupDrafter } from '../../src/draft/lookup';
import { OptionsError } from '../../src/errors';
import { draftCtx, treePaths, treeViolations } from './drafters-tree-check';

const ctx = draftCtx;

describe('LookupDrafter', () => {
  it('copies what followed the longest matching suffix', () => {
    const d = new LookupDrafter({ maxContinuation: 4 });
    const tree = d.propose(ctx([1, 2, 3, 4, 9, 9, 1, 2, 3]), 10);
    expect(treeViolations(tree, 10)).toEqual([]);
    expect(Array.from(tree.tokens)).toEqual([4, 9, 9, 1]);
    expect(Array.from(tree.parents)).toEqual([-1, 0, 1, 2]);
  });

  it('turns several matches into branches, most recent first on ties', () => {
    const d = new LookupDrafter({ maxContinuation: 3 });
    const tree = d.propose(ctx([5, 7, 8, 5, 7, 9, 5, 7]), 10);
    expect(treeViolations(tree, 10)).toEqual([]);
    expect(Array.from(tree.tokens)).toEqual([9, 8, 5, 5, 7, 7]);
    expect(Array.from(tree.parents)).toEqual([-1, -1, 0, 1, 2, 3]);
  });

  it('ranks one longer match above many shorter ones', () => {
    // suffix (2, 3): one match of length 2 (followed by 50), four of length 1 (followed by 60).
    const d = new LookupDrafter({ maxContinuation: 1, maxMatches: 4 });
    const tree = d.propose(ctx([3, 60, 3, 60, 2, 3, 50, 3, 60, 3, 60, 2, 3]), 1);
    expect(Array.from(tree.tokens)).toEqual([50]);
    const both = d.propose(ctx([3, 60, 3, 60, 2, 3, 50, 3, 60, 3, 60, 2, 3]), 2);
    expect(Array.from(both.tokens)).toEqual([50, 60]);
  });

  it('respects minNgram and maxNgram', () => {
    // the only match of the suffix is a single token: minNgram 2 finds nothing
    expect(new LookupDrafter({ minNgram: 2 }).propose(ctx([4, 1, 5, 6, 1]), 5).tokens.length).toBe(0);
    expect(Array.from(new LookupDrafter({ maxContinuation: 2 }).propose(ctx([4, 1, 5, 6, 1]), 5).tokens)).toEqual([5, 6]);
  });

  it('uses at most maxMatches positions', () => {
    const d = new LookupDrafter({ maxContinuation: 1, maxMatches: 2 });
    // 7 is followed by 1, 2, 3 and 4; the two most recent (4 and 3) are kept
    const tree = d.propose(ctx([7, 1, 7, 2, 7, 3, 7, 4, 7]), 10);
    expect(treePaths(tree).sort()).toEqual(['3', '4']);
  });

  it('returns an empty tree for no match, empty context, budget 0', () => {
    const d = new LookupDrafter();
    expect(d.propose(ctx([1, 2, 3]), 8).tokens.length).toBe(0);
    expect(d.propose(ctx([]), 8).tokens.length).toBe(0);
    expect(d.propose(ctx([5]), 8).tokens.length).toBe(0);
    expect(d.propose(ctx([1, 2, 1, 2]), 0).tokens.length).toBe(0);
    expect(d.propose(ctx([1, 2, 1, 2]), 1).tokens.length).toBe(1);
  });

  it('rejects bad options with a named error', () => {
    expect(() => new LookupDrafter({ minNgram: 5, maxNgram: 2 })).toThrow(OptionsError);
    expect(() => new LookupDrafter({ maxContinuation: 0 })).toThrow(OptionsError);
  });
});
