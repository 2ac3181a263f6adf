// What the language-model trainers (`mox train gpt|lstm`, `finetune gpt`, `distill gpt`) write into
// --out/metrics.jsonl besides their scalars: a short generation at each evaluation, from a fixed
// prompt (the first whole line of the validation text), so a report shows the text getting better.
// The sampling has its own seeded generator and the model is in eval mode (no dropout), so it draws
// nothing from the run's generators: a --resume run still trains exactly as one never interrupted.

import type { Tokenizer } from '../../text/tokenizer.js';
import type { RunLog } from '../../train/run-log.js';

/** Tokens generated at each evaluation by default (the flag --sample-tokens). */
export const SAMPLE_TOKENS = 100;

/** The seed of the samples' own generator. */
const SAMPLE_SEED = 0;

/**
 * The samples' prompt: the first whole non-blank line of the validation tokens (they start mid-text),
 * newline included, at most `max` tokens; the first tokens when no line ends early enough.
 */
export function samplePrompt(tok: Tokenizer, val: ArrayLike<number>, max: number): number[] {
  const n = Math.min(val.length, Math.max(1000, 4 * max));
  const ends = (i: number) => tok.decode([val[i]!]).includes('\n');
  let start = 0;
  for (let i = 0; i < n; i++) {
    if (ends(i)) {
      start = i + 1;
      break;
    }
  }
  // blank lines (between a play's speeches) make no prompt: the first line with text
  while (start > 0 && start < n && ends(start)) start++;
  if (start >= val.length - 1) start = 0;
  const ids: number[] = [];
  for (let i = start; i < val.length && ids.length < max; i++) {
    ids.push(val[i]!);
    if (ends(i)) break;
  }
  return ids;
}

/** A language model's generate, as each trainer calls it: the new tokens of one prompt. */
export type Sampler = (
  prompt: number[],
  opts: { maxNewTokens: number; temperature: number; topK: number; seed: number },
) => Promise<number[]>;

/**
 * Writes a `samples` record: `tokens` new tokens from the prompt, sampled at temperature 0.8 among the
 * 40 likeliest from a generator of its own. Ids the tokenizer does not know (a teacher's padded
 * vocabulary) are left out of the text.
 */
export async function logSamples(
  log: RunLog,
  step: number,
  tok: Tokenizer,
  prompt: number[],
  tokens: number,
  sample: Sampler,
): Promise<void> {
  if (tokens <= 0 || prompt.length === 0) return;
  const ids = await sample(prompt, { maxNewTokens: tokens, temperature: 0.8, topK: 40, seed: SAMPLE_SEED });
  const known = ids.filter((id) => id >= 0 && id < tok.vocabSize);
  log.samples(step, [{ prompt: tok.decode(prompt), text: tok.decode(known) }]);
}
