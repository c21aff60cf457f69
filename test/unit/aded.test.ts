import { describe, expect, it } from 'vitest';
import { AdedDrafter } from '../../src/draft/aded';
import { BIGRAM, TrigramTable } from '../../src/draft/aded-table';
import { OptionsError } from '../../src/errors';
import type { DraftTree } from '../../src/tree/types';
import { draftCtx, treePaths, treeViolations } from './drafters-tree-check';

const none = (t: DraftTree, topK: number[][] = [], accepted: number[] = []) => ({
  tree: t,
  acceptedNodes: Int32Array.from(accepted),
  committed: Int32Array.from([0]),
  topK: Int32Array.from(topK.flat()),
  k: topK.length > 0 ? topK[0].length : 1,
});

describe('ADED tri-gram table', () => {
  it('counts, decays and keeps ratios', () => {
    const t = new TrigramTable(16, 4);
    t.addCount(1, 2, 3);
    t.decay(0.5);
    t.addCount(1, 2, 3);
    t.addCount(1, 2, 4);
    // the first sighting of 3 is one step old: it weighs 0.5
    expect(t.effectiveCount(1, 2, 3)).toBeCloseTo(1.5);
    expect(t.effectiveCount(1, 2, 4)).toBeCloseTo(1);
    for (let i = 0; i < 200; i++) t.decay(0.5); // passes 2^64: renormalises
    expect(t.effectiveCount(1, 2, 3) / t.effectiveCount(1, 2, 4)).toBeCloseTo(1.5);
    expect(t.effectiveCount(9, 9, 9)).toBe(0);
  });

  it('stays within its slots and successors, evicting the least weighted', () => {
    const t = new TrigramTable(4, 2); // one set of 4 ways
    for (let b = 0; b < 4; b++) for (let r = 0; r <= b; r++) t.addCount(7, b, 100);
    t.addCount(7, 9, 100); // evicts context (7, 0), the least weighted
    expect(t.find(7, 0)).toBe(-1);
    for (const b of [1, 2, 3, 9]) expect(t.find(7, b)).not.toBe(-1);
    t.addCount(5, 5, 1);
    t.addCount(5, 5, 1);
    t.addCount(5, 5, 2);
    t.addCount(5, 5, 3); // width 2: replaces 2 (least weighted)
    expect(t.effectiveCount(5, 5, 1)).toBe(2);
    expect(t.effectiveCount(5, 5, 2)).toBe(0);
    expect(t.effectiveCount(5, 5, 3)).toBe(1);
  });
});

