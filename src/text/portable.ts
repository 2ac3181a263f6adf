// The tokenizers that need no file system at hand: what a web page can use (mox/browser's `text`).
// Their load() and save() still need Node; a page builds them from its fetched files' contents.

export type { Tokenizer } from './tokenizer.js';
export { tokenizerFromFiles, type TokenizerFileContents } from './tokenizer-files.js';
export { CharTokenizer } from './char.js';
export { GPT2Tokenizer, parseEncoderJson, parseVocabBpe } from './gpt2.js';
export { WordTokenizer } from './word.js';
