// GPT, as Karpathy's nanoGPT (model.py): token and position embeddings, pre-LayerNorm Transformer
// blocks (causal self-attention, GELU-tanh MLP), a final LayerNorm and a language-model head tied to
// the token embedding. Parameter names are nanoGPT's / Hugging Face GPT2LMHeadModel's
// ('transformer.wte.weight', 'transformer.h.0.attn.c_attn.weight', ...), with Linear's [out, in]
// weight layout (HF's Conv1D stores the transpose). Generation (sampling, the cached loop) is in
// gpt-generate.ts.

import { QuantizedEmbedding, QuantizedLinear } from '../quant/layers.js';
import '../ops/tensor-methods.js';
import { ValueError, ShapeError, fmtShape } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { arange } from '../tensor/create.js';
import { type Generator, globalGenerator } from '../tensor/random.js';
import { crossEntropy } from '../ops/loss.js';
import { normal_, zeros_ } from '../nn/init.js';
import { Module } from '../nn/module.js';
import { Linear } from '../nn/layers/linear.js';
import { Embedding } from '../nn/layers/embedding.js';
import { LayerNorm } from '../nn/layers/normalization.js';
import { Dropout } from '../nn/layers/dropout.js';
import { ModuleDict, ModuleList } from '../nn/layers/containers.js';
import { KVCache, TransformerBlock, checkHeads } from '../nn/layers/transformer.js';

/** A GPT's architecture and training settings (nanoGPT's GPTConfig). */
export interface GPTConfig {
  /** Number of token ids. */
  vocabSize: number;
  /** Longest sequence (context length). */
  blockSize: number;
  /** Number of Transformer blocks. */
  nLayer: number;
  /** Attention heads per block. */
  nHead: number;
  /** Model width. */
  nEmbd: number;
  /** Dropout on embeddings, attention weights and residual branches (default 0). */
  dropout: number;
  /** Biases in the Linear layers and LayerNorms (default true, as GPT-2). */
  bias: boolean;
  /** lm_head.weight is transformer.wte.weight (default true, as GPT-2). */
  tiedEmbeddings: boolean;
  /**
   * The MLP's GELU: 'tanh' (GPT-2's approximation, Hugging Face's "gelu_new"; the default) or 'none'
   * (exact, with erf: Hugging Face's "gelu", nanoGPT's nn.GELU()).
   */
  geluApproximate?: 'none' | 'tanh';
  /**
   * Attention heads removed, per layer ({ [layer]: heads }), numbered as in the unpruned model: Hugging
   * Face's config.pruned_heads. Those layers are built with the other heads only (mox.prune.pruneHeads
   * removes heads from a trained model and records them here). Absent when no head is pruned.
   */
  prunedHeads?: Record<number, number[]>;
}

/**
 * Checks a prunedHeads map for a model of nLayer layers of nHead heads, and returns it normalised: layer
 * keys in order, heads ascending and unique, layers without heads left out; undefined when empty.
 */
export function normalizePrunedHeads(
  op: string,
  v: Record<number, readonly number[]> | undefined,
  nLayer: number,
  nHead: number,
): Record<number, number[]> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v))
    throw new ValueError(op, `prunedHeads must map layers to lists of heads ({ "0": [1, 2] }), got ${JSON.stringify(v)}`);
  const out: Record<number, number[]> = {};
  const layers = Object.keys(v)
    .map((k) => {
      const l = Number(k);
      if (!/^\d+$/.test(k) || l >= nLayer) throw new ValueError(op, `prunedHeads names layer ${k}, the model has layers 0..${nLayer - 1}`);
      return l;
    })
    .sort((a, b) => a - b);
  for (const l of layers) {
    const heads = (v as Record<string, unknown>)[String(l)];
    if (!Array.isArray(heads)) throw new ValueError(op, `prunedHeads of layer ${l} must be a list of heads, got ${JSON.stringify(heads)}`);
    const fresh = checkHeads(`${op} (prunedHeads of layer ${l})`, heads as number[], nHead, []);
    if (fresh.length) out[l] = fresh;
  }
  return Object.keys(out).length ? out : undefined;
}

/** Options of the GPT constructor: the required sizes, any other GPTConfig field, and a generator. */
export type GPTOptions = Pick<GPTConfig, 'vocabSize' | 'blockSize' | 'nLayer' | 'nHead' | 'nEmbd'> &
  Partial<GPTConfig> & {
    /** Generator for the initial weights (default: the global one, so mox.seed(n) fixes them). */
    generator?: Generator;
  };

