// GPT-2's pre-tokenization: text is split into "words" before BPE, and merges never cross a word boundary.
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// \s is written \p{White_Space}: that is what \s means in Python's `regex` module (GPT-2's encoder.py)
// and in the Rust tokenizers/tiktoken; JavaScript's own \s differs (it takes U+FEFF, leaves out U+0085).

/** GPT-2's pre-tokenization regex (its source), splitting text into words before BPE. */
export const GPT2_PATTERN =
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\p{White_Space}\\p{L}\\p{N}]+|\\p{White_Space}+(?!\\P{White_Space})|\\p{White_Space}+";

/** A fresh global, Unicode-aware regex for GPT-2's pre-tokenization (lastIndex is state: one per loop). */
export function gpt2Regex(): RegExp {
  return new RegExp(GPT2_PATTERN, 'gu');
}

/** The pre-tokenized pieces of a text, in order; joined they give the text back. */
export function pretokenize(text: string): string[] {
  return text.match(gpt2Regex()) ?? [];
}
