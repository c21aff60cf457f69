/**
 * Suffix array over a token sequence by induced sorting, SA-IS (Nong, Zhang & Chan 2009, "Linear
 * suffix array construction by almost pure induced-sorting"): O(n) for any input, so a few MB of
 * documents with long repeats (licences, boilerplate) index in well under a second, where prefix
 * doubling needed a round per doubling of the longest repeat.
 *
 * Suffixes are compared as sequences of integers where a suffix that ends is smaller than any
 * longer one: the text is mapped to ranks 1..K and a sentinel 0 appended, which is exactly that
 * order. Any integer values are allowed (document separators are negative).
 *
 * Memory during build: the ranked text and the suffix array of n + 1 (8 bytes per token), a type
 * byte per token, buckets of the alphabet, and the recursion on at most n / 2 names (another
 * 8 bytes per token at most): under 20 bytes per token at peak; the returned sa keeps 4.
 */
export function buildSuffixArray(text: Int32Array): Int32Array {
  const n = text.length;
  if (n === 0) return new Int32Array(0);
  const { ranked, alphabet } = rankText(text);
  return sais(ranked, alphabet).subarray(1); // sa[0] is the sentinel
}

/** text -> ranks 1..K (order kept) followed by the sentinel 0; alphabet = K + 1. */
function rankText(text: Int32Array): { ranked: Int32Array; alphabet: number } {
  const n = text.length;
  let lo = text[0];
  let hi = text[0];
  for (let i = 1; i < n; i++) {
    if (text[i] < lo) lo = text[i];
    else if (text[i] > hi) hi = text[i];
  }
  const ranked = new Int32Array(n + 1); // (n + 1) ranks, then the sentinel
  // Token ids span a vocabulary: shifting keeps them dense enough for buckets. Otherwise sort.
  if (hi - lo + 1 <= Math.max(n, 1 << 20)) {
    for (let i = 0; i < n; i++) ranked[i] = text[i] - lo + 1;
    return { ranked, alphabet: hi - lo + 2 };
  }
  const sorted = Int32Array.from(text).sort();
  for (let i = 0; i < n; i++) ranked[i] = lowerBound(sorted, text[i]) + 1;
  return { ranked, alphabet: n + 1 };
}

/** Start (end = false) or end (end = true) of each symbol's bucket in the suffix array. */
function buckets(s: Int32Array, k: number, end: boolean, out: Int32Array): Int32Array {
  out.fill(0);
  for (let i = 0; i < s.length; i++) out[s[i]]++;
  let sum = 0;
  for (let c = 0; c < k; c++) {
    sum += out[c];
    out[c] = end ? sum : sum - out[c];
  }
  return out;
}

/** From the LMS suffixes placed in sa: L-type suffixes left to right, then S-type right to left. */
function induce(s: Int32Array, sa: Int32Array, stype: Uint8Array, k: number, bkt: Int32Array): void {
  const n = s.length;
  buckets(s, k, false, bkt);
  for (let i = 0; i < n; i++) {
    const j = sa[i] - 1;
    if (j >= 0 && stype[j] === 0) sa[bkt[s[j]]++] = j;
  }
  buckets(s, k, true, bkt);
  for (let i = n - 1; i >= 0; i--) {
    const j = sa[i] - 1;
    if (j >= 0 && stype[j] === 1) sa[--bkt[s[j]]] = j;
  }
}

/**
 * SA-IS on s (values in [0, k), s[n-1] = 0 the unique smallest). Sorts the LMS substrings by
 * induction, names them, sorts the reduced string (recursively when names repeat), then
 * induces the full order from the sorted LMS suffixes.
 */
function sais(s: Int32Array, k: number): Int32Array {
  const n = s.length;
  const sa = new Int32Array(n); // (n) suffix starts in sorted order
  const stype = new Uint8Array(n); // (n) 1 = S-type (smaller than its successor), 0 = L-type
  stype[n - 1] = 1;
  for (let i = n - 2; i >= 0; i--) stype[i] = s[i] < s[i + 1] || (s[i] === s[i + 1] && stype[i + 1] === 1) ? 1 : 0;
  const lms = (i: number) => i > 0 && stype[i] === 1 && stype[i - 1] === 0;
  const bkt = new Int32Array(k); // (k) bucket pointers

  // 1. LMS positions at their buckets' ends, induce: LMS substrings end up sorted.
  sa.fill(-1);
  buckets(s, k, true, bkt);
  for (let i = 1; i < n; i++) if (lms(i)) sa[--bkt[s[i]]] = i;
  induce(s, sa, stype, k, bkt);

  // 2. Name the sorted LMS substrings (equal substrings share a name) into the reduced string.
  let n1 = 0;
  for (let i = 0; i < n; i++) if (lms(sa[i])) sa[n1++] = sa[i];
  sa.fill(-1, n1);
  let names = 0;
  let prev = -1;
  for (let i = 0; i < n1; i++) {
    const pos = sa[i];
    let diff = prev < 0;
    for (let d = 0; !diff; d++) {
      if (s[pos + d] !== s[prev + d] || stype[pos + d] !== stype[prev + d]) diff = true;
      else if (d > 0 && (lms(pos + d) || lms(prev + d))) break;
    }
    if (diff) {
      names++;
      prev = pos;
    }
    sa[n1 + (pos >> 1)] = names - 1; // LMS positions are >= 2 apart: pos / 2 is unique
  }
  const s1 = new Int32Array(n1); // (n1) names of the LMS substrings in text order
  for (let i = n1, j = 0; i < n; i++) if (sa[i] >= 0) s1[j++] = sa[i];

  // 3. Order of the LMS suffixes: by recursion while names repeat, else read off directly.
  let sa1: Int32Array;
  if (names < n1) sa1 = sais(s1, names);
  else {
    sa1 = new Int32Array(n1);
    for (let i = 0; i < n1; i++) sa1[s1[i]] = i;
  }
  for (let i = 1, j = 0; i < n; i++) if (lms(i)) s1[j++] = i; // s1 now: LMS positions in text order

  // 4. Sorted LMS suffixes at their buckets' ends, in reverse, then induce the full array.
  sa.fill(-1);
  buckets(s, k, true, bkt);
  for (let i = n1 - 1; i >= 0; i--) {
    const j = s1[sa1[i]];
    sa[--bkt[s[j]]] = j;
  }
  induce(s, sa, stype, k, bkt);
  return sa;
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
