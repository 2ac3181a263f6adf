// LoRA layers (Hu et al. 2021, as Hugging Face PEFT's tuners/lora/layer.py): a Linear or Embedding
// whose frozen weight W gets a trainable low-rank update, W + scaling * B A, with scaling = alpha / r
// (alpha / sqrt(r) with rsLoRA). Each wrapper extends the layer it wraps and shares its weight and
// bias Parameter objects, so the model's own state-dict keys ('...c_attn.weight') do not change and
// the adapter adds only '...c_attn.lora_A.weight' and '...c_attn.lora_B.weight' (PEFT's names less
// PEFT's adapter name, 'default').

import '../ops/tensor-methods.js';
import { AutogradError } from '../errors.js';
import { isGradEnabled, noGrad } from '../autograd/grad-mode.js';
import { scope } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { linear } from '../ops/matmul.js';
import { embedding } from '../ops/indexing.js';
import { kaimingUniform_, normal_, zeros_ } from '../nn/init.js';
import type { Module } from '../nn/module.js';
import { Parameter } from '../nn/parameter.js';
import { Linear, Identity } from '../nn/layers/linear.js';
import { Embedding } from '../nn/layers/embedding.js';
import { Dropout } from '../nn/layers/dropout.js';

/** What one wrapper needs: rank, alpha, dropout on the adapter's input, and rsLoRA's scaling. */
export interface LoraLayerOptions {
  /** The rank of the update. */
  r: number;
  /** PEFT's lora_alpha: the update is scaled by alpha / r. */
  alpha: number;
  /** Dropout on the adapter's input (default 0). */
  dropout: number;
  /** rsLoRA: scale by alpha / sqrt(r) instead. */
  useRslora?: boolean;
}

/** PEFT's update_layer: alpha / r, or alpha / sqrt(r) with use_rslora. */
export function loraScaling(o: LoraLayerOptions): number {
  return o.useRslora ? o.alpha / Math.sqrt(o.r) : o.alpha / o.r;
}

/** W += sign * delta, in place and outside autograd: merge (+1) and unmerge (-1) of both wrappers. */
function shiftWeight_(weight: Parameter, delta: () => Tensor, sign: 1 | -1): void {
  noGrad(() => scope(() => void weight.copy_(sign > 0 ? weight.add(delta()) : weight.sub(delta()))));
}

/** The refusal shared by both wrappers: a merged adapter gets no gradient, so training it would do nothing. */
function refuseTrainingWhileMerged(layer: Module, params: readonly Parameter[]): void {
  if (layer.training && isGradEnabled() && params.some((p) => p.requiresGrad)) {
    throw new AutogradError(
      layer.name,
      'the LoRA adapter is merged into the base weight, so it would get no gradient: call unmergeLora(model) before training, or run the merged model in eval() mode or under noGrad',
    );
  }
}

/**
 * A Linear with a LoRA adapter: forward(x) = x W^T + b + B(A(dropout(x))) * scaling. lora_A is a
 * Linear(in, r) without bias, initialised as PEFT (kaiming-uniform with a = sqrt(5), nn.Linear's
 * default), lora_B a Linear(r, out) without bias, zero, so a fresh adapter leaves the output
 * unchanged. The weights are [r, in] and [out, r]: PEFT makes them nn.Linear(in_features, r) and
 * nn.Linear(r, out_features) for a torch Linear and for GPT-2's Conv1D alike (for a Conv1D PEFT reads
 * in_features, out_features from its [in, out] weight), so the adapter tensors have the same layout
 * whichever way the base layer stores its weight; only the merge transposes B A for a Conv1D
 * (fan_in_fan_out), which mox's [out, in] weight never needs.
 */
