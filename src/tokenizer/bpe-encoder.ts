/**
 * Our encode path for the BPE tokenizer.json flavours the shipped models and fixtures use:
 * SentencePiece-style BPE (Llama 2: normalizer Prepend "▁" + Replace " " -> "▁", no
 * pre-tokenizer, byte_fallback) and GPT-2 byte-level BPE (ByteLevel pre-tokenizer). It repeats
 * @huggingface/tokenizers 0.2.0's `Tokenizer.encode` step by step (added-token split with
 * lstrip/rstrip, normalizer, pre-tokenizer, BPE, fuse_unk, post-processor) and gives the same
 * ids (test/unit/bpe-encoder.test.ts compares them on real and random text); words are cached,
 * since prose repeats them. Whether a tokenizer.json is one of these flavours is decided by
 * reading it (`bpeEncoderFor`); anything else stays on the library.
 */
import { BpeModel, MAX_WORD } from './bpe.ts';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The library's Replace normalizer pattern for {String}: the escaped string as a global unicode RegExp. */
const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A normalizer we repeat exactly (Prepend, Replace of a String, Sequence of them); a string says why not. */
function normalizerOf(cfg: unknown): ((s: string) => string) | null | string {
  if (cfg === null) return null;
  if (!isObject(cfg)) return 'normalizer is not an object';
  if (cfg.type === 'Prepend' && typeof cfg.prepend === 'string') {
    const prepend = cfg.prepend;
    return (s) => prepend + s;
  }
  if (cfg.type === 'Replace' && isObject(cfg.pattern) && typeof cfg.pattern.String === 'string' && cfg.pattern.Regex === undefined) {
    const pattern = new RegExp(escapeRegExp(cfg.pattern.String), 'gu');
    const content = String(cfg.content ?? ''); // as the library passes it to replaceAll
    return (s) => s.replaceAll(pattern, content);
  }
  if (cfg.type === 'Sequence' && Array.isArray(cfg.normalizers)) {
    const parts = cfg.normalizers.map(normalizerOf);
    const why = parts.find((p) => typeof p === 'string');
    if (why !== undefined) return why;
    const fs = parts.filter((p) => p !== null) as ((s: string) => string)[];
    return (s) => fs.reduce((t, f) => f(t), s);
  }
  return `normalizer ${JSON.stringify(cfg.type)} is not one we repeat`;
}

/** GPT-2's split, as the library's ByteLevel pre-tokenizer applies it with use_regex. */
const BYTE_LEVEL_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2's bytes_to_unicode: the character standing for each byte in byte-level vocabularies. */
export function byteChars(): string[] {
  const keep = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const map: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) map[b] = String.fromCharCode(keep(b) ? b : 256 + n++);
  return map;
}

interface PreTokenizer {
  byteLevel: boolean;
  addPrefixSpace: boolean;
  useRegex: boolean;
}

function preTokenizerOf(cfg: unknown): PreTokenizer | string {
  if (cfg === null) return { byteLevel: false, addPrefixSpace: false, useRegex: false };
  // Flags as the library reads them: `?? default`, then truthiness.
  if (isObject(cfg) && cfg.type === 'ByteLevel') return { byteLevel: true, addPrefixSpace: Boolean(cfg.add_prefix_space), useRegex: Boolean(cfg.use_regex ?? true) };
  return `pre_tokenizer ${JSON.stringify(isObject(cfg) ? cfg.type : cfg)} is not one we repeat`;
}

