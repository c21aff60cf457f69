import { describe, expect, it } from 'vitest';
import { OptionsError } from '../../src/errors.ts';
import { checkTiling, fastest, splitTilings } from '../../src/ops/matmul-tuning.ts';

// WebGPU's default limits: every adapter has at least these.
const LIMITS = { maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256 };

describe('matmul tiling candidates and checks', () => {
  it('offers the split tilings whose partial sums fit the workgroup memory and threads, default first', () => {
    const all = splitTilings(LIMITS);
    const shapes = [[64, [1, 4, 16]], [128, [1, 4, 8]], [256, [1, 2, 4]]];
    // each shape with a word per thread step (split), then with a run of words (split-wide)
    expect(all.map((t) => [t.workgroupSize, t.rowTiles])).toEqual([...shapes, ...shapes]);
    expect(all.map((t) => t.variant)).toEqual(['split', 'split', 'split', 'split-wide', 'split-wide', 'split-wide']);
    for (const t of all) {
      expect(t.workgroupSize * t.rowTiles[t.rowTiles.length - 1] * 16).toBeLessThanOrEqual(LIMITS.maxComputeWorkgroupStorageSize);
      expect(() => checkTiling(t, LIMITS)).not.toThrow();
    }
    expect(splitTilings({ ...LIMITS, maxComputeInvocationsPerWorkgroup: 128 }).map((t) => `${t.variant} ${t.workgroupSize}`)).toEqual(['split 64', 'split 128', 'split-wide 64', 'split-wide 128']);
  });

  it('picks the lowest total, ties to the earlier candidate', () => {
    expect(fastest([3, 1, 2])).toBe(1);
    expect(fastest([2, 2, 5])).toBe(0);
    expect(fastest([4, 1, 1])).toBe(1);
    expect(fastest([7])).toBe(0);
  });

  it('rejects a tiling the kernels or the device cannot run, naming the field', () => {
    const bad: [unknown, RegExp][] = [
      [{ variant: 'tiled', workgroupSize: 64, rowTiles: [1] }, /matmulTiling\.variant/],
      [{ variant: 'split', workgroupSize: 64, rowTiles: [4, 1] }, /matmulTiling\.rowTiles/],
      [{ variant: 'split', workgroupSize: 64, rowTiles: [1, 32] }, /matmulTiling\.rowTiles/],
      [{ variant: 'split', workgroupSize: 96, rowTiles: [1, 4] }, /matmulTiling\.workgroupSize .*power of two/],
      [{ variant: 'split', workgroupSize: 32, rowTiles: [1, 16] }, /matmulTiling\.workgroupSize/],
      [{ variant: 'split', workgroupSize: 256, rowTiles: [1, 8] }, /workgroup memory/],
      [{ variant: 'split-wide', workgroupSize: 128, rowTiles: [1, 16] }, /workgroup memory/],
      [{ variant: 'split-wide', workgroupSize: 64, rowTiles: [1, 32] }, /matmulTiling\.rowTiles/],
      [{ variant: 'split', workgroupSize: 512, rowTiles: [1] }, /device's limit/],
      [{ variant: 'dot', workgroupSize: 64, rowTiles: [1, 2] }, /tiles of 1 and 4 rows only/],
      [{ variant: 'dot', workgroupSize: 0, rowTiles: [1] }, /matmulTiling\.workgroupSize/],
    ];
    for (const [t, message] of bad) {
      expect(() => checkTiling(t as Parameters<typeof checkTiling>[0], LIMITS), JSON.stringify(t)).toThrow(OptionsError);
      expect(() => checkTiling(t as Parameters<typeof checkTiling>[0], LIMITS), JSON.stringify(t)).toThrow(message);
    }
    expect(() => checkTiling({ variant: 'dot', workgroupSize: 48, rowTiles: [1, 4] }, LIMITS)).not.toThrow();
  });
});
