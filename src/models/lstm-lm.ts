// An LSTM language model: Embedding → (dropout) → LSTM (numLayers stacked, dropout between layers)
// → dropout → Dense (Linear) over the vocabulary, as the word/character language models of
// Zaremba et al. and PyTorch's word_language_model example. With tieWeights the output layer
// shares the embedding matrix (Press & Wolf), which needs hiddenSize === embedDim.
//
// forward(ids, state?) returns the logits and the final [h, c] state, so a long text can be fed in
// pieces (truncated backpropagation through time): running [a, b] in one call and a then b with the
// state carried over give the same logits.

import '../ops/tensor-methods.js';
import { ValueError, ShapeError, fmtShape } from '../errors.js';
import { noGrad } from '../autograd/grad-mode.js';
import { scope, keep } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { tensor } from '../tensor/create.js';
import { Generator, globalGenerator } from '../tensor/random.js';
import { crossEntropy } from '../ops/loss.js';
import { uniform_, zeros_ } from '../nn/init.js';
import { Module } from '../nn/module.js';
import { Linear } from '../nn/layers/linear.js';
import { Embedding } from '../nn/layers/embedding.js';
import { Dropout } from '../nn/layers/dropout.js';
import { LSTM } from '../nn/layers/rnn.js';
import { type SamplingOptions, sampleLogits } from './sampling.js';

/** An LSTM language model's architecture. */
export interface LSTMLanguageModelConfig {
  /** Number of token ids. */
  vocabSize: number;
  /** Embedding width. */
  embedDim: number;
  /** Features of each LSTM layer's hidden state. */
  hiddenSize: number;
  /** Stacked LSTM layers (default 2: Embedding → LSTM → LSTM → Dense). */
  numLayers: number;
  /** Dropout on the embeddings, between LSTM layers and before the output layer (default 0). */
  dropout: number;
  /** The output layer's weight is the embedding's (default false; needs hiddenSize === embedDim). */
  tieWeights: boolean;
}

/** Options of the LSTMLanguageModel constructor: the required sizes, any other config field, and a generator. */
export type LSTMLanguageModelOptions = Pick<LSTMLanguageModelConfig, 'vocabSize' | 'embedDim' | 'hiddenSize'> &
  Partial<LSTMLanguageModelConfig> & {
    /** Generator for the initial weights and dropout masks (default: the global one). */
    generator?: Generator;
  };

/** [h, c], each [numLayers, B, hiddenSize]. */
export type LSTMState = [Tensor, Tensor];

/** Sampling settings of LSTMLanguageModel.generate. */
export type LSTMGenerateOptions = SamplingOptions;

export class LSTMLanguageModel extends Module {
  /** The architecture the model was built with. */
  readonly config: LSTMLanguageModelConfig;
  /** Token embedding. */
  encoder: Embedding;
  /** Dropout on the embeddings and before the output layer. */
  drop: Dropout;
  /** The stacked LSTM. */
  rnn: LSTM;
  /** Output layer: hidden state to logits over the vocabulary. */
  decoder: Linear;

  /** An LSTM language model with fresh weights: vocabSize, embedDim and hiddenSize are required. */
  constructor(opts: LSTMLanguageModelOptions) {
    super();
    const cfg: LSTMLanguageModelConfig = {
      vocabSize: opts.vocabSize,
      embedDim: opts.embedDim,
      hiddenSize: opts.hiddenSize,
      numLayers: opts.numLayers ?? 2,
      dropout: opts.dropout ?? 0,
      tieWeights: opts.tieWeights ?? false,
    };
    for (const k of ['vocabSize', 'embedDim', 'hiddenSize', 'numLayers'] as const) {
      if (!Number.isInteger(cfg[k]) || cfg[k] < 1)
        throw new ValueError('LSTMLanguageModel', `${k} must be a positive integer, got ${cfg[k]}`);
    }
    if (!(cfg.dropout >= 0 && cfg.dropout < 1)) throw new ValueError('LSTMLanguageModel', `dropout must be in [0, 1), got ${cfg.dropout}`);
    if (cfg.tieWeights && cfg.hiddenSize !== cfg.embedDim) {
      throw new ValueError('LSTMLanguageModel', `tieWeights needs hiddenSize === embedDim, got ${cfg.hiddenSize} and ${cfg.embedDim}`);
    }
    this.config = cfg;
    const gen = opts.generator;
    this.encoder = new Embedding(cfg.vocabSize, cfg.embedDim);
    this.drop = new Dropout(cfg.dropout, gen ? { generator: gen } : {});
    this.rnn = new LSTM(cfg.embedDim, cfg.hiddenSize, {
      numLayers: cfg.numLayers,
      batchFirst: true,
      dropout: cfg.dropout,
      ...(gen ? { generator: gen } : {}),
    });
    this.decoder = new Linear(cfg.hiddenSize, cfg.vocabSize);
    if (cfg.tieWeights) {
      this.decoder.weight.dispose();
      this.decoder.weight = this.encoder.weight;
    }
    this.initWeights(gen);
  }

  /** PyTorch's word_language_model init: U(-0.1, 0.1) for the embedding and output layer, zero output
   *  bias; the LSTM keeps torch's U(-1/sqrt(H), 1/sqrt(H)). */
  initWeights(generator: Generator = globalGenerator): void {
    uniform_(this.encoder.weight, -0.1, 0.1, generator);
    if (!this.config.tieWeights) uniform_(this.decoder.weight, -0.1, 0.1, generator);
    if (this.decoder.bias) zeros_(this.decoder.bias);
  }