/** Ids the post-processor puts before and after the text (TemplateProcessing's single template), or none. */
function postProcessorOf(cfg: unknown, idOf: (t: string) => number | undefined): { before: number[]; after: number[] } | string {
  if (cfg === null || (isObject(cfg) && cfg.type === 'ByteLevel')) return { before: [], after: [] };
  if (!isObject(cfg) || cfg.type !== 'TemplateProcessing' || !Array.isArray(cfg.single)) return `post_processor ${JSON.stringify(isObject(cfg) ? cfg.type : cfg)} is not one we repeat`;
  const out = { before: [] as number[], after: [] as number[] };
  let seen = false;
  for (const item of cfg.single as unknown[]) {
    if (isObject(item) && isObject(item.Sequence) && item.Sequence.id === 'A' && !seen) seen = true;
    else if (isObject(item) && isObject(item.SpecialToken) && typeof item.SpecialToken.id === 'string' && idOf(item.SpecialToken.id) !== undefined) {
      (seen ? out.after : out.before).push(idOf(item.SpecialToken.id)!);
    } else return `post_processor template item ${JSON.stringify(item)} is not one we repeat`;
  }
  return seen ? out : 'post_processor template without the sequence';
}

/** As the library's m.split(' ', 2): the part before the first space and the part up to the next one. */
function splitMerge(m: string): string[] {
  const i = m.indexOf(' ');
  if (i < 0) return [m];
  const j = m.indexOf(' ', i + 1);
  return [m.slice(0, i), j < 0 ? m.slice(i + 1) : m.slice(i + 1, j)];
}

/** The library's merge list: `[a, b]` pairs, or strings split at the first space (format decided by merges[0]). */
function mergesOf(merges: unknown): [string, string][] | string {
  if (!Array.isArray(merges)) return 'model.merges is not a list';
  const pairs: [string, string][] = [];
  const arrays = Array.isArray(merges[0]);
  for (const m of merges) {
    const parts = arrays ? m : typeof m === 'string' ? splitMerge(m) : null;
    if (parts === null) return 'model.merges mixes strings and pairs';
    // A merge that is not two strings never matches a pair of pieces: it only takes a rank.
    pairs.push(Array.isArray(parts) && parts.length === 2 && typeof parts[0] === 'string' && typeof parts[1] === 'string' ? [parts[0], parts[1]] : ['', '']);
  }
  return pairs;
}

/** One added token as the library reads it. */
interface Added {
  content: string;
  id: number;
  lstrip: boolean;
  rstrip: boolean;
}

/** The library's DictionarySplitter: at each position the longest added token starting there, scanning left to right. */
class AddedSplitter {
  private readonly trie: Json = Object.create(null);
  private readonly firsts = new Set<string>();

  constructor(words: string[]) {
    for (const w of words) {
      let node = this.trie;
      for (let i = 0; i < w.length; i++) node = (node[w[i]] ??= Object.create(null)) as Json; // UTF-16 units, as the library
      node[''] = w;
      if (w.length > 0) this.firsts.add(w[0]);
    }
  }

  split(text: string): string[] {
    const out: string[] = [];
    let start = 0;
    for (let i = 0; i < text.length; ) {
      let match: string | null = null;
      if (this.firsts.has(text[i])) {
        let node: Json | undefined = this.trie;
        for (let j = i; j < text.length && (node = node[text[j]] as Json | undefined); j++) if (node[''] !== undefined) match = node[''] as string;
      }
      if (match) {
        if (i > start) out.push(text.slice(start, i));
        out.push(match);
        i += match.length;
        start = i;
      } else i++;
    }
    if (start < text.length) out.push(text.slice(start));
    return out;
  }
}

/** Words up to this length are cached (the library caches below 256 too). */
const CACHED_WORD = 256;
/** The cache is emptied when it holds this many words, bounding its memory. */
const CACHE_WORDS = 1 << 17;

export class BpeEncoder {
  private readonly cache = new Map<string, number[]>();
  private readonly bytes = new TextEncoder();
  /** Symbol of each byte's character (byte-level vocabularies). */
  private readonly byteSymbols: Int32Array;
  private word = new Int32Array(256);

  constructor(
    private readonly model: BpeModel,
    private readonly splitter: AddedSplitter,
    private readonly added: Map<string, Added>,
    private readonly normalize: ((s: string) => string) | null,
    private readonly pre: PreTokenizer,
    private readonly post: { before: number[]; after: number[] },
    private readonly fuseUnkId: number | null,
  ) {
    this.byteSymbols = Int32Array.from(byteChars(), (c) => model.charSymbol(c.charCodeAt(0)));
  }

