/**
 * The storage of the online n-gram cache (ngram.ts): key (1..keyLen tokens) -> up to perKey
 * continuations of contLen tokens with counts, in typed arrays allocated once.
 *
 * Bounds and eviction: at most maxKeys keys; a new key beyond that evicts the least recently
 * used key (a doubly linked list over slots, most recent at the tail; a key is "used" when a
 * sighting is recorded for it). A new continuation of a full key replaces the least counted one,
 * the oldest among equals. Keys are found through a Map from a 52-bit hash of the key tokens to
 * the slot; the key tokens are stored and compared, so a hash collision never returns another
 * key's data (the colliding key takes the slot over).
 *
 * Memory: maxKeys * (36 + 4 * keyLen + perKey * (4 * contLen + 12)) bytes plus the Map (about
 * 40 bytes a key): 1.4 MB with keyLen 3, perKey 4, contLen 5, maxKeys 8192.
 */
export class NgramCache {
  /** key hash -> slot. */
  private readonly map = new Map<number, number>();
  /** (maxKeys) hash of the key in each slot (to unmap it on eviction). */
  private readonly slotHash: Float64Array;
  /** (maxKeys) key length of each slot. */
  private readonly order: Int32Array;
  /** (maxKeys, keyLen) key tokens. */
  private readonly keyTok: Int32Array;
  /** (maxKeys, perKey, contLen) continuation tokens. */
  readonly tok: Int32Array;
  /** (maxKeys, perKey) times each continuation was seen. */
  readonly count: Int32Array;
  /** (maxKeys, perKey) update clock at the last sighting (eviction ties go to the oldest). */
  private readonly stamp: Float64Array;
  /** (maxKeys) continuations in use per slot. */
  readonly used: Int32Array;
  /** (maxKeys) LRU list links; -1 ends. */
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private head = -1; // least recently used
  private tail = -1; // most recently used
  private slots = 0; // slots handed out so far
  private clock = 0;

  constructor(
    readonly keyLen: number,
    readonly contLen: number,
    readonly perKey: number,
    readonly maxKeys: number,
  ) {
    this.slotHash = new Float64Array(maxKeys);
    this.order = new Int32Array(maxKeys);
    this.keyTok = new Int32Array(maxKeys * keyLen);
    this.tok = new Int32Array(maxKeys * perKey * contLen);
    this.count = new Int32Array(maxKeys * perKey);
    this.stamp = new Float64Array(maxKeys * perKey);
    this.used = new Int32Array(maxKeys);
    this.prev = new Int32Array(maxKeys);
    this.next = new Int32Array(maxKeys);
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
    this.head = this.tail = -1;
    this.slots = 0;
    this.clock = 0;
  }

  /** Slot of key t[start..start+order), or -1. Does not touch recency. */
  find(t: ArrayLike<number>, start: number, order: number): number {
    const s = this.map.get(hashKey(t, start, order));
    return s !== undefined && this.sameKey(s, t, start, order) ? s : -1;
  }

  /** One sighting of t[from..from+contLen) after key t[start..start+order). */
  record(t: ArrayLike<number>, start: number, order: number, from: number): void {
    const h = hashKey(t, start, order);
    this.clock++;
    let s = this.map.get(h);
    if (s === undefined) {
      s = this.takeSlot();
      this.map.set(h, s);
      this.setKey(s, h, t, start, order);
    } else {
      this.unlink(s);
      if (!this.sameKey(s, t, start, order)) this.setKey(s, h, t, start, order);
    }
    this.append(s);
    const { contLen, perKey } = this;
    const base = s * perKey;
    const n = this.used[s];
    for (let c = 0; c < n; c++) {
      let same = true;
      const off = (base + c) * contLen;
      for (let i = 0; i < contLen && same; i++) same = this.tok[off + i] === t[from + i];
      if (same) {
        this.count[base + c]++;
        this.stamp[base + c] = this.clock;
        return;
      }
    }
    let c = n;
    if (n < perKey) this.used[s] = n + 1;
    else {
      c = 0;
      for (let j = 1; j < n; j++) {
        const a = this.count[base + j];
        const b = this.count[base + c];
        if (a < b || (a === b && this.stamp[base + j] < this.stamp[base + c])) c = j;
      }
    }
    for (let i = 0; i < contLen; i++) this.tok[(base + c) * contLen + i] = t[from + i];
    this.count[base + c] = 1;
    this.stamp[base + c] = this.clock;
  }

  /** A free slot while under maxKeys, else the least recently used one, unmapped. */
  private takeSlot(): number {
    if (this.slots < this.maxKeys) return this.slots++;
    const s = this.head;
    this.unlink(s);
    this.map.delete(this.slotHash[s]);
    return s;
  }

  private setKey(s: number, h: number, t: ArrayLike<number>, start: number, order: number): void {
    this.slotHash[s] = h;
    this.order[s] = order;
    for (let i = 0; i < order; i++) this.keyTok[s * this.keyLen + i] = t[start + i];
    this.used[s] = 0;
  }

  private sameKey(s: number, t: ArrayLike<number>, start: number, order: number): boolean {
    if (this.order[s] !== order) return false;
    for (let i = 0; i < order; i++) if (this.keyTok[s * this.keyLen + i] !== t[start + i]) return false;
    return true;
  }

  private unlink(s: number): void {
    const p = this.prev[s];
    const n = this.next[s];
    if (p === -1) this.head = n;
    else this.next[p] = n;
    if (n === -1) this.tail = p;
    else this.prev[n] = p;
  }

  private append(s: number): void {
    this.prev[s] = this.tail;
    this.next[s] = -1;
    if (this.tail === -1) this.head = s;
    else this.next[this.tail] = s;
    this.tail = s;
  }
}

/** 52-bit hash of (order, tokens): two independent 32-bit mixes, one cut to 20 bits. */
function hashKey(t: ArrayLike<number>, start: number, order: number): number {
  let a = Math.imul(order, 0x9e3779b1);
  let b = Math.imul(order + 0x51ed27, 0x85ebca77);
  for (let i = 0; i < order; i++) {
    const v = t[start + i];
    a = Math.imul(a ^ v, 0xcc9e2d51);
    a = (a << 15) | (a >>> 17);
    b = Math.imul(b ^ v, 0x1b873593);
    b = (b << 13) | (b >>> 19);
  }
  a = Math.imul(a ^ (a >>> 16), 0x85ebca6b);
  b = Math.imul(b ^ (b >>> 13), 0xc2b2ae35);
  return (a >>> 0) * 1048576 + ((b >>> 0) >>> 12);
}
