/**
 * Tokenizer over @huggingface/tokenizers (tokenizer.json) with chat templates rendered by
 * @huggingface/jinja from tokenizer_config.json, as transformers' apply_chat_template does.
 * Malformed files, a vocabulary larger than the model's, and a drafter whose vocabulary
 * differs from the target's are TokenizerErrors.
 */
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { renderChatTemplate } from './chat-template';
import { TokenizerError } from '../errors.ts';
import type { ModelConfig } from '../model/config.ts';
import { createStreamDecoder, type StreamDecoder } from './stream.ts';
import { BpeEncoder, bpeEncoderFor } from './bpe-encoder.ts';

export type { StreamDecoder } from './stream.ts';

export interface ChatMessage {
  role: string;
  content: string;
}

type Json = Record<string, unknown>;

/** A special-token entry of tokenizer_config.json: a string or an AddedToken object. */
function tokenContent(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return null;
}

/** tokenizer_config.json `chat_template`: a string, or a list of named templates ("default" wins). */
function chatTemplateOf(cfg: Json): string | null {
  const t = cfg.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t as { name?: unknown; template?: unknown }[];
    const pick = named.find((x) => x.name === 'default') ?? named[0];
    return typeof pick?.template === 'string' ? pick.template : null;
  }
  return null;
}

function checkTokenizerJson(json: unknown): void {
  const model = (json as Json | null)?.model as Json | undefined;
  if (typeof json !== 'object' || json === null || typeof model !== 'object' || model === null || typeof model.type !== 'string') {
    throw new TokenizerError('tokenizer.json: expected an object with a "model" object naming its "type" (BPE, Unigram, WordPiece)');
  }
  if (typeof model.vocab !== 'object' || model.vocab === null) throw new TokenizerError(`tokenizer.json: model.vocab is missing or not a map/list`);
}

export class Tokenizer {
  /** Number of ids the tokenizer can produce (max id + 1, added tokens included). */
  readonly vocabSize: number;
  readonly bosId: number | null;
  /** Ids that end generation: tokenizer_config's eos_token plus the model config's eos ids. */
  readonly eosIds: number[];
  private readonly template: string | null;
  private readonly specials: Record<string, string | null>;
  /** Our BPE encoder, or why the library encodes: built at the first encode (it costs about as much as the library's load). */
  private bpe?: BpeEncoder | string;

  private constructor(private readonly hf: HfTokenizer, private readonly cfg: Json, extraEos: number[], private readonly json: unknown) {
    let max = -1;
    for (const id of hf.get_vocab(true).values()) max = Math.max(max, id);
    this.vocabSize = max + 1;
    this.specials = {
      bos_token: tokenContent(cfg.bos_token),
      eos_token: tokenContent(cfg.eos_token),
      unk_token: tokenContent(cfg.unk_token),
      pad_token: tokenContent(cfg.pad_token),
    };
    const idOf = (t: string | null) => (t === null ? null : (hf.token_to_id(t) ?? null));
    this.bosId = idOf(this.specials.bos_token);
    const eos = idOf(this.specials.eos_token);
    this.eosIds = [...new Set([...(eos === null ? [] : [eos]), ...extraEos])];
    this.template = chatTemplateOf(cfg);
  }

  private fastEncoder(): BpeEncoder | null {
    this.bpe ??= bpeEncoderFor(this.json, this.cfg);
    return typeof this.bpe === 'string' ? null : this.bpe;
  }

  /** Who encodes: 'bpe' (ours, bpe-encoder.ts) or 'library (why)', decided by reading tokenizer.json. */
  get encoder(): string {
    return this.fastEncoder() ? 'bpe' : `library (${this.bpe as string})`;
  }

  /**
   * Builds a tokenizer from parsed tokenizer.json and tokenizer_config.json (null when absent).
   * With `model`, the vocabulary is checked against the model's and its eos ids are added.
   */
  static fromFiles(tokenizerJson: unknown, tokenizerConfig: unknown | null, model?: ModelConfig): Tokenizer {
    checkTokenizerJson(tokenizerJson);
    if (tokenizerConfig !== null && (typeof tokenizerConfig !== 'object' || Array.isArray(tokenizerConfig))) {
      throw new TokenizerError('tokenizer_config.json: expected a JSON object');
    }
    const cfg = (tokenizerConfig ?? {}) as Json;
    let hf: HfTokenizer;
    try {
      hf = new HfTokenizer(tokenizerJson as object, cfg);
    } catch (e) {
      throw new TokenizerError(`tokenizer.json could not be loaded: ${(e as Error).message}`, { cause: e });
    }
    const tok = new Tokenizer(hf, cfg, model?.eosTokenIds ?? [], tokenizerJson);
    if (model && tok.vocabSize > model.vocabSize) {
      // A smaller tokenizer is normal (embedding tables are padded); a larger one would index past the table.
      throw new TokenizerError(`tokenizer.json has ${tok.vocabSize} ids but the model's vocab_size is ${model.vocabSize}`);
    }
    return tok;
  }

  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): Int32Array {
    const bpe = this.fastEncoder();
    if (bpe && BpeEncoder.fits(text)) return bpe.encode(text, opts.addSpecialTokens ?? true);
    return Int32Array.from(this.hf.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids);
  }

  /** Text of ids; special tokens (BOS, EOS, chat markers) are skipped unless asked for. */
  decode(ids: ArrayLike<number>, opts: { skipSpecialTokens?: boolean } = {}): string {
    // tokenizers.js refuses an empty list; its text is "".
    if (ids.length === 0) return '';
    return this.hf.decode(Array.from(ids), { skip_special_tokens: opts.skipSpecialTokens ?? true });
  }

  /** The token string of an id (e.g. "Ġthe"), or null when out of range. */
  idToToken(id: number): string | null {
    return this.hf.id_to_token(id) ?? null;
  }

  /** token string -> id for the whole vocabulary (added tokens included). */
  vocabulary(): Map<string, number> {
    return this.hf.get_vocab(true);
  }

  get hasChatTemplate(): boolean {
    return this.template !== null;
  }

  /** Renders the model's chat template with a generation prompt for the assistant's turn. */
  applyChatTemplate(messages: ChatMessage[], opts: { addGenerationPrompt?: boolean } = {}): string {
    if (this.template === null) throw new TokenizerError('tokenizer_config.json has no chat_template; use a plain prompt');
    return renderChatTemplate(this.template, { messages, add_generation_prompt: opts.addGenerationPrompt ?? true, ...this.specials });
  }

  /** Incremental decoder for streamed output (see stream.ts). */
  createStreamDecoder(context: ArrayLike<number> = []): StreamDecoder {
    return createStreamDecoder((ids) => this.decode(ids), context);
  }
}

/**
 * A same-tokenizer drafter (DESIGN section 4) proposes target token ids directly, so both
 * vocabularies must map every token string to the same id. Throws TokenizerError naming the
 * first difference.
 */
export function assertSameVocabulary(draft: Tokenizer, target: Tokenizer): void {
  const a = draft.vocabulary();
  const b = target.vocabulary();
  if (a.size !== b.size) throw new TokenizerError(`draft tokenizer has ${a.size} tokens, target has ${b.size}: not the same tokenizer`);
  for (const [tok, id] of a) {
    const other = b.get(tok);
    if (other !== id) throw new TokenizerError(`token ${JSON.stringify(tok)} is id ${id} in the draft tokenizer but ${other ?? 'absent'} in the target's`);
  }
}
