// mox.text: tokenizers. Character-level, GPT-2's byte-level BPE (loaded or trained), word-level.

export type { Tokenizer } from './tokenizer.js';
export {
  loadTokenizer,
  loadTokenizerDir,
  gpt2VocabDir,
  gpt2VocabDirAsync,
  type LoadTokenizerOptions,
} from './load-tokenizer.js';
export { CharTokenizer } from './char.js';
export { tokenizerFromFiles, type TokenizerFileContents } from './tokenizer-files.js';
export {
  GPT2Tokenizer,
  parseEncoderJson,
  parseVocabBpe,
  type AllowedSpecial,
  type GPT2EncodeOptions,
  type GPT2TokenizerOptions,
} from './gpt2.js';
export { trainBPE, type TrainBPEOptions } from './bpe-train.js';
export {
  WordTokenizer,
  PAD,
  UNK,
  PAD_ID,
  UNK_ID,
  type WordTokenizerOptions,
  type WordVocabOptions,
  type WordEncodeOptions,
} from './word.js';
export { GPT2_PATTERN, gpt2Regex, pretokenize } from './pretokenize.js';
export { BYTE_ORDER, bytesToTokenString, tokenStringToBytes, decodeUtf8 } from './bytes.js';
