import type { DraftContext, Drafter, VerifyObservation } from './drafter';
import type { DraftTree } from '../tree/types';
import { TokenTrie } from '../tree/trie';
import { OptionsError, TreespecError } from '../errors';
import { buildTemplate, checkTemplate, geometricRankPrior, type TreeTemplate } from './recycling-template';

/** A saved adjacency matrix is malformed or does not fit the options. */
export class RecyclingStateError extends TreespecError {
  override name = 'RecyclingStateError';
}

export interface RecyclingOptions {
  /** Target vocabulary size (required): rows of the matrix. */
  vocabSize: number;
  /** Successors kept per token (default 8, the paper's k). */
  k?: number;
  /** (m, 2) (parent, childRank) pairs in BFS order (default buildTemplate({ k }): 80 nodes). */
  template?: TreeTemplate;
}

/** File layout of save(): 4 little-endian u32 then the matrix as little-endian i32. */
const MAGIC = 0x31524354; // "TCR1"
const HEADER_BYTES = 16;

/**
 * Token Recycling (Luo et al. 2024, *Turning Trash into Treasure*): the target's top-k
 * predictions at every verify row are "recycled" as the likely successors of that row's token.
 *
 * State: M, (vocabSize, k) Int32Array; M[t][r] = the target's rank-r next token the last time t
 * was a verify row's token, -1 if never seen. Memory 4 * vocabSize * k bytes (1 MB at 32k vocab,
 * k = 8), fixed at construction. It persists across generations (begin() keeps it; reset()
 * clears it) and save()/load() carry it between sessions.
 *
 * Propose: instantiate the static BFS template from the root through M (node i's token =
 * M[token(parent)][childRank]); a node whose parent's row is unknown is dropped with its
 * subtree; duplicates merge in the trie. A budget below the template's size keeps the nodes of
 * highest path prior (geometricRankPrior(k), also for a caller's template), never an orphan.
 *
 * Known limit (measured in drafters-lossless.test.ts): M is keyed by one token, and rows off the
 * committed path overwrite it with top-k predicted after other predecessors, so a target whose
 * next token depends on more than the last token gets little from it; the paper's premise is
 * that the successors of a token are stable enough in real LMs.
 */
export class RecyclingDrafter implements Drafter {
  readonly name = 'recycling';
  readonly vocabSize: number;
  readonly k: number;
  readonly template: TreeTemplate;
  /** (vocabSize, k) successor matrix. */
  private readonly M: Int32Array;
  /** (m) template score of node i: product of the rank prior along its path. */
  private readonly tmplScore: Float64Array;
  /** (m) trie node instantiated for template node i, -1 if dropped. */
  private readonly tmplNode: Int32Array;
  private readonly trie: TokenTrie;
  /** Token of verify row 0 for the next observe: the root of the last proposal. */
  private root = -1;