  /** ids [B, T] int32 → logits [B, T, V] and the state after the last step (feed it to the next call). */
  forward(
    ids: Tensor,
    state?: LSTMState | null,
  ): {
    /** Logits over the vocabulary at every position. */
    logits: Tensor;
    /** The LSTM state after the last position, to continue from. */
    state: LSTMState;
  } {
    if (ids.ndim !== 2) throw new ShapeError('LSTMLanguageModel', `ids must be [B, T], got ${fmtShape(ids.shape)}`);
    const x = this.drop.forward(this.encoder.forward(ids));
    const [out, [h, c]] = this.rnn.forward(x, state ?? null);
    const logits = this.decoder.forward(this.drop.forward(out));
    return { logits, state: [h, c] };
  }

  /** The mean cross-entropy of predicting targets [B, T] (ignoreIndex -1), with the final state. */
  loss(
    ids: Tensor,
    targets: Tensor,
    state?: LSTMState | null,
  ): {
    /** Mean cross-entropy of the next-token predictions. */
    loss: Tensor;
    /** Logits over the vocabulary at every position. */
    logits: Tensor;
    /** The LSTM state after the last position, to continue from. */
    state: LSTMState;
  } {
    const { logits, state: s } = this.forward(ids, state);
    const [b, t] = ids.shape as [number, number];
    if (targets.shape.length !== 2 || targets.shape[0] !== b || targets.shape[1] !== t) {
      throw new ShapeError('LSTMLanguageModel.loss', `targets must be ${fmtShape([b, t])} like ids, got ${fmtShape(targets.shape)}`);
    }
    const loss = crossEntropy(logits.reshape(b * t, this.config.vocabSize), targets.reshape(b * t), { ignoreIndex: -1 });
    return { loss, logits, state: s };
  }

  /** Detaches the state from the graph (truncated BPTT between chunks). */
  static detachState(state: LSTMState): LSTMState {
    return [state[0].detach(), state[1].detach()];
  }

  /**
   * Continues each prompt row by maxNewTokens tokens: the prompt is run once, then one token at a
   * time with the state carried over. temperature 0 is greedy; topK and topP restrict sampling. Eval mode,
   * no graph (the mode is restored afterwards). Returns the new tokens per row. A model on the GPU
   * needs generateAsync (each step's logits are read back, asynchronously there).
   */
  generate(prompt: number[] | number[][], opts: LSTMGenerateOptions): number[][] {
    const g = this.generation(prompt, opts);
    let r = g.next();
    try {
      while (!r.done) r = g.next(Float32Array.from(r.value.dataSync()));
      return r.value;
    } finally {
      if (!r.done) g.return([]);
    }
  }

  /** generate() on any device: each step's logits are read back with await. */
  async generateAsync(prompt: number[] | number[][], opts: LSTMGenerateOptions): Promise<number[][]> {
    const g = this.generation(prompt, opts);
    let r = g.next();
    try {
      while (!r.done) r = g.next(Float32Array.from(await r.value.data()));
      return r.value;
    } finally {
      if (!r.done) g.return([]);
    }
  }

  /** The generation loop: yields each step's last logits [B, V] and takes them back read as numbers. */
  private *generation(prompt: number[] | number[][], opts: LSTMGenerateOptions): globalThis.Generator<Tensor, number[][], Float32Array> {
    const rows = Array.isArray(prompt[0]) ? (prompt as number[][]) : [prompt as number[]];
    const { maxNewTokens } = opts;
    const V = this.config.vocabSize;
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0)
      throw new ValueError('LSTMLanguageModel.generate', `maxNewTokens must be a non-negative integer, got ${maxNewTokens}`);
    const t0 = rows[0]?.length ?? 0;
    if (t0 === 0) throw new ValueError('LSTMLanguageModel.generate', 'the prompt must hold at least one token');
    for (const r of rows) {
      if (r.length !== t0) throw new ValueError('LSTMLanguageModel.generate', 'every prompt in a batch must have the same length');
      for (const id of r)
        if (!Number.isInteger(id) || id < 0 || id >= V)
          throw new ValueError('LSTMLanguageModel.generate', `token id ${id} is outside the vocabulary [0, ${V})`);
    }
    const gen = opts.generator ?? (opts.seed !== undefined ? new Generator(opts.seed) : globalGenerator);
    const sampling = { temperature: opts.temperature ?? 1, topK: opts.topK ?? null, topP: opts.topP ?? null };
    const b = rows.length;
    const out: number[][] = rows.map(() => []);
    const wasTraining = this.training;
    const device = this.device;
    this.eval();
    let state: LSTMState | null = null;
    let feed: number[][] = rows;
    try {
      for (let step = 0; step < maxNewTokens; step++) {
        const prev: LSTMState | null = state;
        const [logits, next] = scope(() =>
          noGrad(() => {
            const t = feed[0]!.length;
            const ids = tensor(Int32Array.from(feed.flat()), { shape: [b, t], dtype: 'int32', device });
            const r = this.forward(ids, prev);
            return [keep(r.logits.narrow(1, t - 1, 1).contiguous()), [keep(r.state[0]), keep(r.state[1])] as LSTMState] as const;
          }),
        );
        if (prev) {
          prev[0].dispose();
          prev[1].dispose();
        }
        state = next;
        let last: Float32Array;
        try {
          last = yield logits;
        } finally {
          logits.dispose();
        }
        feed = rows.map((_, r) => {
          const tok = sampleLogits(last.subarray(r * V, (r + 1) * V), sampling, gen);
          out[r]!.push(tok);
          return [tok];
        });
      }
    } finally {
      if (state) {
        state[0].dispose();
        state[1].dispose();
      }
      this.train(wasTraining);
    }
    return out;
  }
}
