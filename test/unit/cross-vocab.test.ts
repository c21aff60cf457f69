/** Pieces of the cross-vocabulary drafter (src/draft/cross-vocab.ts) that need no GPU. */
import { describe, expect, it } from 'vitest';
import { chainText, treePaths } from '../../src/draft/cross-vocab';
import { chunkCut } from '../../src/draft/retokenize';

describe('cross-vocab helpers', () => {
  it('chainText keeps whole words before a split character and the last word', () => {
    expect(chainText(' a little gi')).toBe(' a little');
    expect(chainText(' a caf\uFFFD and more')).toBe(' a');
    expect(chainText(' x\n')).toBe(' x');
    expect(chainText('gi')).toBe('');
  });

  it('chunkCut finds the last single space between non-spaces', () => {
    expect(chunkCut('a big dog')).toBe(5);
    expect(chunkCut('a  b')).toBe(0);
    expect(chunkCut('word')).toBe(0);
    expect(chunkCut('x = 1\n    y')).toBe(3);
  });

  it('treePaths lists root-to-leaf paths of a BFS tree', () => {
    // root -> 10 -> (11 -> 13), 12 ; root -> 20
    const tree = { tokens: Int32Array.from([10, 20, 11, 12, 13]), parents: Int32Array.from([-1, -1, 0, 0, 2]), draft: { kind: 'deterministic' as const } };
    expect(treePaths(tree).map((p) => Array.from(p))).toEqual([[20], [10, 12], [10, 11, 13]]);
    expect(treePaths({ tokens: new Int32Array(0), parents: new Int32Array(0), draft: { kind: 'deterministic' } })).toEqual([]);
  });
});
