// Text generation with a GPT: sampling settings, the loop that feeds the model and samples one token
// per step (sync for the CPU, async for any device), and the key/value cache it keeps.
//
// The cache: the prompt is run once, then each new token attends over the cached keys and values of
// the tokens before it. Once the context exceeds blockSize the window slides, every position changes,
// and generation recomputes the cropped context each step, exactly as nanoGPT does without a cache; so
// the tokens are the same with and without it.

import '../ops/tensor-methods.js';
import { ValueError } from '../errors.js';
import { noGrad } from '../autograd/grad-mode.js';
import { keep, scope } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';
import { tensor } from '../tensor/create.js';
import { Generator, globalGenerator } from '../tensor/random.js';
import { type GPT, GPTCache } from './gpt.js';
import { type SamplingOptions, sampleLogits } from './sampling.js';

/** How generate and generateAsync sample: SamplingOptions plus the cache, a per-token callback and a stop signal. */
export interface GenerateOptions extends SamplingOptions {
  /** Keep keys and values of past tokens (default true); the tokens are the same without. */
  useCache?: boolean;
  /**
   * Called with each batch row's new token as it is picked. generateAsync awaits what it returns, so a
   * web page can yield to the browser there (repaint the text, take a click on its stop button).
   */
  onToken?: (tokens: number[], step: number) => void | Promise<void>;
  /** Stops the generation early when aborted: the result holds the tokens picked so far. */
  signal?: AbortSignal;
}

/** What GPT.generate returns: the ids, the new tokens, and the speed. */
export interface GenerateResult {
  /** [B, T + maxNewTokens] int32: the prompt followed by the new tokens. */
  ids: Tensor;
  /** The new tokens, per batch row. */
  newTokens: number[][];
  /** Wall time of the generation. */
  seconds: number;
  /** New tokens per second, over the batch. */
  tokensPerSecond: number;
}

/** One generation in progress: the prompts as they grow, the cache, and the sampling settings. */
class Generation {
  readonly seqs: number[][];
  readonly newTokens: number[][];
  readonly gen: Generator;
  readonly cache: GPTCache | null;
  readonly b: number;
  readonly t0: number;
  readonly start = performance.now();
  private readonly wasTraining: boolean;

