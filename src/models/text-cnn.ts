// Kim's (2014) convolutional sentence classifier: word embeddings, parallel 1-D convolutions over
// time with several window sizes (numFilters feature maps each), ReLU, max-over-time pooling, the
// pooled features concatenated, dropout, and a linear layer to the class logits.
//
// A 1-D convolution of width k over [L, D] embeddings is a Conv2d with kernel [k, D] on [N, 1, L, D]
// (one input channel, the embedding dimension fully covered), giving [N, F, L - k + 1, 1]. Padding
// ids embed to zero (Embedding's paddingIdx row), so windows over padding only see the bias: the
// model is the same whatever the amount of padding, once a row has at least max(kernelSizes) pads.
// Sequences shorter than the widest window are padded with paddingIdx up to it.

import '../ops/tensor-methods.js';
import { ValueError, ShapeError, fmtShape } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { concat, pad } from '../ops/join.js';
import { Module } from '../nn/module.js';
import { Linear } from '../nn/layers/linear.js';
import { Embedding } from '../nn/layers/embedding.js';
import { Dropout } from '../nn/layers/dropout.js';
import { Conv2d } from '../nn/layers/conv.js';
import { uniform_ } from '../nn/init.js';
import { noGrad } from '../autograd/grad-mode.js';

/** A text CNN's architecture (Kim 2014): vocabulary, widths, classes, filters and dropout. */
export interface TextCNNConfig {
  /** Number of token ids. */
  vocabSize: number;
  /** Embedding width. */
  embedDim: number;
  /** Number of output classes. */
  numClasses: number;
  /** Window widths, one bank of filters each (default [3, 4, 5]). */
  kernelSizes: number[];
  /** Filters per window width (default 100). */
  numFilters: number;
  /** Dropout on the pooled features (default 0.5). */
  dropout: number;
  /** The padding id: its embedding is zero and gets no gradient (default 0, WordTokenizer's <pad>); null for none. */
  paddingIdx: number | null;
  /**
   * The embeddings start at U(-a, a) for this a (Kim 2014's CNN-rand: 0.25, the spread of his
   * pretrained vectors), the padding row zero; null keeps Embedding's N(0, 1) (default null).
   */
  embeddingInit: number | null;
}

/** Options of the TextCNN constructor: the required sizes and any other config field. */
export type TextCNNOptions = Pick<TextCNNConfig, 'vocabSize' | 'embedDim' | 'numClasses'> & Partial<TextCNNConfig>;

export class TextCNN extends Module {
  /** The architecture the model was built with. */
  readonly config: TextCNNConfig;
  /** Token embedding. */
  embedding: Embedding;
  /** One convolution per window width. */
  convs: Conv2d[];
  /** Dropout on the pooled features. */
  drop: Dropout;
  /** Output layer: pooled features to class logits. */
  fc: Linear;

  /** A text CNN with fresh weights: vocabSize, embedDim and numClasses are required. */
  constructor(opts: TextCNNOptions) {
    super();
    const cfg: TextCNNConfig = {
      vocabSize: opts.vocabSize,
      embedDim: opts.embedDim,
      numClasses: opts.numClasses,
      kernelSizes: [...(opts.kernelSizes ?? [3, 4, 5])],
      numFilters: opts.numFilters ?? 100,
      dropout: opts.dropout ?? 0.5,
      paddingIdx: opts.paddingIdx === undefined ? 0 : opts.paddingIdx,
      embeddingInit: opts.embeddingInit ?? null,
    };
    for (const k of ['vocabSize', 'embedDim', 'numClasses', 'numFilters'] as const) {
      if (!Number.isInteger(cfg[k]) || cfg[k] < 1) throw new ValueError('TextCNN', `${k} must be a positive integer, got ${cfg[k]}`);
    }
    if (cfg.kernelSizes.length === 0 || !cfg.kernelSizes.every((k) => Number.isInteger(k) && k >= 1)) {
      throw new ValueError('TextCNN', `kernelSizes must be a non-empty list of positive integers, got [${cfg.kernelSizes.join(', ')}]`);
    }
    if (cfg.embeddingInit !== null && !(cfg.embeddingInit > 0 && Number.isFinite(cfg.embeddingInit))) {
      throw new ValueError('TextCNN', `embeddingInit must be a positive number or null, got ${cfg.embeddingInit}`);
    }
    if (!(cfg.dropout >= 0 && cfg.dropout < 1)) throw new ValueError('TextCNN', `dropout must be in [0, 1), got ${cfg.dropout}`);
    this.config = cfg;
    this.embedding = new Embedding(cfg.vocabSize, cfg.embedDim, { paddingIdx: cfg.paddingIdx });
    if (cfg.embeddingInit !== null) {
      const a = cfg.embeddingInit;
      uniform_(this.embedding.weight, -a, a);
      const pad = this.embedding.paddingIdx;
      if (pad !== null)
        noGrad(() => {
          const row = this.embedding.weight.narrow(0, pad, 1);
          row.zero_();
          row.dispose();
        });
    }
    this.convs = cfg.kernelSizes.map((k) => new Conv2d(1, cfg.numFilters, [k, cfg.embedDim]));
    this.drop = new Dropout(cfg.dropout);
    this.fc = new Linear(cfg.numFilters * cfg.kernelSizes.length, cfg.numClasses);
  }

  /** The pooled features [N, numFilters * kernelSizes.length] (before dropout and the linear layer). */
  features(ids: Tensor): Tensor {
    if (ids.ndim !== 2) throw new ShapeError('TextCNN', `ids must be [N, L], got ${fmtShape(ids.shape)}`);
    const [n, len] = ids.shape as [number, number];
    const maxK = Math.max(...this.config.kernelSizes);
    if (len < maxK) {
      if (this.config.paddingIdx === null)
        throw new ShapeError('TextCNN', `sequences must be at least ${maxK} long (the widest window) without a paddingIdx, got ${len}`);
      ids = pad(ids, [0, maxK - len], this.config.paddingIdx);
    }
    const x = this.embedding.forward(ids).reshape(n, 1, Math.max(len, maxK), this.config.embedDim); // [N, 1, L, D]
    const pooled = this.convs.map((conv) => {
      const y = conv.forward(x).relu(); // [N, F, L - k + 1, 1]
      return y.reshape(n, this.config.numFilters, y.shape[2]!).max(2); // max over time: [N, F]
    });
    return pooled.length === 1 ? pooled[0]! : concat(pooled, 1);
  }

  /** ids [N, L] int32 → logits [N, numClasses]. */
  forward(ids: Tensor): Tensor {
    return this.fc.forward(this.drop.forward(this.features(ids)));
  }
}