export class LoraLinear extends Linear {
  /** The rank of the update. */
  readonly r: number;
  /** PEFT's lora_alpha. */
  readonly alpha: number;
  /** The update's scale: alpha / r (alpha / sqrt(r) with rsLoRA). */
  readonly scaling: number;
  /** Dropout on the adapter's input (Identity without dropout). */
  lora_dropout: Dropout | Identity;
  /** Down-projection A [r, inFeatures]. */
  lora_A: Linear;
  /** Up-projection B [outFeatures, r], zero at the start. */
  lora_B: Linear;
  #merged = false;
  readonly #base: Linear;

  /** A wrapper sharing base's weight and bias, plus A and B of rank opts.r (B zero: it starts as base). */
  constructor(base: Linear, opts: LoraLayerOptions) {
    // Linear's constructor allocates and initialises its own weight; ours is the base's, so the
    // placeholder is freed at once (resetParameters is a no-op here so no random draw is spent on it)
    super(base.inFeatures, base.outFeatures, base.bias !== null, { dtype: base.weight.dtype, device: base.weight.device });
    this.weight.dispose();
    this.bias?.dispose();
    this.weight = base.weight;
    this.bias = base.bias;
    this.#base = base;
    this.training = base.training;
    this.r = opts.r;
    this.alpha = opts.alpha;
    this.scaling = loraScaling(opts);
    this.lora_dropout = opts.dropout > 0 ? new Dropout(opts.dropout) : new Identity();
    const dt = { dtype: base.weight.dtype, device: base.weight.device };
    this.lora_A = new Linear(base.inFeatures, opts.r, false, dt);
    this.lora_B = new Linear(opts.r, base.outFeatures, false, dt);
    // nn.Linear's constructor already drew A from kaiming_uniform(a = sqrt(5)); PEFT draws it again
    // in reset_lora_parameters. One draw gives the same distribution; B starts at zero.
    zeros_(this.lora_B.weight);
    for (const m of [this.lora_dropout, this.lora_A, this.lora_B]) m.training = base.training;
  }

  override resetParameters(): void {
    // the base weight is not ours to reset; the adapter's is (PEFT's reset_lora_parameters)
    if (this.lora_A) {
      kaimingUniform_(this.lora_A.weight, { a: Math.sqrt(5) });
      zeros_(this.lora_B.weight);
    }
  }

  /** The plain Linear this wraps (its weight and bias are this layer's). */
  get baseLayer(): Linear {
    return this.#base;
  }

  /** Whether B A * scaling is currently added into the weight. */
  get merged(): boolean {
    return this.#merged;
  }

  /** scaling * B A, [out, in] (mox's Linear layout; PEFT transposes it for a Conv1D). */
  deltaWeight(): Tensor {
    return this.lora_B.weight.matmul(this.lora_A.weight).mul(this.scaling);
  }