  constructor(options: RecyclingOptions) {
    const { vocabSize } = options;
    const k = options.k ?? 8;
    if (!Number.isInteger(vocabSize) || vocabSize < 1) throw new OptionsError(`recycling vocabSize must be an integer >= 1, got ${vocabSize}`);
    if (!Number.isInteger(k) || k < 1) throw new OptionsError(`recycling k must be an integer >= 1, got ${k}`);
    this.vocabSize = vocabSize;
    this.k = k;
    this.template = options.template ?? buildTemplate({ k });
    checkTemplate(this.template, k);
    const m = this.template.length / 2;
    const prior = geometricRankPrior(k);
    this.tmplScore = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      const p = this.template[2 * i];
      this.tmplScore[i] = (p === -1 ? 1 : this.tmplScore[p]) * prior[this.template[2 * i + 1]];
    }
    this.tmplNode = new Int32Array(m);
    this.trie = new TokenTrie(m + 1);
    this.M = new Int32Array(vocabSize * k).fill(-1);
  }

  begin(prompt: Int32Array): void {
    this.root = prompt.length > 0 ? prompt[prompt.length - 1] : -1;
  }

  propose(ctx: DraftContext, budget: number): DraftTree {
    const n = ctx.tokens.length;
    this.root = n > 0 ? ctx.tokens[n - 1] : -1;
    this.trie.clear();
    if (budget >= 1 && this.known(this.root)) this.expand();
    return this.trie.toDraftTree(budget);
  }

  private known(t: number): boolean {
    return Number.isInteger(t) && t >= 0 && t < this.vocabSize;
  }

  /** Instantiates the template from this.root into the trie. */
  private expand(): void {
    const { template: t, k, M, trie } = this;
    const m = t.length / 2;
    for (let i = 0; i < m; i++) {
      const p = t[2 * i];
      const pNode = p === -1 ? 0 : this.tmplNode[p];
      this.tmplNode[i] = -1;
      if (pNode === -1) continue;
      const pTok = pNode === 0 ? this.root : trie.token(pNode);
      const tok = M[pTok * k + t[2 * i + 1]];
      if (!this.known(tok)) continue;
      const c = trie.child(pNode, tok);
      trie.maxScore(c, this.tmplScore[i]);
      this.tmplNode[i] = c;
    }
  }

  /**
   * Refreshes M from every verify row (the paper updates with all candidates, not only the
   * accepted ones): row 0's token is the root, row i+1's is node i's. The accepted path's rows
   * are written again last, so when a token occurs on several rows the row whose context was
   * actually committed wins.
   */
  /** The matrix is refreshed from every verify row, accepted or not (the paper's update). */
  readonly observesAllRows = true;
  /** Its rows are the target's whole top-k, not only the argmax. */
  readonly needsTopK = true;

  observe(obs: VerifyObservation): void {
    const { tree, topK, k: kObs, acceptedNodes, committed } = obs;
    if (kObs >= 1) {
      const rows = Math.min(tree.tokens.length + 1, Math.floor(topK.length / kObs));
      for (let r = 0; r < rows; r++) this.writeRow(r === 0 ? this.root : tree.tokens[r - 1], topK, r * kObs, kObs);
      if (rows > 0) this.writeRow(this.root, topK, 0, kObs);
      for (let j = 0; j < acceptedNodes.length; j++) {
        const node = acceptedNodes[j];
        if (node + 1 < rows) this.writeRow(tree.tokens[node], topK, (node + 1) * kObs, kObs);
      }
    }
    if (committed.length > 0) this.root = committed[committed.length - 1];
  }

  /** M[token] = topK[off .. off + min(k, kObs)), padded with -1. */
  private writeRow(token: number, topK: Int32Array, off: number, kObs: number): void {
    if (!this.known(token)) return;
    const base = token * this.k;
    const w = Math.min(this.k, kObs);
    for (let r = 0; r < w; r++) this.M[base + r] = topK[off + r];
    for (let r = w; r < this.k; r++) this.M[base + r] = -1;
  }

  /** The successors recorded for `token` ((k) copy; -1 = none). */
  successors(token: number): Int32Array {
    if (!this.known(token)) return new Int32Array(this.k).fill(-1);
    return this.M.slice(token * this.k, (token + 1) * this.k);
  }

  reset(): void {
    this.M.fill(-1);
    this.root = -1;
  }

  /** The matrix as bytes: 16-byte header (magic, version 1, vocabSize, k) + 4 * vocabSize * k. */
  save(): Uint8Array {
    const bytes = new Uint8Array(HEADER_BYTES + 4 * this.M.length);
    const dv = new DataView(bytes.buffer);
    dv.setUint32(0, MAGIC, true);
    dv.setUint32(4, 1, true);
    dv.setUint32(8, this.vocabSize, true);
    dv.setUint32(12, this.k, true);
    for (let i = 0; i < this.M.length; i++) dv.setInt32(HEADER_BYTES + 4 * i, this.M[i], true);
    return bytes;
  }

  /** A drafter holding a saved matrix; vocabSize and k come from the bytes. */
  static load(bytes: Uint8Array, options: { template?: TreeTemplate } = {}): RecyclingDrafter {
    if (bytes.length < HEADER_BYTES) throw new RecyclingStateError(`recycling state: ${bytes.length} bytes, shorter than the header`);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (dv.getUint32(0, true) !== MAGIC) throw new RecyclingStateError('recycling state: bad magic (not a saved Token Recycling matrix)');
    const version = dv.getUint32(4, true);
    if (version !== 1) throw new RecyclingStateError(`recycling state: version ${version}, expected 1`);
    const vocabSize = dv.getUint32(8, true);
    const k = dv.getUint32(12, true);
    const want = HEADER_BYTES + 4 * vocabSize * k;
    if (vocabSize < 1 || k < 1 || bytes.length !== want) {
      throw new RecyclingStateError(`recycling state: ${bytes.length} bytes for vocabSize ${vocabSize}, k ${k}; expected ${want}`);
    }
    const d = new RecyclingDrafter({ vocabSize, k, ...options });
    for (let i = 0; i < d.M.length; i++) {
      const v = dv.getInt32(HEADER_BYTES + 4 * i, true);
      if (v < -1 || v >= vocabSize) throw new RecyclingStateError(`recycling state: entry ${i} = ${v} outside [-1, ${vocabSize})`);
      d.M[i] = v;
    }
    return d;
  }
}
