/**
 * Suffix array over a token sequence by prefix doubling with radix sorting (Manber & Myers
 * 1993, "Suffix arrays: a new method for on-line string searches"): after round h the suffixes
 * are sorted by their first 2^h tokens; each round is two counting sorts, O(n); rounds stop as
 * soon as every rank is distinct, so natural text (few long repeats) needs few rounds and the
 * worst case (one token repeated) is O(n log n).
 *
 * Suffixes are compared as sequences of integers where a suffix that ends is smaller than any
 * longer one (no sentinel needed). Any integer values are allowed (document separators are
 * negative).
 *
 * Memory during build: sa, rank, next rank, second-key order, counts: 5 Int32Array of n (the
 * counts get max(n, token range) when token ids are small), 20 bytes per token at peak; the
 * returned sa keeps 4.
 */
export function buildSuffixArray(text: Int32Array): Int32Array {
  const n = text.length;
  const sa = new Int32Array(n); // (n) suffix start positions in sorted order
  if (n === 0) return sa;
  // Round 0: sort by the first token. Keys are token values shifted to start at 0 when their
  // range is small (a vocabulary: counting sort); otherwise dense ranks via a numeric sort.
  let lo = text[0];
  let hi = text[0];
  for (let i = 1; i < n; i++) {
    if (text[i] < lo) lo = text[i];
    else if (text[i] > hi) hi = text[i];
  }
  let rank = new Int32Array(n); // (n) class of each suffix's first 2^h tokens
  let range = hi - lo + 1;
  if (range <= Math.max(n, 1 << 20)) {
    for (let i = 0; i < n; i++) rank[i] = text[i] - lo;
  } else {
    const sorted = Int32Array.from(text).sort();
    for (let i = 0; i < n; i++) rank[i] = lowerBound(sorted, text[i]);
    range = n;
  }
  let tmp = new Int32Array(n); // (n) the next round's ranks
  const count = new Int32Array(Math.max(n, range) + 1); // (max(n, range) + 1) bucket starts
  const order = new Int32Array(n); // suffixes sorted by the second key
  countingSort(rank, identity(order, n), sa, count, range);
  let classes = distinct(sa, rank, null, 0, tmp);
  [rank, tmp] = [tmp, rank];
  for (let h = 1; classes < n && h < n; h <<= 1) {
    // Second key of suffix i is rank[i + h], or "ended" (smallest) when i + h >= n. Suffixes
    // with an ended second key come first, in position order (their first keys then decide);
    // the rest follow the current sa order shifted back by h.
    let p = 0;
    for (let i = n - h; i < n; i++) order[p++] = i;
    for (let j = 0; j < n; j++) if (sa[j] >= h) order[p++] = sa[j] - h;
    countingSort(rank, order, sa, count, classes);
    classes = distinct(sa, rank, rank, h, tmp);
    [rank, tmp] = [tmp, rank];
  }
  return sa;
}

/** sa[i] = 0..n-1. */
function identity(a: Int32Array, n: number): Int32Array {
  for (let i = 0; i < n; i++) a[i] = i;
  return a;
}

/** First index in sorted `a` whose value is >= v. */
function lowerBound(a: Int32Array, v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Stable counting sort of `order` by key[order[j]] (keys in [0, range)) into out. */
function countingSort(key: Int32Array, order: Int32Array, out: Int32Array, count: Int32Array, range: number): void {
  const n = order.length;
  count.fill(0, 0, range + 1);
  for (let j = 0; j < n; j++) count[key[order[j]] + 1]++;
  for (let r = 0; r < range; r++) count[r + 1] += count[r];
  for (let j = 0; j < n; j++) out[count[key[order[j]]]++] = order[j];
}

/**
 * New dense ranks into `out` from the sorted sa: a suffix starts a new class when its first key
 * (rank) or its second key (rank at +h, -1 when ended) differs from its predecessor's. With
 * second = null only the first key counts. Returns the number of classes.
 */
function distinct(sa: Int32Array, rank: Int32Array, second: Int32Array | null, h: number, out: Int32Array): number {
  const n = sa.length;
  let c = 0;
  out[sa[0]] = 0;
  for (let j = 1; j < n; j++) {
    const a = sa[j - 1];
    const b = sa[j];
    let diff = rank[a] !== rank[b];
    if (!diff && second !== null) {
      const sa2 = a + h < n ? second[a + h] : -1;
      const sb2 = b + h < n ? second[b + h] : -1;
      diff = sa2 !== sb2;
    }
    if (diff) c++;
    out[b] = c;
  }
  return c + 1;
}

/**
 * The half-open range [lo, hi) of sa whose suffixes start with pattern[start..end):
 * two binary searches, O((end - start) log n).
 */
export function findRange(
  text: Int32Array,
  sa: Int32Array,
  pattern: ArrayLike<number>,
  start = 0,
  end = pattern.length,
): [number, number] {
  const lo = searchBound(text, sa, pattern, start, end, false);
  const hi = searchBound(text, sa, pattern, start, end, true);
  return [lo, hi];
}

/**
 * First sa index whose suffix compares >= pattern (upper = false) or > pattern as a prefix
 * (upper = true: suffixes starting with the pattern count as equal and are passed over).
 */
function searchBound(text: Int32Array, sa: Int32Array, pat: ArrayLike<number>, s: number, e: number, upper: boolean): number {
  const n = text.length;
  let lo = 0;
  let hi = sa.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const p = sa[mid];
    // cmp < 0: suffix < pattern; 0: suffix starts with pattern; > 0: suffix > pattern
    let cmp = 0;
    for (let i = s; i < e; i++) {
      if (p + i - s >= n) {
        cmp = -1; // suffix ended first: it is smaller
        break;
      }
      const d = text[p + i - s] - pat[i];
      if (d !== 0) {
        cmp = d;
        break;
      }
    }
    if (cmp < 0 || (upper && cmp === 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
