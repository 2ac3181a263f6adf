// Embedding: a lookup table [num, dim] indexed by integer ids; the padding row starts at zero and
// gets no gradient, as in PyTorch.

import '../../ops/tensor-methods.js';
import type { Tensor } from '../../tensor/tensor.js';
import { ValueError } from '../../errors.js';
import { noGrad } from '../../autograd/grad-mode.js';
import { embedding } from '../../ops/indexing.js';
import { normal_ } from '../init.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';
import { checkFeatures, type LayerOptions } from './linear.js';

/** Options of Embedding: the padding id, dtype and device. */
export interface EmbeddingLayerOptions extends LayerOptions {
  /** This id's row stays zero-initialised and gets no gradient; negative counts from the end. */
  paddingIdx?: number | null;
}

/** Lookup table of vectors by integer id, like torch.nn.Embedding. */
export class Embedding extends Module {
  /** Number of ids (rows of the table). */
  readonly numEmbeddings: number;
  /** Size of each vector. */
  readonly embeddingDim: number;
  /** The id whose row stays zero and gets no gradient, or null. */
  readonly paddingIdx: number | null;
  /** The table [numEmbeddings, embeddingDim]. */
  weight: Parameter;

  /** A table of numEmbeddings vectors of embeddingDim, drawn from N(0, 1). */
  constructor(numEmbeddings: number, embeddingDim: number, opts: EmbeddingLayerOptions = {}) {
    super();
    checkFeatures('Embedding', { numEmbeddings, embeddingDim });
    this.numEmbeddings = numEmbeddings;
    this.embeddingDim = embeddingDim;
    let pad = opts.paddingIdx ?? null;
    if (pad !== null) {
      if (!Number.isInteger(pad) || pad >= numEmbeddings || pad < -numEmbeddings) {
        throw new ValueError('Embedding', `paddingIdx must be an integer in [-${numEmbeddings}, ${numEmbeddings}), got ${pad}`);
      }
      if (pad < 0) pad += numEmbeddings;
    }
    this.paddingIdx = pad;
    this.weight = Parameter.zeros([numEmbeddings, embeddingDim], { dtype: opts.dtype, device: opts.device });
    this.resetParameters();
  }

  /** PyTorch's default: N(0, 1), with the padding row zeroed. */
  resetParameters(): void {
    normal_(this.weight);
    if (this.paddingIdx !== null) {
      const idx = this.paddingIdx;
      noGrad(() => {
        const row = this.weight.narrow(0, idx, 1);
        row.zero_();
        row.dispose();
      });
    }
  }

  /** Looks up the vector of each id: int32 ids [...] give [..., embeddingDim]. */
  forward(ids: Tensor): Tensor {
    return embedding(ids, this.weight, this.paddingIdx);
  }

  override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}${this.paddingIdx !== null ? `, padding_idx=${this.paddingIdx}` : ''}`;
  }
}