/** Keys and values of every layer for the tokens seen so far (one nn KVCache per block); dispose() when done. */
export class GPTCache {
  /** One KV cache per block. */
  readonly layers: KVCache[];
  /** An empty cache for a model of nLayer blocks. */
  constructor(nLayer: number) {
    this.layers = Array.from({ length: nLayer }, () => new KVCache());
  }
  /** Number of cached positions. */
  get length(): number {
    return this.layers[0]?.length ?? 0;
  }
  /** Frees every cached key and value. */
  dispose(): void {
    for (const l of this.layers) l.clear();
  }
}

/**
 * nanoGPT's `transformer`: nn.ModuleDict(wte, wpe, drop, h, ln_f), so its parameters are named
 * 'transformer.wte.weight', 'transformer.h.0.attn.c_attn.weight', ... Its forward is Hugging Face's
 * GPT2Model's: token ids to the hidden states after ln_f (the GPT adds the language-model head).
 */
export class GPTTransformer extends ModuleDict {
  /** The body of a GPT of the given configuration. */
  constructor(cfg: GPTConfig) {
    // built in this order (wte, wpe, drop, h, ln_f) so the global generator's draws stay as they were
    super({
      wte: new Embedding(cfg.vocabSize, cfg.nEmbd),
      wpe: new Embedding(cfg.blockSize, cfg.nEmbd),
      drop: new Dropout(cfg.dropout),
      h: new ModuleList(
        Array.from(
          { length: cfg.nLayer },
          (_, i) =>
            new TransformerBlock(cfg.nEmbd, cfg.nHead, {
              dropout: cfg.dropout,
              bias: cfg.bias,
              geluApproximate: cfg.geluApproximate,
              prunedHeads: cfg.prunedHeads?.[i],
            }),
        ),
      ),
      ln_f: new LayerNorm(cfg.nEmbd, { bias: cfg.bias }),
    });
  }

  /** Token embedding (or its quantized form). */
  get wte(): Embedding | QuantizedEmbedding {
    return this.#child('wte') as Embedding | QuantizedEmbedding;
  }
  /** Position embedding (or its quantized form). */
  get wpe(): Embedding | QuantizedEmbedding {
    return this.#child('wpe') as Embedding | QuantizedEmbedding;
  }
  /** Dropout on the summed embeddings. */
  get drop(): Dropout {
    return this.#child('drop') as Dropout;
  }
  /** The blocks, as an array (nanoGPT's `h` is a ModuleList; a fresh array on each read). */
  get h(): TransformerBlock[] {
    return [...(this.#child('h') as ModuleList)] as TransformerBlock[];
  }
  /** The final LayerNorm. */
  get ln_f(): LayerNorm {
    return this.#child('ln_f') as LayerNorm;
  }

  #child(key: string): Module {
    const m = this.get(key);
    if (!m) throw new ValueError('GPT', `the transformer has no '${key}'`);
    return m;
  }

  /** idx [B, T] int32 -> hidden states [B, T, C]; with a cache, positions start after the cached ones. */
  override forward(idx: Tensor, cache?: GPTCache): Tensor {
    if (idx.ndim !== 2) throw new ShapeError('GPT', `idx must be [B, T], got ${fmtShape(idx.shape)}`);
    const past = cache?.length ?? 0;
    const t = idx.shape[1]!;
    const pos = arange(past, past + t, 1, { dtype: 'int32', device: idx.device });
    let x = this.drop.forward(this.wte.forward(idx).add(this.wpe.forward(pos)));
    this.h.forEach((block, i) => {
      x = block.forward(x, cache?.layers[i]);
    });
    return this.ln_f.forward(x);
  }
}

/** Options of GPT.forward: a KV cache to run against, and whether to return the last position only. */
export interface GPTForwardOptions {
  /** Run the new positions against (and append them to) this cache. */
  cache?: GPTCache;
  /** Only the last position's logits ([B, 1, V]), as nanoGPT does at inference. */
  lastOnly?: boolean;
}

export class GPT extends Module {
  /** The architecture the model was built with. */
  readonly config: GPTConfig;
  /** The body: embeddings, blocks and the final LayerNorm, under GPT-2's names. */
  transformer: GPTTransformer;
  /** The language-model head: a Linear, or a QuantizedLinear once quantized (mox.quantize). */
  lm_head: Linear | QuantizedLinear;