  /** W += scaling * B A, in place, outside autograd. */
  merge(): void {
    if (this.#merged) return;
    shiftWeight_(this.weight, () => this.deltaWeight(), 1);
    this.#merged = true;
  }

  /** W -= scaling * B A: the inverse of merge. */
  unmerge(): void {
    if (!this.#merged) return;
    shiftWeight_(this.weight, () => this.deltaWeight(), -1);
    this.#merged = false;
  }

  override forward(x: Tensor): Tensor {
    if (this.#merged) {
      refuseTrainingWhileMerged(this, [this.lora_A.weight, this.lora_B.weight]);
      return linear(x, this.weight, this.bias);
    }
    const base = linear(x, this.weight, this.bias);
    return base.add(this.lora_B.forward(this.lora_A.forward(this.lora_dropout.forward(x))).mul(this.scaling));
  }

  override extraRepr(): string {
    return `${super.extraRepr()}, r=${this.r}, lora_alpha=${this.alpha}`;
  }
}

/**
 * An Embedding with a LoRA adapter, as PEFT's lora.Embedding: lora_embedding_A [r, num] starts at
 * zero and lora_embedding_B [dim, r] at N(0, 1) (Microsoft's loralib, which PEFT follows), and
 * forward(ids) = W[ids] + (A^T)[ids] B^T * scaling. PEFT applies no dropout to an embedding adapter
 * (it makes the dropout layer and never calls it), so neither does this.
 */
export class LoraEmbedding extends Embedding {
  /** The rank of the update. */
  readonly r: number;
  /** PEFT's lora_alpha. */
  readonly alpha: number;
  /** The update's scale: alpha / r (alpha / sqrt(r) with rsLoRA). */
  readonly scaling: number;
  /** A [r, numEmbeddings], zero at the start (PEFT's lora_embedding_A). */
  lora_embedding_A: Parameter;
  /** B [embeddingDim, r] (PEFT's lora_embedding_B). */
  lora_embedding_B: Parameter;
  #merged = false;
  readonly #base: Embedding;

  /** A wrapper sharing base's table, plus A and B of rank opts.r (A zero: it starts as base). */
  constructor(base: Embedding, opts: LoraLayerOptions) {
    super(base.numEmbeddings, base.embeddingDim, { paddingIdx: base.paddingIdx, dtype: base.weight.dtype, device: base.weight.device });
    this.weight.dispose();
    this.weight = base.weight;
    this.#base = base;
    this.training = base.training;
    this.r = opts.r;
    this.alpha = opts.alpha;
    this.scaling = loraScaling(opts);
    const dt = { dtype: base.weight.dtype, device: base.weight.device };
    this.lora_embedding_A = Parameter.zeros([opts.r, base.numEmbeddings], dt);
    this.lora_embedding_B = Parameter.zeros([base.embeddingDim, opts.r], dt);
    normal_(this.lora_embedding_B);
  }

  override resetParameters(): void {
    // Embedding's constructor calls this before the adapter exists: nothing to do then (and no
    // random draw spent on a placeholder weight)
    if (this.lora_embedding_A) {
      zeros_(this.lora_embedding_A);
      normal_(this.lora_embedding_B);
    }
  }

  /** The wrapped Embedding. */
  get baseLayer(): Embedding {
    return this.#base;
  }

  /** Whether the update is merged into the weight. */
  get merged(): boolean {
    return this.#merged;
  }

  /** scaling * (B A)^T, [num, dim] like the embedding's weight (PEFT's get_delta_weight). */
  deltaWeight(): Tensor {
    return this.lora_embedding_B.matmul(this.lora_embedding_A).transpose(0, 1).mul(this.scaling);
  }

  /** Adds the update into the weight (faster inference; unmerge() takes it out). */
  merge(): void {
    if (this.#merged) return;
    shiftWeight_(this.weight, () => this.deltaWeight(), 1);
    this.#merged = true;
  }

  /** Takes a merged update back out of the weight. */
  unmerge(): void {
    if (!this.#merged) return;
    shiftWeight_(this.weight, () => this.deltaWeight(), -1);
    this.#merged = false;
  }

  override forward(ids: Tensor): Tensor {
    if (this.#merged) {
      refuseTrainingWhileMerged(this, [this.lora_embedding_A, this.lora_embedding_B]);
      return embedding(ids, this.weight, this.paddingIdx);
    }
    const base = embedding(ids, this.weight, this.paddingIdx);
    const afterA = embedding(ids, this.lora_embedding_A.transpose(0, 1), this.paddingIdx);
    return base.add(afterA.matmul(this.lora_embedding_B.transpose(0, 1)).mul(this.scaling));
  }

  override extraRepr(): string {
    return `${super.extraRepr()}, r=${this.r}, lora_alpha=${this.alpha}`;
  }
}

/** A LoRA wrapper of either kind. */
export type LoraLayer = LoraLinear | LoraEmbedding;

/** Whether a module is a LoRA wrapper (LoraLinear or LoraEmbedding). */
export function isLoraLayer(m: Module): m is LoraLayer {
  return m instanceof LoraLinear || m instanceof LoraEmbedding;
}
