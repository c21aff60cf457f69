/**
 * The last step's draft tree, left to right by depth, with the path the target accepted
 * marked and the target's own (bonus) token appended to it.
 */
import type { GenerateChunk } from '../src/engine/decode-loop';
import { el, svg } from './dom';

/** A draft tree as a step saw it: nodes in BFS order, parent -1 = the root. */
export interface TreeSnapshot {
  tokens: number[];
  parents: number[];
  /** Accepted node indices, root to leaf. */
  accepted: number[];
  /** The token the target produced after the accepted path. */
  bonus: number;
  /** Nodes of the tree that this snapshot does not list (rejected, not reported by the engine). */
  hidden: number;
}

/** A chunk that also reports its draft tree (an optional engine field; see snapshotOf). */
type ChunkWithTree = GenerateChunk & { tree?: { tokens: number[]; parents: number[]; acceptedNodes: number[] } };

/**
 * The tree of one step. When the chunk carries the tree, all of it; otherwise the accepted
 * path rebuilt from the chunk's tokens, with the rejected nodes counted but not drawn.
 */
export function snapshotOf(chunk: GenerateChunk): TreeSnapshot {
  const bonus = chunk.tokens[chunk.tokens.length - 1];
  const t = (chunk as ChunkWithTree).tree;
  if (t) return { tokens: t.tokens, parents: t.parents, accepted: t.acceptedNodes, bonus, hidden: 0 };
  const path = chunk.tokens.slice(0, chunk.accepted);
  return {
    tokens: path,
    parents: path.map((_, i) => i - 1),
    accepted: path.map((_, i) => i),
    bonus,
    hidden: chunk.treeSize - path.length,
  };
}

const COL = 78;
const ROW = 24;
const BOX_W = 66;
const BOX_H = 18;

/** Rows by depth-first order: a first child stays on its parent's row, later children open new rows. */
function layout(s: TreeSnapshot): { depth: number[]; row: number[]; rows: number } {
  const n = s.tokens.length;
  const children: number[][] = Array.from({ length: n + 1 }, () => []);
  for (let i = 0; i < n; i++) children[s.parents[i] + 1].push(i + 1); // index 0 = root
  const depth = new Array<number>(n + 1).fill(0);
  const row = new Array<number>(n + 1).fill(0);
  let next = 0;
  const visit = (v: number, r: number) => {
    row[v] = r;
    children[v].forEach((c, k) => {
      depth[c] = depth[v] + 1;
      visit(c, k === 0 ? r : ++next);
    });
  };
  visit(0, 0);
  return { depth, row, rows: next + 1 };
}

/** A token's label in a box: its vocabulary entry when known, else its id; cut to fit the box. */
function label(id: number, pieces: Map<number, string>): string {
  const p = pieces.get(id);
  if (p === undefined) return `#${id}`;
  const shown = JSON.stringify(p).slice(1, -1);
  return shown.length > 9 ? `${shown.slice(0, 8)}…` : shown;
}

export function renderTree(root: HTMLElement, s: TreeSnapshot, pieces = new Map<number, string>()): void {
  const { depth, row, rows } = layout(s);
  const onPath = new Set(s.accepted.map((i) => i + 1));
  const last = s.accepted.length ? s.accepted[s.accepted.length - 1] + 1 : 0;
  const maxDepth = Math.max(0, ...depth) + 1;
  const pic = svg('svg', { width: (maxDepth + 1) * COL + 10, height: rows * ROW + 10 });
  const pos = (v: number) => ({ x: 5 + depth[v] * COL, y: 5 + row[v] * ROW });
  const edge = (a: { x: number; y: number }, b: { x: number; y: number }, cls: string) =>
    pic.append(svg('path', { class: cls, d: `M${a.x + BOX_W},${a.y + BOX_H / 2} C${a.x + BOX_W + 8},${a.y + BOX_H / 2} ${b.x - 8},${b.y + BOX_H / 2} ${b.x},${b.y + BOX_H / 2}` }));
  const node = (p: { x: number; y: number }, cls: string, id: number | null) => {
    const g = svg('g', { class: `tree-node ${cls}` });
    g.append(svg('rect', { x: p.x, y: p.y, width: BOX_W, height: BOX_H, rx: 3 }), svg('text', { x: p.x + 4, y: p.y + 13 }, id === null ? 'root' : label(id, pieces)));
    if (id !== null) g.append(svg('title', {}, `token ${id}${pieces.has(id) ? ` ${JSON.stringify(pieces.get(id))}` : ''}`));
    pic.append(g);
  };
  for (let v = 1; v <= s.tokens.length; v++) edge(pos(s.parents[v - 1] + 1), pos(v), onPath.has(v) ? 'tree-edge accepted' : 'tree-edge');
  const bonusPos = { x: pos(last).x + COL, y: pos(last).y };
  edge(pos(last), bonusPos, 'tree-edge accepted');
  node(pos(0), 'root', null);
  for (let v = 1; v <= s.tokens.length; v++) node(pos(v), onPath.has(v) ? 'accepted' : '', s.tokens[v - 1]);
  node(bonusPos, 'bonus', s.bonus);

  const caption = `${s.accepted.length} of ${s.tokens.length + s.hidden} draft nodes accepted, then 1 token from the target (blue).` +
    (s.hidden > 0 ? ` The ${s.hidden} rejected nodes are not shown: this engine build does not report the whole tree.` : '');
  root.classList.remove('muted');
  root.dataset.accepted = String(s.accepted.length);
  root.replaceChildren(pic, el('p', { class: 'muted' }, caption));
}

/**
 * Keeps the tree view on the latest step while generation streams: labels come from the
 * worker (one round trip), so at most one render is in flight and steps that arrive
 * meanwhile collapse into the newest.
 */
export class TreeFollower {
  private latest: TreeSnapshot | null = null;
  private inFlight = false;

  constructor(
    private readonly root: HTMLElement,
    private readonly pieces: (ids: number[]) => Promise<string[]>,
  ) {}

  show(s: TreeSnapshot): void {
    this.latest = s;
    if (!this.inFlight) void this.drain();
  }

  private async drain(): Promise<void> {
    this.inFlight = true;
    try {
      while (this.latest) {
        const s = this.latest;
        this.latest = null;
        const ids = [...new Set([...s.tokens, s.bonus])];
        // Labels are a nicety: without them (worker gone) the tree still shows token ids.
        const names = await this.pieces(ids).catch(() => [] as string[]);
        renderTree(this.root, s, new Map(names.map((n, i) => [ids[i], n])));
      }
    } finally {
      this.inFlight = false;
    }
  }
}