  /** Whether every word of `text` fits the merge keys (a word is at most 3 UTF-8 bytes per UTF-16 unit). */
  static fits(text: string): boolean {
    return text.length * 3 < MAX_WORD;
  }

  /** Ids of `text`, equal to the library's `encode(text, { add_special_tokens })`. */
  encode(text: string, addSpecialTokens: boolean): Int32Array {
    const out: number[] = addSpecialTokens ? [...this.post.before] : [];
    const sections = this.splitter.split(text);
    this.strip(sections);
    for (const section of sections) {
      if (section.length === 0) continue;
      const token = this.added.get(section);
      if (token) {
        out.push(token.id);
        continue;
      }
      const normalized = this.normalize ? this.normalize(section) : section;
      if (normalized.length === 0) continue;
      // No added token is normalized (bpeEncoderFor), so the library's second split keeps the section whole.
      const again = this.added.get(normalized);
      if (again) out.push(again.id);
      else this.encodeSection(normalized, out);
    }
    if (addSpecialTokens) out.push(...this.post.after);
    return Int32Array.from(out);
  }

  /** lstrip / rstrip of added tokens trim the whitespace of their neighbours. */
  private strip(sections: string[]): void {
    sections.forEach((section, i) => {
      const token = this.added.get(section);
      if (token?.lstrip && i > 0) sections[i - 1] = sections[i - 1].trimEnd();
      if (token?.rstrip && i < sections.length - 1) sections[i + 1] = sections[i + 1].trimStart();
    });
  }

  /** One normalized section: pre-tokenized into words, each BPE-encoded, then runs of unk fused. */
  private encodeSection(text: string, out: number[]): void {
    const start = out.length;
    if (!this.pre.byteLevel) this.encodeWord(text, out);
    else {
      const s = this.pre.addPrefixSpace && !text.startsWith(' ') ? ' ' + text : text;
      if (!this.pre.useRegex) this.encodeWord(s, out);
      else for (const m of s.match(BYTE_LEVEL_SPLIT) ?? []) this.encodeWord(m, out);
    }
    if (this.fuseUnkId !== null) fuseUnk(out, start, this.fuseUnkId);
  }

  private encodeWord(w: string, out: number[]): void {
    let ids = w.length <= CACHED_WORD ? this.cache.get(w) : undefined;
    if (ids === undefined) {
      ids = [];
      this.model.encodeSymbols(this.symbolsOf(w), ids);
      if (w.length <= CACHED_WORD) {
        if (this.cache.size >= CACHE_WORDS) this.cache.clear();
        this.cache.set(w, ids);
      }
    }
    for (let i = 0; i < ids.length; i++) out.push(ids[i]);
  }

  /** The word's initial symbols: its code points (as Array.from splits), or its UTF-8 bytes' characters. */
  private symbolsOf(w: string): Int32Array {
    if (this.word.length < 3 * w.length) this.word = new Int32Array(3 * w.length + 64);
    const syms = this.word;
    let n = 0;
    if (this.pre.byteLevel) {
      const bytes = this.bytes.encode(w);
      for (let i = 0; i < bytes.length; i++) syms[n++] = this.byteSymbols[bytes[i]];
    } else {
      for (let i = 0; i < w.length; i++) {
        const cp = w.codePointAt(i)!;
        if (cp > 0xffff) i++;
        syms[n++] = this.model.charSymbol(cp);
      }
    }
    return syms.subarray(0, n);
  }
}

/** The library's fuse_unk on ids: each run of unk tokens becomes one. */
function fuseUnk(out: number[], start: number, unk: number): void {
  let w = start;
  for (let r = start; r < out.length; r++) if (!(out[r] === unk && w > start && out[w - 1] === unk)) out[w++] = out[r];
  out.length = w;
}

