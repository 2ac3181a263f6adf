// Picking the next token from a row of logits (temperature, top-k, top-p), shared by the GPT's and the
// LSTM language model's generation.

import type { Generator } from '../tensor/random.js';

/**
 * How a language model's generate() picks each new token (the GPT's and the LSTM's share these).
 * @inline
 */
export interface SamplingOptions {
  /** How many tokens to add. */
  maxNewTokens: number;
  /** Softmax temperature; 0 picks the most likely token (greedy). Default 1. */
  temperature?: number;
  /** Sample among the k most likely tokens only. */
  topK?: number | null;
  /** Nucleus sampling: among the fewest most likely tokens whose probabilities add up to at least p. */
  topP?: number | null;
  /** Seed for a fresh generator (ignored when `generator` is given). */
  seed?: number;
  /** Where the random draws come from (default: a Generator(seed), or the global one). */
  generator?: Generator;
}

/**
 * Picks the next token from one row of logits: temperature, then top-k, then top-p, then a draw
 * from `gen` (one uniform number per call, so the stream does not depend on the logits). Without
 * top-k or top-p the draw walks the tokens in id order (torch.multinomial's); with them, in order of
 * probability, the most likely first.
 */
export function sampleLogits(
  logits: ArrayLike<number>,
  opts: { temperature?: number; topK?: number | null; topP?: number | null },
  gen: Generator,
): number {
  const n = logits.length;
  const temperature = opts.temperature ?? 1;
  if (temperature === 0) {
    let best = 0;
    for (let i = 1; i < n; i++) if (logits[i]! > logits[best]!) best = i;
    return best;
  }
  if (opts.topK == null && (opts.topP == null || opts.topP >= 1)) {
    // the whole distribution: walk it in token order, as torch.multinomial does, with no sort (a
    // 50,257-token vocabulary sorted per token cost ~20 ms, more than a decoding step)
    let maxL = -Infinity;
    for (let i = 0; i < n; i++) if (logits[i]! > maxL) maxL = logits[i]!;
    const probs = new Float64Array(n);
    let total = 0;
    for (let i = 0; i < n; i++) total += probs[i] = Math.exp((logits[i]! - maxL) / temperature);
    const u = gen.random() * total;
    let acc = 0;
    let last = 0;
    for (let i = 0; i < n; i++) {
      if (probs[i]! === 0) continue;
      acc += probs[i]!;
      last = i;
      if (u < acc) return i;
    }
    return last;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]! || a - b);
  let keepN = n;
  if (opts.topK != null) {
    // torch's `logits < topk(logits, k).values[-1]` -> -inf: ties with the k-th value stay in
    const kth = logits[order[Math.min(opts.topK, n) - 1]!]!;
    keepN = 0;
    while (keepN < n && logits[order[keepN]!]! >= kth) keepN++;
  }
  const maxL = logits[order[0]!]! / temperature;
  const probs = new Float64Array(keepN);
  let total = 0;
  for (let j = 0; j < keepN; j++) total += probs[j] = Math.exp(logits[order[j]!]! / temperature - maxL);
  if (opts.topP != null && opts.topP < 1) {
    let cum = 0;
    let j = 0;
    while (j < keepN) {
      cum += probs[j]! / total;
      j++;
      if (cum >= opts.topP) break;
    }
    keepN = j;
    total = 0;
    for (let i = 0; i < keepN; i++) total += probs[i]!;
  }
  const u = gen.random() * total;
  let acc = 0;
  for (let j = 0; j < keepN; j++) {
    acc += probs[j]!;
    if (u < acc) return order[j]!;
  }
  return order[keepN - 1]!;
}
