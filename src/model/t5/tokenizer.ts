/**
 * Tokenizers for T5: any Hugging Face tokenizer.json (through @huggingface/tokenizers), and, for
 * from-scratch runs, a WordPiece tokenizer trained on the corpus (words by frequency plus every
 * character, so unseen words still split into known pieces), written as a standard tokenizer.json.
 * Semantic ID tokens are added as special tokens after the base vocabulary.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { readFileSync } from 'node:fs';
import { SemidArgumentError, SemidError } from '../../kernels/errors.js';
import { expectInt } from '../../kernels/validate.js';
import { writeFileAtomic } from '../../io/atomic.js';

type TokenizerJson = {
  added_tokens: Array<{ id: number; content: string; special: boolean; single_word: boolean; lstrip: boolean; rstrip: boolean; normalized: boolean }>;
  model: { type: string; vocab: unknown };
  [k: string]: unknown;
};

/** The special tokens T5 expects: pad 0 (also the decoder start), end 1, unknown 2. */
export const T5_SPECIALS = ['<pad>', '</s>', '<unk>'];

/**
 * A tokenizer: encode text to ids (the end token appended, as T5's post-processor does), decode,
 * add tokens, save as tokenizer.json.
 * @example const tok = T5Tokenizer.load('flan-t5-small/tokenizer.json'); tok.encode('a 90s comedy') // Int32Array [..., 1]
 */
export class T5Tokenizer {
  private tokenizer: Tokenizer;
  private readonly idOf = new Map<string, number>();
  /** [vocabSize] token of each id, made on first use (tokenName). */
  private nameOf: string[] | undefined;

  private constructor(readonly json: TokenizerJson) {
    this.tokenizer = new Tokenizer(json, {});
    this.index();
  }

  private index(): void {
    this.idOf.clear();
    this.nameOf = undefined;
    const vocab = this.json.model.vocab;
    if (Array.isArray(vocab)) vocab.forEach((entry, i) => this.idOf.set(Array.isArray(entry) ? String(entry[0]) : String(entry), i));
    else for (const [tok, id] of Object.entries(vocab as Record<string, number>)) this.idOf.set(tok, id);
    for (const t of this.json.added_tokens ?? []) this.idOf.set(t.content, t.id);
  }

  /** From a parsed tokenizer.json. */
  static fromJson(json: unknown): T5Tokenizer {
    const j = json as TokenizerJson;
    if (!j || typeof j !== 'object' || !j.model || typeof j.model !== 'object') throw new SemidArgumentError('tokenizer.json', 'a Hugging Face tokenizer.json object with a "model"', json);
    j.added_tokens ??= [];
    return new T5Tokenizer(structuredClone(j));
  }

  /** From a tokenizer.json file. */
  static load(path: string): T5Tokenizer {
    let text: string;
    try { text = readFileSync(path, 'utf8'); } catch (err) { throw new SemidError('ERR_SEMID_TOKENIZER', `${path}: cannot be read (${(err as Error).message})`); }
    let json: unknown;
    try { json = JSON.parse(text); } catch (err) { throw new SemidError('ERR_SEMID_TOKENIZER', `${path}: is not JSON (${(err as Error).message})`); }
    return T5Tokenizer.fromJson(json);
  }

  /** Largest id + 1 (base vocabulary and added tokens). */
  get vocabSize(): number {
    let m = -1;
    for (const id of this.idOf.values()) if (id > m) m = id;
    return m + 1;
  }

  /** The id of a token, or undefined. */
  tokenId(token: string): number | undefined {
    return this.idOf.get(token);
  }

  /**
   * The token an id stands for (a vocabulary entry or an added token, as written), or undefined.
   * @example tok.tokenName(tok.tokenId('<id_0_3>')!) // '<id_0_3>'
   */
  tokenName(id: number): string | undefined {
    if (this.nameOf === undefined) {
      this.nameOf = [];
      for (const [tok, i] of this.idOf) this.nameOf[i] = tok;
    }
    return Number.isInteger(id) && id >= 0 ? this.nameOf[id] : undefined;
  }

  /** Ids of `text`, with the post-processor's end token. */
  encode(text: string): Int32Array {
    return Int32Array.from(this.tokenizer.encode(text).ids);
  }

  /** Text of `ids` (special tokens skipped by default). */
  decode(ids: ArrayLike<number>, skipSpecial = true): string {
    return this.tokenizer.decode(Array.from(ids), { skip_special_tokens: skipSpecial });
  }

  /**
   * Add tokens (as special, unnormalised tokens, the way Semantic ID tokens are added to a model's
   * vocabulary) after every existing id; returns their ids. Tokens already present keep their id.
   */
  addTokens(tokens: string[]): Int32Array {
    const out = new Int32Array(tokens.length);
    let next = this.vocabSize;
    tokens.forEach((t, i) => {
      const have = this.idOf.get(t);
      if (have !== undefined) { out[i] = have; return; }
      this.json.added_tokens.push({ id: next, content: t, special: true, single_word: false, lstrip: false, rstrip: false, normalized: false });
      this.idOf.set(t, next);
      out[i] = next++;
    });
    this.nameOf = undefined;
    this.tokenizer = new Tokenizer(this.json, {});
    return out;
  }

  /** Write tokenizer.json atomically. */
  save(path: string): void {
    writeFileAtomic(path, [Buffer.from(JSON.stringify(this.json, null, 2))]);
  }
}

/**
 * Train a WordPiece tokenizer on a corpus: lower-cased NFKC text, split on whitespace and
 * punctuation; vocabulary = T5's specials, then every character seen (alone and as a ##piece),
 * then the most frequent words (at least `minFrequency` times) up to `vocabSize`.
 * @example const tok = trainWordPieceTokenizer(['a funny movie', 'a scary film'], { vocabSize: 100 });
 */
export function trainWordPieceTokenizer(corpus: Iterable<string>, options: { vocabSize?: number; minFrequency?: number } = {}): T5Tokenizer {
  const vocabSize = expectInt('vocabSize', options.vocabSize ?? 8000, 16, 1_000_000);
  const minFrequency = expectInt('minFrequency', options.minFrequency ?? 2, 1, 1e9);
  const words = new Map<string, number>();
  const chars = new Set<string>();
  const split = /[\p{L}\p{N}_]+|[^\p{L}\p{N}_\s]/gu;
  for (const text of corpus) {
    for (const w of text.normalize('NFKC').toLowerCase().match(split) ?? []) {
      words.set(w, (words.get(w) ?? 0) + 1);
      for (const ch of w) chars.add(ch);
    }
  }
  const vocab: Record<string, number> = {};
  let id = 0;
  for (const s of T5_SPECIALS) vocab[s] = id++;
  for (const ch of [...chars].sort()) {
    vocab[ch] = id++;
    vocab[`##${ch}`] = id++;
  }
  const frequent = [...words.entries()].filter(([w, n]) => n >= minFrequency && [...w].length > 1)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  for (const [w] of frequent) {
    if (id >= vocabSize) break;
    if (vocab[w] === undefined) vocab[w] = id++;
  }
  const special = (content: string, i: number) => ({ id: i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: T5_SPECIALS.map(special),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' }] },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }, { Sequence: { id: 'B', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      special_tokens: { '</s>': { id: '</s>', ids: [1], tokens: ['</s>'] } },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '<unk>', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
  return T5Tokenizer.fromJson(json);
}
