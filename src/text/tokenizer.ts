// The common face of mox's tokenizers (char.ts, gpt2.ts, word.ts, bpe-train.ts implement it).
// loadTokenizer, which picks one by name or folder, is in load-tokenizer.ts: it imports every
// tokenizer, and each of them imports this file, so keeping the two apart keeps imports acyclic.

/** What every tokenizer does: text to ids, ids to text, and saving itself. */
export interface Tokenizer {
  /** 'char', 'bpe' (GPT-2's or trained byte-level BPE) or 'word'. */
  readonly kind: string;
  /** One more than the largest id. */
  readonly vocabSize: number;
  /** Ids of the text. */
  encode(text: string): number[];
  /** The text of a sequence of ids. */
  decode(ids: ArrayLike<number>): string;
  /** Writes the tokenizer into dir (created if needed), with a tokenizer.json that loadTokenizer reads. */
  save(dir: string): void;
}