  constructor(
    readonly model: GPT,
    rows: number[][],
    readonly opts: GenerateOptions,
  ) {
    const { maxNewTokens } = opts;
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0)
      throw new ValueError('generate', `maxNewTokens must be a non-negative integer, got ${maxNewTokens}`);
    const temperature = opts.temperature ?? 1;
    if (!(temperature >= 0) || !Number.isFinite(temperature))
      throw new ValueError('generate', `temperature must be >= 0, got ${temperature}`);
    if (opts.topK != null && (!Number.isInteger(opts.topK) || opts.topK < 1))
      throw new ValueError('generate', `topK must be a positive integer, got ${opts.topK}`);
    if (opts.topP != null && !(opts.topP > 0 && opts.topP <= 1))
      throw new ValueError('generate', `topP must be in (0, 1], got ${opts.topP}`);
    const { vocabSize } = model.config;
    this.b = rows.length;
    this.t0 = rows[0]?.length ?? 0;
    if (this.b === 0 || this.t0 === 0) throw new ValueError('generate', 'the prompt must hold at least one token');
    for (const r of rows) {
      if (r.length !== this.t0) throw new ValueError('generate', 'every prompt in a batch must have the same length');
      for (const id of r)
        if (!Number.isInteger(id) || id < 0 || id >= vocabSize)
          throw new ValueError('generate', `token id ${id} is outside the vocabulary [0, ${vocabSize})`);
    }
    this.gen = opts.generator ?? (opts.seed !== undefined ? new Generator(opts.seed) : globalGenerator);
    this.seqs = rows.map((r) => r.slice());
    this.newTokens = rows.map(() => []);
    this.cache = (opts.useCache ?? true) ? new GPTCache(model.config.nLayer) : null;
    this.wasTraining = model.training;
    model.eval();
  }

  /** The logits [B, vocab] of the next position (kept past the scope: the caller reads and frees them). */
  nextLogits(): Tensor {
    const { blockSize } = this.model.config;
    const cache = this.cache;
    const len = this.seqs[0]!.length;
    // with a cache: feed only what it has not seen, while the whole context still fits in the block
    const cached = cache !== null && len <= blockSize && cache.length > 0 && cache.length < len;
    if (cache && !cached && cache.length > 0) cache.dispose(); // the window slid: positions changed
    const from = cached ? cache!.length : Math.max(0, len - blockSize);
    return scope(() =>
      noGrad(() => {
        const ids = tensor(Int32Array.from(this.seqs.flatMap((s) => s.slice(from))), {
          shape: [this.b, len - from],
          dtype: 'int32',
          device: this.model.device,
        });
        const useC = cache !== null && len <= blockSize ? cache : undefined;
        const { logits } = this.model.forward(ids, null, { cache: useC, lastOnly: true });
        return keep(logits);
      }),
    );
  }

  /** Samples one token per row from the logits just read back. */
  accept(last: Float32Array, step: number): Promise<void> | undefined {
    const { vocabSize } = this.model.config;
    const { temperature = 1, topK, topP } = this.opts;
    const picked: number[] = [];
    for (let r = 0; r < this.b; r++) {
      const tok = sampleLogits(last.subarray(r * vocabSize, (r + 1) * vocabSize), { temperature, topK, topP }, this.gen);
      this.seqs[r]!.push(tok);
      this.newTokens[r]!.push(tok);
      picked.push(tok);
    }
    const r = this.opts.onToken?.(picked, step);
    return r instanceof Promise ? r : undefined;
  }

  end(): void {
    this.cache?.dispose();
    this.model.train(this.wasTraining);
  }

  result(): GenerateResult {
    const seconds = (performance.now() - this.start) / 1000;
    const n = this.newTokens[0]!.length; // fewer than maxNewTokens when the signal stopped it
    const ids = tensor(Int32Array.from(this.seqs.flat()), { shape: [this.b, this.t0 + n], dtype: 'int32', device: this.model.device });
    return { ids, newTokens: this.newTokens, seconds, tokensPerSecond: seconds > 0 ? (this.b * n) / seconds : 0 };
  }
}

function promptRows(idx: number[] | number[][]): number[][] {
  return Array.isArray(idx[0]) ? (idx as number[][]) : [idx as number[]];
}

/**
 * Extends idx [B, T] (int32 token ids) by maxNewTokens tokens sampled from the model, in eval mode
 * and without a graph (the model's mode is restored afterwards). A model on the GPU needs
 * generateAsync (each token's logits are read back, asynchronously there).
 */
export function generate(model: GPT, idx: Tensor | number[] | number[][], opts: GenerateOptions): GenerateResult {
  const rows =
    idx instanceof Tensor ? (idx.ndim === 1 ? [Array.from(idx.dataSync(), Number)] : (idx.tolist() as number[][])) : promptRows(idx);
  const g = new Generation(model, rows, opts);
  try {
    for (let step = 0; step < opts.maxNewTokens && !opts.signal?.aborted; step++) {
      const logits = g.nextLogits();
      try {
        void g.accept(Float32Array.from(logits.dataSync()), step);
      } finally {
        logits.dispose();
      }
    }
  } finally {
    g.end();
  }
  return g.result();
}

/** generate() on any device: each step's logits are read back with await. */
export async function generateAsync(model: GPT, idx: Tensor | number[] | number[][], opts: GenerateOptions): Promise<GenerateResult> {
  const rows = idx instanceof Tensor ? ((await idx.array()) as number[] | number[][]) : idx;
  const g = new Generation(model, promptRows(rows as number[] | number[][]), opts);
  try {
    for (let step = 0; step < opts.maxNewTokens && !opts.signal?.aborted; step++) {
      const logits = g.nextLogits();
      let picked: Promise<void> | undefined;
      try {
        picked = g.accept(Float32Array.from(await logits.data()), step);
      } finally {
        logits.dispose();
      }
      await picked;
    }
  } finally {
    g.end();
  }
  return g.result();
}
