// GPT, as Karpathy's nanoGPT (model.py): token and position embeddings, pre-LayerNorm Transformer
// blocks (causal self-attention, GELU-tanh MLP), a final LayerNorm and a language-model head tied to
// the token embedding. Parameter names are nanoGPT's / Hugging Face GPT2LMHeadModel's
// ('transformer.wte.weight', 'transformer.h.0.attn.c_attn.weight', ...), with Linear's [out, in]
// weight layout (HF's Conv1D stores the transpose).
//
// generate() samples with a key/value cache per layer: the prompt is run once, then each new token
// attends over the cached keys and values of the tokens before it. Once the context exceeds
// blockSize the window slides, every position changes, and generation recomputes the cropped context
// each step, exactly as nanoGPT does without a cache; so the tokens are the same with and without it.

import '../ops/tensor-methods.js';
import { ValueError, ShapeError, fmtShape } from '../errors.js';
import { noGrad } from '../autograd/grad-mode.js';
import { keep, scope } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';
import { arange, tensor } from '../tensor/create.js';
import { Generator, globalGenerator } from '../tensor/random.js';
import { crossEntropy } from '../ops/loss.js';
import { normal_, zeros_ } from '../nn/init.js';
import { Module } from '../nn/module.js';
import { Linear } from '../nn/layers/linear.js';
import { Embedding } from '../nn/layers/embedding.js';
import { LayerNorm } from '../nn/layers/normalization.js';
import { Dropout } from '../nn/layers/dropout.js';
import { KVCache, TransformerBlock } from '../nn/layers/transformer.js';

export interface GPTConfig {
  vocabSize: number;
  blockSize: number;
  nLayer: number;
  nHead: number;
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
}

export type GPTOptions = Pick<GPTConfig, 'vocabSize' | 'blockSize' | 'nLayer' | 'nHead' | 'nEmbd'> &
  Partial<GPTConfig> & {
    /** Generator for the initial weights (default: the global one, so mox.seed(n) fixes them). */
    generator?: Generator;
  };

/** Keys and values of every layer for the tokens seen so far (one nn KVCache per block); dispose() when done. */
export class GPTCache {
  readonly layers: KVCache[];
  constructor(nLayer: number) {
    this.layers = Array.from({ length: nLayer }, () => new KVCache());
  }
  /** Number of cached positions. */
  get length(): number {
    return this.layers[0]?.length ?? 0;
  }
  dispose(): void {
    for (const l of this.layers) l.clear();
  }
}

/** nanoGPT's `transformer` ModuleDict. */
export class GPTTransformer extends Module {
  wte: Embedding;
  wpe: Embedding;
  drop: Dropout;
  h: TransformerBlock[];
  ln_f: LayerNorm;
  constructor(cfg: GPTConfig) {
    super();
    this.wte = new Embedding(cfg.vocabSize, cfg.nEmbd);
    this.wpe = new Embedding(cfg.blockSize, cfg.nEmbd);
    this.drop = new Dropout(cfg.dropout);
    this.h = Array.from(
      { length: cfg.nLayer },
      () => new TransformerBlock(cfg.nEmbd, cfg.nHead, { dropout: cfg.dropout, bias: cfg.bias, geluApproximate: cfg.geluApproximate }),
    );
    this.ln_f = new LayerNorm(cfg.nEmbd, { bias: cfg.bias });
  }
  forward(): never {
    throw new ValueError('GPT', 'call the GPT, not its transformer');
  }
}

export interface GPTForwardOptions {
  /** Run the new positions against (and append them to) this cache. */
  cache?: GPTCache;
  /** Only the last position's logits ([B, 1, V]), as nanoGPT does at inference. */
  lastOnly?: boolean;
}

export class GPT extends Module {
  readonly config: GPTConfig;
  transformer: GPTTransformer;
  lm_head: Linear;

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
    this.config = cfg;
    this.transformer = new GPTTransformer(cfg);
    this.lm_head = new Linear(cfg.nEmbd, cfg.vocabSize, false);
    if (cfg.tiedEmbeddings) {
      this.lm_head.weight.dispose();
      this.lm_head.weight = this.transformer.wte.weight; // weight tying, as nanoGPT
    }
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
    if (nonEmbedding) n -= this.transformer.wpe.weight.size;
    return n;
  }

  /** idx [B, T] int32 (T <= blockSize) -> logits [B, T, V]; with targets [B, T], the mean cross-entropy too. */
  forward(idx: Tensor, targets?: Tensor | null, opts: GPTForwardOptions = {}): { logits: Tensor; loss?: Tensor } {
    if (idx.ndim !== 2) throw new ShapeError('GPT', `idx must be [B, T], got ${fmtShape(idx.shape)}`);
    const [b, t] = idx.shape as [number, number];
    const past = opts.cache?.length ?? 0;
    if (past + t > this.config.blockSize) {
      throw new ValueError('GPT', `cannot forward a sequence of length ${past + t}, the block size is only ${this.config.blockSize}`);
    }
    const tr = this.transformer;
    const pos = arange(past, past + t, 1, { dtype: 'int32', device: idx.device });
    let x = tr.drop.forward(tr.wte.forward(idx).add(tr.wpe.forward(pos)));
    tr.h.forEach((block, i) => {
      x = block.forward(x, opts.cache?.layers[i]);
    });
    x = tr.ln_f.forward(x);
    if (opts.lastOnly && !targets) x = x.narrow(1, t - 1, 1);
    const logits = this.lm_head.forward(x);
    if (!targets) return { logits };
    const v = this.config.vocabSize;
    const loss = crossEntropy(logits.reshape(b * t, v), targets.reshape(b * t), { ignoreIndex: -1 });
    return { logits, loss };
  }
}

// ---- generation ----

export interface GenerateOptions {
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
  /** Keep keys and values of past tokens (default true); the tokens are the same without. */
  useCache?: boolean;
  /** Called with each batch row's new token as it is picked. */
  onToken?: (tokens: number[], step: number) => void;
}

export interface GenerateResult {
  /** [B, T + maxNewTokens] int32: the prompt followed by the new tokens. */
  ids: Tensor;
  /** The new tokens, per batch row. */
  newTokens: number[][];
  seconds: number;
  tokensPerSecond: number;
}

/**
 * Picks the next token from one row of logits: temperature, then top-k, then top-p, then a draw
 * from `gen` (one uniform number per call, so the stream does not depend on the logits).
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
  accept(last: Float32Array, step: number): void {
    const { vocabSize } = this.model.config;
    const { temperature = 1, topK, topP } = this.opts;
    const picked: number[] = [];
    for (let r = 0; r < this.b; r++) {
      const tok = sampleLogits(last.subarray(r * vocabSize, (r + 1) * vocabSize), { temperature, topK, topP }, this.gen);
      this.seqs[r]!.push(tok);
      this.newTokens[r]!.push(tok);
      picked.push(tok);
    }
    this.opts.onToken?.(picked, step);
  }

  end(): void {
    this.cache?.dispose();
    this.model.train(this.wasTraining);
  }

  result(): GenerateResult {
    const seconds = (performance.now() - this.start) / 1000;
    const n = this.opts.maxNewTokens;
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
    for (let step = 0; step < opts.maxNewTokens; step++) {
      const logits = g.nextLogits();
      try {
        g.accept(Float32Array.from(logits.dataSync()), step);
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
    for (let step = 0; step < opts.maxNewTokens; step++) {
      const logits = g.nextLogits();
      try {
        g.accept(Float32Array.from(await logits.data()), step);
      } finally {
        logits.dispose();
      }
    }
  } finally {
    g.end();
  }
  return g.result();
}
