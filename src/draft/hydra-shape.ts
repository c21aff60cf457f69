/**
 * The shape of a Hydra tree (children per node per depth), chosen from measured acceptance as
 * Medusa (Cai et al. 2024, section 3.1.2) and Hydra do: with a[d][r] the probability that the
 * rank-r candidate of a head is the target's token at depth d given that the path to its parent
 * was accepted, a node's chance of being on the accepted path is the product of a along its
 * path, and the expected accepted length of a tree is the sum of those products. Growing the
 * tree one node at a time by the best such product gives the best tree of each size under that
 * model. a starts from the heads' held-out agreement (training) and follows the verify steps.
 */
import { TreeError } from '../tree/validate.ts';

/** A tree shape: nodes in BFS order, each with its parent, depth and rank among its siblings. */
export interface TreeShape {
  /** (m) parent node index; -1 = the root. */
  parents: Int32Array;
  /** (m) depth, 1 = a child of the root. */
  depth: Int32Array;
  /** (m) rank among the parent's children = which of the head's best candidates it is. */
  rank: Int32Array;
  /**
   * frontier[d-1] (d = 1..levels): the nodes at depth d-1 that have children, in BFS order
   * (-1 = the root); level d runs head d over them and drafts their children.
   */
  frontier: Int32Array[];
  /** Most children of one node: the width of each level's top-k. */
  k: number;
  /** 1 + the expected accepted length under the acceptance model the shape was built from. */
  expectedTau: number;
}

export interface ShapeLimits {
  /** Nodes below the root. */
  budget: number;
  /** Depth = the number of heads. */
  depth: number;
  /** Children per node (the top-k width). */
  k: number;
  /** Frontier nodes per level. */
  frontier: number;
}

/** The best shape of at most limits.budget nodes for acceptance a[d-1][r] (depth d, rank r). */
export function buildShape(a: Float64Array[], limits: ShapeLimits): TreeShape {
  const { budget, depth, k, frontier } = limits;
  if (a.length < depth || a.some((row) => row.length < k)) throw new TreeError(`buildShape: acceptance table is ${a.length} x ${a[0]?.length}, expected ${depth} x ${k}`);
  // nodes: prob of being on the accepted path; candidates: the next child of each node.
  const nodes: { parent: number; depth: number; rank: number; p: number; kids: number }[] = [];
  const root = { p: 1, kids: 0, depth: 0 };
  const atDepth = new Int32Array(depth + 1); // nodes with children per depth (frontier sizes)
  const nodeAt = (i: number) => (i < 0 ? root : nodes[i]);
  while (nodes.length < budget) {
    let best = -1;
    let bestP = 0;
    for (let i = -1; i < nodes.length; i++) {
      const n = nodeAt(i);
      if (n.depth >= depth || n.kids >= k) continue;
      if (n.kids === 0 && atDepth[n.depth] >= frontier) continue;
      const p = n.p * a[n.depth][n.kids];
      if (p > bestP) { bestP = p; best = i; }
    }
    if (best < -1 || bestP <= 0) break;
    const parent = nodeAt(best);
    if (parent.kids === 0) atDepth[parent.depth]++;
    nodes.push({ parent: best, depth: parent.depth + 1, rank: parent.kids, p: bestP, kids: 0 });
    parent.kids++;
  }
  return orderShape(nodes, k);
}

/** BFS order (by depth, then parent order, then rank) and the per-level frontiers. */
function orderShape(nodes: { parent: number; depth: number; rank: number; p: number; kids: number }[], k: number): TreeShape {
  const order: number[] = [];
  const newIndex = new Map<number, number>([[-1, -1]]);
  let level = [-1];
  const frontier: Int32Array[] = [];
  while (level.length) {
    const next: number[] = [];
    const withKids: number[] = [];
    for (const p of level) {
      const kids = nodes.map((n, i) => i).filter((i) => nodes[i].parent === p).sort((x, y) => nodes[x].rank - nodes[y].rank);
      if (kids.length) withKids.push(newIndex.get(p)!);
      for (const c of kids) {
        newIndex.set(c, order.length);
        order.push(c);
        next.push(c);
      }
    }
    if (withKids.length) frontier.push(Int32Array.from(withKids));
    level = next;
  }
  const m = order.length;
  const shape: TreeShape = { parents: new Int32Array(m), depth: new Int32Array(m), rank: new Int32Array(m), frontier, k: 1, expectedTau: 1 };
  order.forEach((old, i) => {
    const n = nodes[old];
    shape.parents[i] = newIndex.get(n.parent)!;
    shape.depth[i] = n.depth;
    shape.rank[i] = n.rank;
    shape.k = Math.max(shape.k, n.rank + 1);
    shape.expectedTau += n.p;
  });
  shape.k = Math.min(shape.k, k);
  return shape;
}

/**
 * Acceptance per (depth, rank) from verify steps, with a prior worth `priorWeight` steps:
 * a[d][r] = (accepts + prior * w) / (visits + w).
 */
export class AcceptanceTable {
  private readonly accepts: Float64Array[];
  private readonly visits: Float64Array;

  constructor(private readonly prior: Float64Array[], private readonly priorWeight = 20) {
    this.accepts = prior.map((row) => new Float64Array(row.length));
    this.visits = new Float64Array(prior.length);
  }

  /**
   * One verify step of a tree of this shape: the walk reached depth `reached` (accepted nodes)
   * and, at each depth d <= reached, accepted the child of rank acceptedRanks[d-1]; when the
   * last accepted node (or the root) had children and none was accepted, that depth counts as
   * a visit without an accept.
   */
  record(acceptedRanks: number[], lastHadChildren: boolean): void {
    acceptedRanks.forEach((r, i) => {
      if (i >= this.visits.length) return;
      this.visits[i]++;
      if (r < this.accepts[i].length) this.accepts[i][r]++;
    });
    const next = acceptedRanks.length;
    if (lastHadChildren && next < this.visits.length) this.visits[next]++;
  }

  /** The current estimate a[d-1][r]. */
  estimate(): Float64Array[] {
    const w = this.priorWeight;
    return this.prior.map((row, d) => row.map((p, r) => (this.accepts[d][r] + p * w) / (this.visits[d] + w)));
  }

  /** Total visits recorded (steps that reached depth 1 with children). */
  get steps(): number {
    return this.visits[0];
  }
}

/**
 * The prior of a[d][r] from held-out agreement (top-1 and top-5 per head): rank 0 gets top-1,
 * ranks 1..4 share top-5 - top-1 in proportions 0.4, 0.27, 0.2, 0.13, and later ranks 1% each.
 * Without agreement numbers: 0.5 / 0.3 for the first head, decaying 10% per head.
 */
export function priorAcceptance(agreement: { top1: number; top5: number }[] | null, depth: number, k: number): Float64Array[] {
  const split = [0.4, 0.27, 0.2, 0.13];
  return Array.from({ length: depth }, (_, d) => {
    const g = agreement?.[d] ?? { top1: 0.5 * 0.9 ** d, top5: 0.8 * 0.9 ** d };
    return Float64Array.from({ length: k }, (_, r) => (r === 0 ? g.top1 : r <= 4 ? (g.top5 - g.top1) * split[r - 1] : 0.01));
  });
}
