import type { DraftTree } from '../../src/tree/types';
import type { DraftContext } from '../../src/draft/drafter';
import { MAX_TREE_ROWS, validateTree } from '../../src/tree/validate';
import { Rng } from '../../src/verify/rng';

/** A greedy DraftContext over `tokens` (the model-free drafters read only tokens). */
export function draftCtx(tokens: ArrayLike<number>): DraftContext {
  return { tokens: Int32Array.from(tokens), sampling: false, rng: new Rng(1), options: {} } as DraftContext;
}

/**
 * Checker of the DraftTree contract (src/tree/types.ts) for the model-free drafter
 * tests: returns the list of violations (empty = valid), so a test shows all of them at once.
 * - tokens and parents have the same length m <= budget;
 * - parents[i] is -1 or an index < i (a parent precedes its children);
 * - depth never decreases in node order (BFS);
 * - no two children of one parent (root included) hold the same token;
 * - tokens are integers in [0, vocab) when vocab is given;
 * - a model-free drafter's draft is deterministic.
 */
export function treeViolations(tree: DraftTree, budget: number, vocab?: number): string[] {
  const bad: string[] = [];
  const m = tree.tokens.length;
  if (tree.parents.length !== m) bad.push(`parents length ${tree.parents.length} != tokens length ${m}`);
  if (m > Math.max(0, budget)) bad.push(`m = ${m} over budget ${budget}`);
  if (tree.draft.kind !== 'deterministic') bad.push(`draft kind ${tree.draft.kind}`);
  const depth = new Int32Array(m);
  const seen = new Set<string>();
  for (let i = 0; i < m; i++) {
    const p = tree.parents[i];
    if (!(p === -1 || (p >= 0 && p < i))) {
      bad.push(`node ${i}: parent ${p} does not precede it`);
      continue;
    }
    depth[i] = p === -1 ? 1 : depth[p] + 1;
    if (i > 0 && depth[i] < depth[i - 1]) bad.push(`node ${i}: depth ${depth[i]} < previous ${depth[i - 1]}`);
    const t = tree.tokens[i];
    if (!Number.isInteger(t) || t < 0 || (vocab !== undefined && t >= vocab)) bad.push(`node ${i}: token ${t} out of range`);
    const key = `${p}:${t}`;
    if (seen.has(key)) bad.push(`node ${i}: duplicate sibling token ${t} under ${p}`);
    seen.add(key);
  }
  // Second oracle: the engine's own validator must accept it too (when it fits the mask).
  if (bad.length === 0 && m < MAX_TREE_ROWS) {
    try {
      validateTree(tree, vocab ?? 0x7fffffff);
    } catch (e) {
      bad.push(`validateTree: ${(e as Error).message}`);
    }
  }
  return bad;
}

/** The root-to-node token path of every node, as strings "a,b,c" (for set comparisons). */
export function treePaths(tree: DraftTree): string[] {
  const paths: string[] = [];
  for (let i = 0; i < tree.tokens.length; i++) {
    const p = tree.parents[i];
    paths.push(p === -1 ? `${tree.tokens[i]}` : `${paths[p]},${tree.tokens[i]}`);
  }
  return paths;
}