describe('AdedDrafter', () => {
  it('learns tri-grams from the context and drafts the most frequent continuations first', () => {
    const d = new AdedDrafter({ decay: 1, explore: 0 });
    const ctx = draftCtx([1, 2, 3, 1, 2, 3, 1, 2, 4, 1, 2]);
    const tree = d.propose(ctx, 3);
    expect(treeViolations(tree, 3)).toEqual([]);
    expect(d.table.effectiveCount(1, 2, 3)).toBe(2);
    expect(d.table.effectiveCount(1, 2, 4)).toBe(1);
    expect(d.table.effectiveCount(BIGRAM, 2, 3)).toBe(2);
    // p(3|1,2) = 2/3 then p(1|2,3) = 1: '3,1' (2/3) beats '4' (1/3)
    expect(treePaths(tree)).toEqual(['3', '3,1', '3,1,2']);
    // then '3,1,2,3' and '3,1,2,3,1' (2/3 * 2/3) outrank '4' (1/3)
    expect(treePaths(d.propose(ctx, 5))).toEqual(['3', '3,1', '3,1,2', '3,1,2,3', '3,1,2,3,1']);
    const eight = treePaths(d.propose(ctx, 8));
    expect(eight.slice(0, 4)).toEqual(['3', '4', '3,1', '4,1']);
    expect(eight.length).toBe(8);
  });

  it('learns from a corpus before decoding, and counts growing contexts once', () => {
    const d = new AdedDrafter({ decay: 1, explore: 0 });
    d.learn(Int32Array.from([4, 5, 6, 4, 5, 6]));
    expect(d.table.effectiveCount(4, 5, 6)).toBe(2);
    expect(Array.from(d.propose(draftCtx([9, 4, 5]), 2).tokens)).toEqual([6, 4]);
    // the context (9, 4, 5) was counted once; growing it by one token counts only the new one
    d.propose(draftCtx([9, 4, 5, 6]), 2);
    d.propose(draftCtx([9, 4, 5, 6]), 2);
    expect(d.table.effectiveCount(4, 5, 6)).toBe(3);
    expect(d.table.effectiveCount(9, 4, 5)).toBe(1);
    expect(d.table.effectiveCount(BIGRAM, 4, 5)).toBe(3);
  });

  it('adapts: recent text outweighs old text under decay', () => {
    const d = new AdedDrafter({ decay: 0.9, explore: 0 });
    const t = [1, 2, 3, 1, 2, 3, 1, 2, 3];
    for (let i = 0; i < 20; i++) t.push(5);
    t.push(1, 2, 4, 5, 1, 2);
    // (1,2) -> 3 three times long ago, -> 4 once recently: 4 wins
    expect(Array.from(d.propose(draftCtx(t), 1).tokens)).toEqual([4]);
    const fresh = new AdedDrafter({ decay: 1, explore: 0 });
    expect(Array.from(fresh.propose(draftCtx(t), 1).tokens)).toEqual([3]);
  });

  it('explores: a continuation drafted and rejected again and again yields to an untried one', () => {
    const d = new AdedDrafter({ decay: 1, explore: 0.3 });
    const ctx = draftCtx([1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 4, 1, 2]); // p(3) = .75, p(4) = .25
    const first = d.propose(ctx, 1);
    expect(Array.from(first.tokens)).toEqual([3]);
    let flipped = -1;
    for (let round = 0; round < 100 && flipped < 0; round++) {
      const tree = d.propose(ctx, 1);
      if (tree.tokens[0] === 4) flipped = round;
      d.observe(none(tree)); // tried, not accepted
    }
    expect(flipped).toBeGreaterThan(5);
    const greedy = new AdedDrafter({ decay: 1, explore: 0 });
    for (let round = 0; round < 100; round++) greedy.observe(none(greedy.propose(ctx, 1)));
    expect(Array.from(greedy.propose(ctx, 1).tokens)).toEqual([3]);
  });

  it('learns the target top-1 at rows off the committed path', () => {
    const d = new AdedDrafter({ decay: 1, rowWeight: 0.5 });
    const ctx = draftCtx([1, 2, 3, 1, 2]);
    const tree = d.propose(ctx, 2); // '3', '3,1'
    // row 1 (node 0, token 3, context (2, 3)) not accepted: the target says 8 follows
    d.observe(none(tree, [[9], [8], [6]]));
    expect(d.table.effectiveCount(2, 3, 8)).toBe(0.5);
    expect(d.table.effectiveCount(BIGRAM, 3, 8)).toBe(0.5);
  });

  it('never throws on empty context, budget 0/1, unseen tokens; rejects bad options', () => {
    const d = new AdedDrafter();
    expect(d.propose(draftCtx([]), 5).tokens.length).toBe(0);
    expect(d.propose(draftCtx([7]), 5).tokens.length).toBe(0);
    expect(d.propose(draftCtx([1, 2, 1, 2]), 0).tokens.length).toBe(0);
    expect(d.propose(draftCtx([1, 2, 1, 2]), 1).tokens.length).toBe(1);
    d.observe(none(d.propose(draftCtx([123456, 99999]), 4), [[1]]));
    d.reset();
    expect(d.table.effectiveCount(BIGRAM, 1, 2)).toBe(0);
    expect(() => new AdedDrafter({ decay: 0 })).toThrow(OptionsError);
    expect(() => new AdedDrafter({ slots: 6 })).toThrow(OptionsError);
  });
});
