import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { NgramDrafter } from '../../src/draft/ngram';
import { OptionsError } from '../../src/errors';
import { draftCtx, treePaths, treeViolations } from './drafters-tree-check';

const conts = (d: NgramDrafter, key: number[]) => d.lookup(key).map((c) => [Array.from(c.tokens), c.count]);

describe('NgramDrafter', () => {
  it('caches what followed each key and drafts it from the longest key', () => {
    const d = new NgramDrafter({ contLen: 3 });
    const tree = d.propose(draftCtx([1, 2, 3, 4, 5, 6, 7, 1, 2, 3]), 10);
    expect(treeViolations(tree, 10)).toEqual([]);
    expect(Array.from(tree.tokens)).toEqual([4, 5, 6]);
    expect(Array.from(tree.parents)).toEqual([-1, 0, 1]);
    expect(conts(d, [1, 2, 3])).toEqual([[[4, 5, 6], 1]]);
    // positions whose 3 successors are not all committed yet are not cached
    expect(conts(d, [1, 2])).toEqual([[[3, 4, 5], 1]]);
    expect(conts(d, [5])).toEqual([[[6, 7, 1], 1]]);
  });

  it('longer keys outrank shorter ones; counts rank continuations of one key', () => {
    const d = new NgramDrafter({ contLen: 1, keyLen: 2 });
    // key (9) is followed by 1 three times, key (8, 9) by 2 once
    const tree = d.propose(draftCtx([9, 1, 9, 1, 9, 1, 8, 9, 2, 0, 8, 9]), 1);
    expect(Array.from(tree.tokens)).toEqual([2]);
    expect(Array.from(d.propose(draftCtx([9, 1, 9, 1, 9, 1, 8, 9, 2, 0, 8, 9]), 5).tokens)).toEqual([2, 1]);
    expect(conts(d, [9])).toEqual([[[1], 3], [[2], 1]]);
  });

  it('evicts the least recently used key at maxKeys', () => {
    const d = new NgramDrafter({ keyLen: 1, contLen: 1, maxKeys: 4 });
    const t = [10, 11, 12, 13];
    d.propose(draftCtx(t), 4); // keys 10, 11, 12 cached
    t.push(10, 14); // touches 13 and 10 (10 becomes most recent); 11 is now the oldest
    d.propose(draftCtx(t), 4);
    expect(d.size).toBe(4);
    t.push(15); // caches 14: evicts 11
    d.propose(draftCtx(t), 4);
    expect(d.size).toBe(4);
    expect(conts(d, [11])).toEqual([]);
    expect(conts(d, [10]).length).toBe(2);
    for (let i = 0; i < 100; i++) t.push(100 + i);
    d.propose(draftCtx(t), 4);
    expect(d.size).toBe(4);
    expect(conts(d, [197])).toEqual([[[198], 1]]);
  });

  it('evicts the least counted continuation of a full key, oldest on ties', () => {
    const d = new NgramDrafter({ keyLen: 1, contLen: 1, perKey: 2 });
    const t = [5, 1, 5, 1, 5, 2, 5, 3, 0];
    d.propose(draftCtx(t), 4);
    // 5 -> 1 (x2), then 2, then 3 evicts 2 (count 1, older)
    expect(conts(d, [5])).toEqual([[[1], 2], [[3], 1]]);
  });

  it('restarts reading on a new sequence, persists across begin, forgets on reset', () => {
    const d = new NgramDrafter({ keyLen: 1, contLen: 1 });
    d.propose(draftCtx([1, 2, 3]), 4);
    d.propose(draftCtx([7, 8, 9, 4]), 4); // not an extension: read from the start
    expect(conts(d, [8])).toEqual([[[9], 1]]);
    d.begin(new Int32Array([1]));
    expect(Array.from(d.propose(draftCtx([1]), 4).tokens)).toEqual([2]);
    d.reset();
    expect(d.size).toBe(0);
    expect(d.propose(draftCtx([1]), 4).tokens.length).toBe(0);
  });

  it('can skip the prompt', () => {
    const d = new NgramDrafter({ keyLen: 1, contLen: 1, indexPrompt: false });
    d.begin(new Int32Array([1, 2, 1]));
    expect(d.propose(draftCtx([1, 2, 1]), 4).tokens.length).toBe(0);
    // (1) -> 2 and (2) -> 1 were in the prompt; (3) -> 4 was generated
    expect(d.propose(draftCtx([1, 2, 1, 3, 4, 1]), 4).tokens.length).toBe(0);
    expect(treePaths(d.propose(draftCtx([1, 2, 1, 3, 4, 1, 3]), 4))).toEqual(['4']);
  });

  it('matches a reference LRU cache (string keys, Map order) on random token streams', () => {
    type Ref = Map<string, { tokens: number[]; count: number; stamp: number }[]>;
    const opts = { keyLen: 2, contLen: 2, perKey: 2, maxKeys: 6 };
    /** The cache's specification, written plainly. */
    function reference(t: number[]): Ref {
      const ref: Ref = new Map();
      let clock = 0;
      for (let p = 0; p + opts.contLen < t.length; p++) {
        for (let order = 1; order <= opts.keyLen && order <= p + 1; order++) {
          const key = t.slice(p + 1 - order, p + 1).join(',');
          const cont = t.slice(p + 1, p + 1 + opts.contLen);
          clock++;
          let list = ref.get(key);
          if (list) ref.delete(key);
          else {
            list = [];
            if (ref.size >= opts.maxKeys) ref.delete(ref.keys().next().value as string);
          }
          ref.set(key, list);
          const same = list.find((c) => c.tokens.join(',') === cont.join(','));
          if (same) {
            same.count++;
            same.stamp = clock;
          } else if (list.length < opts.perKey) list.push({ tokens: cont, count: 1, stamp: clock });
          else {
            let w = 0;
            for (let i = 1; i < list.length; i++) {
              if (list[i].count < list[w].count || (list[i].count === list[w].count && list[i].stamp < list[w].stamp)) w = i;
            }
            list[w] = { tokens: cont, count: 1, stamp: clock };
          }
        }
      }
      return ref;
    }
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 60 }), (t) => {
        const d = new NgramDrafter(opts);
        // feed in growing prefixes, as decoding does
        for (let n = 0; n <= t.length; n += 3) d.propose(draftCtx(t.slice(0, n)), 0);
        d.propose(draftCtx(t), 0);
        const ref = reference(t);
        expect(d.size).toBe(ref.size);
        for (const [key, list] of ref) {
          const got = d.lookup(key.split(',').map(Number)).map((c) => [Array.from(c.tokens), c.count]);
          expect(got).toEqual(list.map((c) => [c.tokens, c.count]));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('handles empty contexts, budget 0 and bad options', () => {
    const d = new NgramDrafter();
    expect(d.propose(draftCtx([]), 4).tokens.length).toBe(0);
    expect(d.propose(draftCtx([1, 2, 1, 2, 1, 2, 1, 2, 1]), 0).tokens.length).toBe(0);
    expect(() => new NgramDrafter({ perKey: 0 })).toThrow(OptionsError);
  });
});
