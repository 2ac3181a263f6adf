// Continuous batching for a GPT: requests wait in a bounded queue, join the running batch between
// decoding steps (their prompt is run alone into their own cache), share every step with whoever else
// is generating (batch-decode.ts), and leave as soon as they finish or are cancelled, freeing their
// slot for the next. Each request samples with its own settings and its own seeded generator, so its
// tokens do not depend on its neighbours.

import '../ops/tensor-methods.js';
import { ValueError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { keep, scope } from '../tensor/memory.js';
import { Generator } from '../tensor/random.js';
import { noGrad } from '../autograd/grad-mode.js';
import type { GPT, GPTCache } from '../models/gpt.js';
import { sampleLogits } from '../models/sampling.js';
import { batchedDecodeStep, prefill } from './batch-decode.js';

export type FinishReason = 'length' | 'stop' | 'cancelled' | 'error';

export interface TokenInfo {
  /** The log-probability of the token under the model's distribution (before temperature). */
  logprob: number;
  /** The most likely tokens and their log-probabilities, when the request asked for `logprobs`. */
  top: [token: number, logprob: number][];
}

export interface GenerationRequest {
  prompt: readonly number[];
  maxTokens: number;
  temperature: number;
  topP?: number | null;
  topK?: number | null;
  /** The seed of the request's own generator (a random one when absent). */
  seed?: number;
  /** How many alternatives TokenInfo.top lists (0 or absent: none). */
  logprobs?: number;
  /** Each new token; returning false ends the request with 'stop' (a stop sequence was met). */
  onToken(token: number, info: TokenInfo): boolean | undefined;
  onDone(reason: FinishReason, error?: Error): void;
}

export interface EngineOptions {
  /** The most sequences decoded together (default 16). */
  maxBatch?: number;
  /** The most requests waiting for a slot; past it submit throws QueueFullError (default 64). */
  maxQueue?: number;
}

export interface EngineStats {
  active: number;
  queued: number;
  steps: number;
}

/** Thrown by submit when the queue is full: the server answers 429 with Retry-After. */
export class QueueFullError extends Error {}

interface Running {
  req: GenerationRequest;
  gen: Generator;
  cache: GPTCache | null;
  last: number;
  produced: number;
  cancelled: boolean;
  done: boolean;
}

export interface Submitted {
  /** Stops the request: its slot (and cache) is freed before the next step; onDone('cancelled'). */
  cancel(): void;
}

export class GenerationEngine {
  readonly maxBatch: number;
  readonly maxQueue: number;
  #queue: Running[] = [];
  #active: Running[] = [];
  #running = false;
  #closed = false;
  #steps = 0;
  #idle: (() => void)[] = [];

  constructor(
    readonly model: GPT,
    opts: EngineOptions = {},
  ) {
    this.maxBatch = opts.maxBatch ?? 16;
    this.maxQueue = opts.maxQueue ?? 64;
    if (!Number.isInteger(this.maxBatch) || this.maxBatch < 1)
      throw new ValueError('serve', `maxBatch must be a positive integer, got ${this.maxBatch}`);
    if (!Number.isInteger(this.maxQueue) || this.maxQueue < 0)
      throw new ValueError('serve', `maxQueue must be a non-negative integer, got ${this.maxQueue}`);
    model.eval();
  }

  get stats(): EngineStats {
    return { active: this.#active.length, queued: this.#queue.length, steps: this.#steps };
  }

  /** Queues a request; it starts at the next step with a free slot. */
  submit(req: GenerationRequest): Submitted {
    if (this.#closed) throw new QueueFullError('the server is shutting down');
    const block = this.model.config.blockSize;
    if (req.prompt.length < 1) throw new ValueError('serve', 'the prompt has no tokens');
    if (req.prompt.length + req.maxTokens > block)
      throw new ValueError(
        'serve',
        `the prompt (${req.prompt.length} tokens) plus max_tokens (${req.maxTokens}) exceeds the model's context of ${block} tokens`,
      );
    // free slots take requests at the next step, so they count as room too
    if (this.#queue.length >= this.maxQueue + Math.max(0, this.maxBatch - this.#active.length))
      throw new QueueFullError(`the queue is full (${this.#queue.length} waiting, ${this.#active.length} generating)`);
    const r: Running = {
      req,
      gen: new Generator(req.seed ?? Math.floor(Math.random() * 2 ** 31)),
      cache: null,
      last: -1,
      produced: 0,
      cancelled: false,
      done: false,
    };
    this.#queue.push(r);
    if (!this.#running) void this.#loop();
    return {
      cancel: () => {
        r.cancelled = true;
        const i = this.#queue.indexOf(r);
        if (i >= 0) {
          this.#queue.splice(i, 1);
          this.#finish(r, 'cancelled');
        }
      },
    };
  }

  /** Stops taking requests and waits for the running ones, cancelling what is left after `deadlineMs`. */
  async close(deadlineMs = 10_000): Promise<void> {
    this.#closed = true;
    for (const r of this.#queue.splice(0)) this.#finish(r, 'cancelled');
    if (!this.#running) return;
    const idle = new Promise<void>((resolve) => this.#idle.push(resolve));
    const timer = setTimeout(() => {
      for (const r of this.#active) r.cancelled = true;
    }, deadlineMs);
    await idle;
    clearTimeout(timer);
  }

  #finish(r: Running, reason: FinishReason, error?: Error): void {
    if (r.done) return;
    r.done = true;
    r.cache?.dispose();
    r.cache = null;
    try {
      r.req.onDone(reason, error);
    } catch {
      /* a listener's failure must not stop the others */
    }
  }

  /** Samples from one row of logits and hands the token to the request; false when it is finished. */
  #emit(r: Running, row: Float32Array): boolean {
    const { req } = r;
    const token = sampleLogits(row, { temperature: req.temperature, topK: req.topK ?? null, topP: req.topP ?? null }, r.gen);
    const info = tokenInfo(row, token, req.logprobs ?? 0);
    r.produced++;
    r.last = token;
    let more: boolean | undefined;
    try {
      more = req.onToken(token, info);
    } catch (e) {
      this.#finish(r, 'error', e as Error);
      return false;
    }
    if (more === false) {
      this.#finish(r, 'stop');
      return false;
    }
    if (r.produced >= req.maxTokens) {
      this.#finish(r, 'length');
      return false;
    }
    return true;
  }

  async #loop(): Promise<void> {
    this.#running = true;
    try {
      while (this.#queue.length || this.#active.length) {
        this.#active = this.#active.filter((r) => {
          if (r.cancelled) this.#finish(r, 'cancelled');
          return !r.done;
        });
        // admit waiting requests into free slots: each prompt runs alone into its own cache
        while (this.#active.length < this.maxBatch && this.#queue.length) {
          const r = this.#queue.shift()!;
          try {
            const out = noGrad(() =>
              scope(() => {
                const p = prefill(this.model, r.req.prompt);
                return { cache: p.cache, logits: keep(p.logits) };
              }),
            );
            const row = Float32Array.from(await out.logits.data());
            out.logits.dispose();
            const cache = out.cache;
            r.cache = cache;
            if (r.cancelled) this.#finish(r, 'cancelled');
            else if (this.#emit(r, row)) this.#active.push(r);
          } catch (e) {
            this.#finish(r, 'error', e as Error);
          }
        }
        const batch = this.#active.filter((r) => !r.cancelled && !r.done);
        if (batch.length) {
          const V = this.model.config.vocabSize;
          let data: Float32Array;
          try {
            const logits: Tensor = noGrad(() =>
              scope(() =>
                keep(
                  batchedDecodeStep(
                    this.model,
                    batch.map((r) => r.last),
                    batch.map((r) => r.cache!),
                  ),
                ),
              ),
            );
            data = Float32Array.from(await logits.data());
            logits.dispose();
          } catch (e) {
            for (const r of batch) this.#finish(r, 'error', e as Error);
            continue;
          }
          this.#steps++;
          batch.forEach((r, j) => {
            if (!r.cancelled) this.#emit(r, data.subarray(j * V, (j + 1) * V));
          });
        }
        // let the server read requests and write responses between steps
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      this.#running = false;
      for (const resolve of this.#idle.splice(0)) resolve();
    }
  }
}

/** The log-probability of `token` in a row of logits, and the `top` most likely tokens. */
export function tokenInfo(row: Float32Array, token: number, top: number): TokenInfo {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  const lse = max + Math.log(sum);
  const out: TokenInfo = { logprob: row[token]! - lse, top: [] };
  if (top > 0) {
    const best: number[] = [];
    for (let i = 0; i < row.length; i++) {
      if (best.length < top || row[i]! > row[best[best.length - 1]!]!) {
        best.push(i);
        best.sort((a, b) => row[b]! - row[a]! || a - b);
        if (best.length > top) best.pop();
      }
    }
    out.top = best.map((i) => [i, row[i]! - lse]);
  }
  return out;
}