  /** A GPT with fresh weights (nanoGPT's initialisation): the sizes are required, the rest default as GPT-2. */
  constructor(opts: GPTOptions) {
    super();
    const cfg: GPTConfig = {
      vocabSize: opts.vocabSize,
      blockSize: opts.blockSize,
      nLayer: opts.nLayer,
      nHead: opts.nHead,
      nEmbd: opts.nEmbd,
      dropout: opts.dropout ?? 0,
      bias: opts.bias ?? true,
      tiedEmbeddings: opts.tiedEmbeddings ?? true,
      geluApproximate: opts.geluApproximate ?? 'tanh',
    };
    if (cfg.geluApproximate !== 'tanh' && cfg.geluApproximate !== 'none')
      throw new ValueError('GPT', `geluApproximate must be 'tanh' or 'none', got '${String(cfg.geluApproximate)}'`);
    for (const k of ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd'] as const) {
      if (!Number.isInteger(cfg[k]) || cfg[k] < 1) throw new ValueError('GPT', `${k} must be a positive integer, got ${cfg[k]}`);
    }
    if (!(cfg.dropout >= 0 && cfg.dropout < 1)) throw new ValueError('GPT', `dropout must be in [0, 1), got ${cfg.dropout}`);
    const pruned = normalizePrunedHeads('GPT', opts.prunedHeads, cfg.nLayer, cfg.nHead);
    if (pruned) cfg.prunedHeads = pruned;
    this.config = cfg;
    this.transformer = new GPTTransformer(cfg);
    const head = new Linear(cfg.nEmbd, cfg.vocabSize, false);
    if (cfg.tiedEmbeddings) {
      head.weight.dispose();
      head.weight = (this.transformer.wte as Embedding).weight; // weight tying, as nanoGPT
    }
    this.lm_head = head;
    this.initWeights(opts.generator);
  }

  /** nanoGPT's _init_weights: N(0, 0.02) for Linear and Embedding weights, zero biases, and the
   *  residual projections (c_proj) N(0, 0.02/sqrt(2 nLayer)), as GPT-2. */
  initWeights(generator: Generator = globalGenerator): void {
    const projStd = 0.02 / Math.sqrt(2 * this.config.nLayer);
    for (const [name, m] of this.namedModules()) {
      if (m instanceof Linear) {
        if (m === this.lm_head && this.config.tiedEmbeddings) continue; // initialised as wte
        normal_(m.weight, 0, name.endsWith('c_proj') ? projStd : 0.02, generator);
        if (m.bias) zeros_(m.bias);
      } else if (m instanceof Embedding) {
        normal_(m.weight, 0, 0.02, generator);
      }
    }
  }

  /**
   * The number of parameters, as nanoGPT's get_num_params: the tied head counts once and, with
   * nonEmbedding (the default), the position embedding is left out (the token embedding stays in,
   * since it is also the output layer's weight).
   */
  getNumParams(nonEmbedding = true): number {
    let n = this.parameters().reduce((s, p) => s + p.size, 0);
    // a quantized layer's weight is a buffer: count its values as the float weight's (a tied head once)
    for (const m of this.modules()) {
      if (m instanceof QuantizedEmbedding || (m instanceof QuantizedLinear && !m.tiedTo)) n += m.layout.rows * m.layout.cols;
    }
    const wpe = this.transformer.wpe;
    if (nonEmbedding) n -= wpe instanceof QuantizedEmbedding ? wpe.numEmbeddings * wpe.embeddingDim : wpe.weight.size;
    return n;
  }

  /** idx [B, T] int32 (T <= blockSize) -> logits [B, T, V]; with targets [B, T], the mean cross-entropy too. */
  forward(
    idx: Tensor,
    targets?: Tensor | null,
    opts: GPTForwardOptions = {},
  ): {
    /** [B, T, vocabSize] (or [B, 1, vocabSize] with lastOnly). */
    logits: Tensor;
    /** Mean cross-entropy against targets, when targets are given. */
    loss?: Tensor;
  } {
    if (idx.ndim !== 2) throw new ShapeError('GPT', `idx must be [B, T], got ${fmtShape(idx.shape)}`);
    const [b, t] = idx.shape as [number, number];
    const past = opts.cache?.length ?? 0;
    if (past + t > this.config.blockSize) {
      throw new ValueError('GPT', `cannot forward a sequence of length ${past + t}, the block size is only ${this.config.blockSize}`);
    }
    let x = this.transformer.forward(idx, opts.cache);
    if (opts.lastOnly && !targets) x = x.narrow(1, t - 1, 1);
    const logits = this.lm_head.forward(x);
    if (!targets) return { logits };
    const v = this.config.vocabSize;
    const loss = crossEntropy(logits.reshape(b * t, v), targets.reshape(b * t), { ignoreIndex: -1 });
    return { logits, loss };
  }
}
