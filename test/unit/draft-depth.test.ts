/**
 * DraftDepth (src/draft/draft-depth.ts): the levels a draft grown on the GPU runs per step,
 * from the acceptance of earlier steps (assisted generation's "heuristic" schedule).
 */
import { describe, expect, it } from 'vitest';
import { DraftDepth } from '../../src/draft/draft-depth';

describe('DraftDepth', () => {
  it('starts at maxDepth, sheds a level per step whose path stops short, climbs 2 after a path accepted to the end, within 1..maxDepth', () => {
    const d = new DraftDepth(6);
    const seen = [d.levels];
    // accepted lengths of consecutive steps
    for (const accepted of [2, 0, 1, 3, 3, 0, 0, 0, 0, 1, 3, 6]) {
      d.observe(d.levels, Math.min(accepted, d.levels));
      seen.push(d.levels);
    }
    expect(seen).toEqual([6, 5, 4, 3, 5, 4, 3, 2, 1, 1, 3, 5, 6]);
    // a step capped below the chosen depth (its budget): a full path leaves the depth, a short one sheds a level
    d.observe(2, 2);
    expect(d.levels).toBe(6);
    d.levels = 3;
    d.observe(2, 2);
    expect(d.levels).toBe(4);
    d.observe(2, 1);
    expect(d.levels).toBe(3);
    d.reset();
    expect(d.levels).toBe(6);
  });
});
