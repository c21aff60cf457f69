import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Datastore } from '../../src/draft/datastore';
import { RetrievalDrafter } from '../../src/draft/retrieval';
import { OptionsError } from '../../src/errors';
import { draftCtx, treePaths, treeViolations } from './drafters-tree-check';

const i32 = (a: number[]) => Int32Array.from(a);

/** Brute force: every (doc, end) where `suffix` occurs in a doc and is followed by a token. */
function naiveContinuations(docs: number[][], suffix: number[], maxLen: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const d of docs) {
    for (let i = 0; i + suffix.length < d.length; i++) {
      if (!suffix.every((v, j) => d[i + j] === v)) continue;
      const key = d.slice(i + suffix.length, i + suffix.length + maxLen).join(',');
      out.set(key, (out.get(key) ?? 0) + 1);
    }
  }
  return out;
}

describe('Datastore', () => {
  it('finds the longest suffix and never matches across documents', () => {
    const ds = Datastore.build([i32([1, 2, 3, 4, 5]), i32([]), i32([9, 2, 3, 7]), i32([2, 3])]);
    expect(ds.length).toBe(5 + 1 + 4 + 1 + 2 + 1);
    expect(ds.bytes).toBe(8 * ds.length);
    const m = ds.longestSuffix(i32([8, 1, 2, 3]), 8);
    expect(m.length).toBe(3);
    expect(ds.continuations(m, 10, 5).map((c) => [Array.from(c.tokens), c.count])).toEqual([[[4, 5], 1]]);
    // (2, 3) occurs three times; at the end of doc 3 nothing follows, so it is not a candidate
    const m2 = ds.longestSuffix(i32([0, 2, 3]), 8);
    expect(m2.length).toBe(2);
    const c2 = ds.continuations(m2, 10, 1).map((c) => [Array.from(c.tokens), c.count]);
    expect(c2).toEqual([[[4], 1], [[7], 1]]);
    // suffix (3, 7) then the separator: matched only by a followed occurrence; (7) is last in its doc
    expect(ds.longestSuffix(i32([3, 7]), 8).length).toBe(0);
    expect(ds.longestSuffix(i32([]), 8).length).toBe(0);
  });

  it('rejects negative token ids in documents', () => {
    expect(() => Datastore.build([i32([1, -1, 2])])).toThrow(OptionsError);
  });

  it('continuations count exactly like a brute-force search on random documents', () => {
    const doc = fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 30 });
    fc.assert(
      fc.property(fc.array(doc, { maxLength: 5 }), fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 6 }), (docs, context) => {
        const ds = Datastore.build(docs.map(i32));
        const m = ds.longestSuffix(i32(context), 4);
        // brute force longest length with a followed occurrence
        let want = 0;
        for (let len = Math.min(4, context.length); len >= 1; len--) {
          if (naiveContinuations(docs, context.slice(context.length - len), 1).size > 0) {
            want = len;
            break;
          }
        }
        expect(m.length).toBe(want);
        if (want === 0) return;
        const got = new Map(ds.continuations(m, 1000, 3, 1000).map((c) => [Array.from(c.tokens).join(','), c.count]));
        expect(got).toEqual(naiveContinuations(docs, context.slice(context.length - want), 3));
      }),
      { numRuns: 400 },
    );
  });

  it('samples large ranges evenly and keeps counts summing to the range', () => {
    const doc: number[] = [];
    for (let i = 0; i < 3000; i++) doc.push(5, i % 3 === 0 ? 1 : 2);
    const ds = Datastore.build([i32(doc)]);
    const m = ds.longestSuffix(i32([5]), 1);
    const c = ds.continuations(m, 10, 1, 64);
    expect(c.map((x) => Array.from(x.tokens))).toEqual([[2], [1]]);
    expect(c[0].count + c[1].count).toBeCloseTo(3000);
    expect(c[0].count / c[1].count).toBeCloseTo(2, 0);
  });
});

describe('RetrievalDrafter', () => {
  it('drafts the most frequent continuations of the longest suffix from the datastore', () => {
    const ds = Datastore.build([i32([1, 2, 3, 4]), i32([1, 2, 3, 4]), i32([1, 2, 3, 6]), i32([7, 3, 9])]);
    const d = new RetrievalDrafter({ datastore: ds, useContext: false });
    const tree = d.propose(draftCtx([0, 2, 3]), 10);
    expect(treeViolations(tree, 10)).toEqual([]);
    // suffix (2, 3) matched: 4 twice, 6 once; (3) alone would also allow 9 but is shorter
    expect(Array.from(tree.tokens)).toEqual([4, 6]);
    const cands = d.retrievalCandidates(i32([0, 2, 3]), 5, 2);
    expect(cands.map((c) => [Array.from(c.tokens), c.count])).toEqual([[[4], 2], [[6], 1]]);
  });

  it('uses the running context, and the longer of context and datastore matches', () => {
    const ds = Datastore.build([i32([5, 6, 11, 12])]);
    const d = new RetrievalDrafter({ datastore: ds, maxLen: 3 });
    // context has (4, 5, 6) earlier: longer than the datastore's (5, 6)
    const tree = d.propose(draftCtx([4, 5, 6, 20, 21, 22, 4, 5, 6]), 10);
    expect(treePaths(tree)).toEqual(['20', '20,21', '20,21,22']);
    // equal lengths: both sources merged, frequency first
    const t2 = d.propose(draftCtx([5, 6, 30, 5, 6]), 10);
    expect(treePaths(t2).sort()).toEqual(['11', '11,12', '30', '30,5', '30,5,6']);
    expect(d.propose(draftCtx([5, 6, 30, 5, 6]), 1).tokens.length).toBe(1);
  });

  it('swaps datastores between requests', () => {
    const d = new RetrievalDrafter({ useContext: false });
    expect(d.propose(draftCtx([1, 2]), 5).tokens.length).toBe(0);
    d.setDatastore(Datastore.build([i32([1, 2, 8])]));
    expect(Array.from(d.propose(draftCtx([1, 2]), 5).tokens)).toEqual([8]);
    d.setDatastore(null);
    expect(d.propose(draftCtx([1, 2]), 5).tokens.length).toBe(0);
  });

  it('works without a datastore, on empty contexts and budgets 0/1', () => {
    const d = new RetrievalDrafter();
    expect(d.propose(draftCtx([]), 5).tokens.length).toBe(0);
    expect(d.propose(draftCtx([1, 2, 1, 2]), 0).tokens.length).toBe(0);
    expect(Array.from(d.propose(draftCtx([1, 2, 3, 1, 2]), 1).tokens)).toEqual([3]);
    expect(d.propose(draftCtx([1, 2, 3, 4]), 5).tokens.length).toBe(0);
    expect(() => new RetrievalDrafter({ minSuffix: 3, maxSuffix: 2 })).toThrow(OptionsError);
  });
});
