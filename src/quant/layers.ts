// The quantized layers: a Linear and an Embedding whose weight is a QuantizedWeight (ops/quant.ts).
// Their state dict keeps torch's names: 'weight' (the packed rows, int32 words on the device; I8 or U8
// in a file, see files.ts), 'weight_scale', and 'bias' (float, frozen). A language-model head tied to
// an embedding (GPT-2's lm_head = wte) holds that embedding instead of a weight, so the table is
// stored once and the state dict names it once, as Hugging Face omits a tied lm_head.weight.

import '../ops/tensor-methods.js';
import { Module } from '../nn/module.js';
import { Parameter } from '../nn/parameter.js';
import type { Tensor } from '../tensor/tensor.js';
import { QuantizedWeight, quantizedEmbedding, quantizedLinear } from '../ops/quant.js';
import type { QuantLayout, QuantScheme } from '../backend/quant-format.js';

/** Registers a QuantizedWeight's tensors as a module's buffers (weight, weight_scale, weight_row_sums). */
function holdWeight(m: Module, w: QuantizedWeight): void {
  m.registerBuffer('weight', w.data);
  m.registerBuffer('weight_scale', w.scales);
  // derived from the weight when loaded, so not saved
  if (w.rowSums) m.registerBuffer('weight_row_sums', w.rowSums, false);
}

function heldWeight(m: Module, layout: QuantLayout): QuantizedWeight {
  return new QuantizedWeight(layout, m.buffer('weight')!, m.buffer('weight_scale')!, m.buffer('weight_row_sums'));
}

export class QuantizedEmbedding extends Module {
  /** Number of ids (rows of the table). */
  readonly numEmbeddings: number;
  /** Size of each vector. */
  readonly embeddingDim: number;
  /** How the table is packed. */
  readonly layout: QuantLayout;

  /** An embedding over a quantized table. */
  constructor(weight: QuantizedWeight) {
    super();
    this.layout = weight.layout;
    this.numEmbeddings = weight.layout.rows;
    this.embeddingDim = weight.layout.cols;
    holdWeight(this, weight);
  }

  /** The quantization scheme. */
  get scheme(): QuantScheme {
    return this.layout.scheme;
  }

  /** The table as a QuantizedWeight over this module's current buffers (they move with `to`). */
  get qweight(): QuantizedWeight {
    return heldWeight(this, this.layout);
  }

  forward(ids: Tensor): Tensor {
    return quantizedEmbedding(ids, this.qweight);
  }

  override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}, scheme=${this.scheme}`;
  }
}

export class QuantizedLinear extends Module {
  /** Size of each input sample. */
  readonly inFeatures: number;
  /** Size of each output sample. */
  readonly outFeatures: number;
  /** How the weight is packed. */
  readonly layout: QuantLayout;
  /** Float bias [outFeatures] (frozen), or null. */
  bias: Parameter | null;
  // private, so the embedding is not also a child of this module (it is its parent's child already)
  readonly #tiedTo: QuantizedEmbedding | null;

  /** weight: the quantized weight [out, in], or the embedding it is tied to. bias: float [out], frozen. */
  constructor(weight: QuantizedWeight | QuantizedEmbedding, bias: Tensor | null = null) {
    super();
    this.layout = weight instanceof QuantizedEmbedding ? weight.layout : weight.layout;
    this.outFeatures = this.layout.rows;
    this.inFeatures = this.layout.cols;
    this.#tiedTo = weight instanceof QuantizedEmbedding ? weight : null;
    if (!(weight instanceof QuantizedEmbedding)) holdWeight(this, weight);
    this.bias = bias ? new Parameter(bias.detach(), false) : null;
  }

  /** The quantization scheme. */
  get scheme(): QuantScheme {
    return this.layout.scheme;
  }

  /** The embedding whose table is this layer's weight (a tied head), or null when it holds its own. */
  get tiedTo(): QuantizedEmbedding | null {
    return this.#tiedTo;
  }

  /** The weight as a QuantizedWeight over this module's current buffers (or the tied embedding's). */
  get qweight(): QuantizedWeight {
    return this.tiedTo ? this.tiedTo.qweight : heldWeight(this, this.layout);
  }

  forward(x: Tensor): Tensor {
    return quantizedLinear(x, this.qweight, this.bias);
  }

  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${this.bias ? 'True' : 'False'}, scheme=${this.scheme}${this.tiedTo ? ', tied' : ''}`;
  }
}