/**
 * Our encoder for a tokenizer.json (and tokenizer_config.json), or why the library must encode
 * it: only what the library 0.2.0 does for every field read here is repeated; any other model,
 * normalizer, pre-tokenizer, post-processor or option leaves the tokenizer on the library.
 */
export function bpeEncoderFor(json: unknown, config: unknown): BpeEncoder | string {
  if (!isObject(json)) return 'no model';
  // Built once per parsed file pair: fixture models share one imported tokenizer.json object.
  const byConfig = built.get(json) ?? new WeakMap<object, BpeEncoder | string>();
  built.set(json, byConfig);
  const key = isObject(config) ? config : built;
  let result = byConfig.get(key);
  if (result === undefined) byConfig.set(key, (result = build(json, config)));
  return result;
}

const built = new WeakMap<object, WeakMap<object, BpeEncoder | string>>();

function build(json: Json, config: unknown): BpeEncoder | string {
  if (!isObject(json.model)) return 'no model';
  const m = json.model;
  const cfg = isObject(config) ? config : {};
  if (m.type !== 'BPE') return `model type ${JSON.stringify(m.type)}`;
  if (!isObject(m.vocab)) return 'model.vocab is not an object';
  for (const key of ['end_of_word_suffix', 'continuing_subword_suffix', 'ignore_merges'] as const) if (m[key]) return `model.${key} is set`;
  if (cfg.remove_space === true || cfg.do_lowercase_and_remove_accent) return 'tokenizer_config asks for remove_space or lowercasing';
  const normalize = normalizerOf(json.normalizer ?? null);
  if (typeof normalize === 'string') return normalize;
  const pre = preTokenizerOf(json.pre_tokenizer ?? null);
  if (typeof pre === 'string') return pre;
  const merges = mergesOf(m.merges);
  if (typeof merges === 'string') return merges;
  if (merges.length >= MAX_WORD) return 'too many merges';

  // The library's tokens_to_ids: model.vocab, then every added token's content set over it.
  const tokensToIds = new Map(Object.entries(m.vocab));
  const added = new Map<string, Added>();
  if (!Array.isArray(json.added_tokens)) return 'added_tokens is not a list';
  for (const a of json.added_tokens as unknown[]) {
    if (!isObject(a) || typeof a.content !== 'string' || !Number.isInteger(a.id)) return 'an added token without content or id';
    if ((a.normalized ?? !(a.special ?? false)) && normalize !== null) return `added token ${JSON.stringify(a.content)} is normalized`;
    tokensToIds.set(a.content, a.id);
    added.set(a.content, { content: a.content, id: a.id as number, lstrip: Boolean(a.lstrip), rstrip: Boolean(a.rstrip) });
  }
  let max = -1;
  for (const id of tokensToIds.values()) {
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= 1 << 21) return `vocabulary id ${JSON.stringify(id)} is not an integer in [0, 2^21)`;
    max = Math.max(max, id as number);
  }
  const seen = new Uint8Array(max + 1);
  for (const id of tokensToIds.values() as Iterable<number>) {
    if (seen[id]) return `vocabulary id ${id} names two strings`; // a symbol must stand for one string
    seen[id] = 1;
  }
  const vocab = tokensToIds as Map<string, number>;
  // The library takes unk's id from model.vocab before the added tokens, and maps the emitted unk string after them.
  const unk = m.unk_token ?? null;
  if (unk !== null && (typeof unk !== 'string' || !Object.hasOwn(m.vocab, unk) || m.vocab[unk] !== vocab.get(unk))) return 'model.unk_token is not one id of model.vocab';
  const unkId = unk === null ? null : vocab.get(unk)!;
  const post = postProcessorOf(json.post_processor ?? null, (t) => vocab.get(t));
  if (typeof post === 'string') return post;
  const model = new BpeModel({ tokensToIds: vocab, merges, unkId, byteFallback: Boolean(m.byte_fallback) });
  const splitter = new AddedSplitter([...added.keys()]);
  return new BpeEncoder(model, splitter, added, normalize, pre, post, m.fuse_unk ? unkId : null);
}
