/**
 * Encoding long documents. Tokenizers without a pre-tokenizer (SentencePiece-style BPE, as in
 * Llama 2) run BPE over the whole text as one word, which costs about 100 us per token in
 * @huggingface/tokenizers (and a long heap merge in ours, bpe.ts): minutes for a few MB of
 * retrieval documents. Text is therefore encoded
 * word by word, cut at single spaces between words (each distinct word encoded once), where no
 * token crosses for the tokenizer's convention: either the space starts the next piece (byte-level BPE: "Ġword") or it is dropped
 * and re-created by the normalizer's prepended "▁". Which convention holds is checked once per
 * tokenizer against whole-text encoding; when neither does, the text is encoded whole.
 */

/** What long-text encoding needs of a tokenizer. */
export interface Encoder {
  encode(text: string, opts: { addSpecialTokens?: boolean }): Int32Array;
}

/** Texts up to this length are encoded whole. */
const PIECE = 2048;
const SAMPLE = 'Once upon a time, there was a little dog named Max. He liked to run and play in the park with his friends.';

type Convention = 'space-starts-next' | 'space-dropped' | 'whole';
const conventions = new WeakMap<Encoder, Convention>();

function equal(a: Int32Array, b: Int32Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function concat(parts: Int32Array[]): Int32Array {
  const out = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** How pieces join for this tokenizer: tried on sample cuts at every space of SAMPLE. */
function conventionOf(tok: Encoder): Convention {
  let c = conventions.get(tok);
  if (c) return c;
  const enc = (s: string) => tok.encode(s, { addSpecialTokens: false });
  const whole = enc(SAMPLE);
  const cuts = [...SAMPLE.matchAll(/ /g)].map((m) => m.index!);
  const holds = (join: (cut: number) => [string, string]) => cuts.every((i) => equal(concat(join(i).map(enc)), whole));
  c = holds((i) => [SAMPLE.slice(0, i), SAMPLE.slice(i)]) ? 'space-starts-next' : holds((i) => [SAMPLE.slice(0, i), SAMPLE.slice(i + 1)]) ? 'space-dropped' : 'whole';
  conventions.set(tok, c);
  return c;
}

/** A clean cut: a single space after a non-space and before a letter (found by the regex engine, not a loop per character). */
const CLEAN = /(?<=\S) (?=[A-Za-z])/g;

/** Pieces up to this length are remembered: natural text repeats its words, so most are encoded once. */
const CACHED = 64;

/**
 * Token ids of `text` without special tokens, equal to tok.encode(text) for the conventions
 * checked above: the text is cut at every clean space into word-sized pieces, each encoded once
 * and then looked up. `onPiece(done, total)` reports characters encoded so far.
 */
export function encodeLongText(tok: Encoder, text: string, onPiece?: (done: number, total: number) => void): Int32Array {
  const convention = text.length > PIECE ? conventionOf(tok) : 'whole';
  if (convention === 'whole') {
    const ids = tok.encode(text, { addSpecialTokens: false });
    onPiece?.(text.length, text.length);
    return ids;
  }
  const cache = new Map<string, Int32Array>();
  let out = new Int32Array(Math.max(1024, text.length >> 1)); // grown by doubling
  let n = 0;
  let reported = 0;
  let start = 0;
  const clean = new RegExp(CLEAN);
  while (start < text.length) {
    clean.lastIndex = start + 1;
    const stop = clean.exec(text)?.index ?? text.length;
    const piece = text.slice(start, stop);
    let ids = piece.length <= CACHED ? cache.get(piece) : undefined;
    if (!ids) {
      ids = tok.encode(piece, { addSpecialTokens: false });
      if (piece.length <= CACHED) cache.set(piece, ids);
    }
    if (n + ids.length > out.length) {
      const grown = new Int32Array(Math.max(out.length * 2, n + ids.length));
      grown.set(out.subarray(0, n));
      out = grown;
    }
    out.set(ids, n);
    n += ids.length;
    // The space of a cut starts the next piece, or is dropped and comes back as the normalizer's "▁".
    start = convention === 'space-dropped' && stop < text.length ? stop + 1 : stop;
    if (onPiece && start - reported >= 1 << 16) onPiece((reported = start), text.length);
  }
  onPiece?.(text.length, text.length);
  return out.slice(0, n);
}
