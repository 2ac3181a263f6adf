// The pre-LayerNorm Transformer block of GPT-2 / nanoGPT:
//   x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))
// with causal multi-head self-attention (one packed c_attn Linear for q, k, v, then c_proj) and a
// GELU-tanh MLP (c_fc, c_proj). Linear weights are [out, in] as in torch.nn.Linear, and the module tree
// gives the keys of nanoGPT's state dict: ln_1.weight, attn.c_attn.weight, mlp.c_fc.bias, ...
// An optional KVCache lets generation feed one new token at a time.

import '../../ops/tensor-methods.js';
import { ValueError } from '../../errors.js';
import { isGradEnabled, noGrad } from '../../autograd/grad-mode.js';
import type { DType } from '../../base/dtype.js';
import { keep } from '../../tensor/memory.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { Generator } from '../../tensor/random.js';
import { tensor } from '../../tensor/create.js';
import { scaledDotProductAttention } from '../../ops/attention.js';
import { indexSelect } from '../../ops/indexing.js';
import { concat } from '../../ops/join.js';
import { reshape, transpose } from '../../ops/view.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';
import { Linear, checkFeatures } from './linear.js';
import { LayerNorm } from './normalization.js';
import { GELU } from './activation.js';
import { Dropout } from './dropout.js';

/** Options of a GPT-2 Transformer block: dropout, biases, epsilon, MLP width, GELU form, causality, pruned heads. */
export interface TransformerBlockOptions {
  /** Dropout on the attention weights and on both residual branches, in training only (default 0). */
  dropout?: number;
  /** Biases in the Linear layers and LayerNorms (default true). */
  bias?: boolean;
  /** LayerNorm epsilon (default 1e-5). */
  lnEps?: number;
  /** MLP hidden width (default 4 * nEmbd). */
  mlpHidden?: number;
  /** The MLP's GELU: 'tanh' (GPT-2's approximation, the default) or 'none' (exact, with erf). */
  geluApproximate?: 'none' | 'tanh';
  /** Causal self-attention (default true). */
  causal?: boolean;
  /**
   * Heads removed from the attention (Hugging Face's pruned_heads of this layer), numbered 0..nHead-1 as
   * in the unpruned layer: the layer is built with the others only (see CausalSelfAttention.pruneHeads).
   */
  prunedHeads?: readonly number[];
  /** The parameters' dtype (default float32). */
  dtype?: DType;
  /** The parameters' device (default the current device). */
  device?: string;
  /** Draw dropout masks from this generator instead of the global one. */
  generator?: Generator;
}

/**
 * Keys and values of the positions seen so far, per attention layer, for incremental decoding. The
 * tensors are kept alive across scopes; append() frees the previous ones when no graph is being
 * recorded (generation runs under noGrad), and clear() frees them.
 */
export class KVCache {
  /** Cached keys [B, heads, T, headDim], or null before the first step. */
  k: Tensor | null = null;
  /** Cached values [B, heads, T, headDim], or null before the first step. */
  v: Tensor | null = null;

  /** Number of cached positions. */
  get length(): number {
    return this.k ? this.k.shape[2]! : 0;
  }

  /** k, v [B, heads, T, hd]: returns the keys and values of every position so far. */
  append(k: Tensor, v: Tensor): [Tensor, Tensor] {
    const nk = this.k ? concat([this.k, k], 2) : k;
    const nv = this.v ? concat([this.v, v], 2) : v;
    if (!isGradEnabled()) {
      if (this.k && this.k !== nk) this.k.dispose();
      if (this.v && this.v !== nv) this.v.dispose();
    }
    this.k = keep(nk);
    this.v = keep(nv);
    return [nk, nv];
  }

  /** Frees the cached keys and values and empties the cache. */
  clear(): void {
    this.k?.dispose();
    this.v?.dispose();
    this.k = null;
    this.v = null;
  }
}

/** [lq, lk] bool, true where key j <= past + i (query i sits at position past + i). */
function offsetCausalMask(like: Tensor, lq: number, lk: number): Tensor {
  const past = lk - lq;
  const m = new Uint8Array(lq * lk);
  for (let i = 0; i < lq; i++) m.fill(1, i * lk, i * lk + Math.min(past + i + 1, lk));
  return tensor(m, { shape: [lq, lk], dtype: 'bool', device: like.device });
}

/**
 * Checks head numbers for a layer of `nHead` heads (as built) and returns the new ones, ascending and
 * without repeats or those in `already`. Out of range or non-integer heads, and removing every head,
 * are ValueErrors.
 */
export function checkHeads(op: string, heads: readonly number[], nHead: number, already: readonly number[]): number[] {
  for (const h of heads) {
    if (!Number.isInteger(h) || h < 0 || h >= nHead)
      throw new ValueError(op, `head ${String(h)} is out of range: the layer has heads 0..${nHead - 1}`);
  }
  const fresh = [...new Set(heads)].filter((h) => !already.includes(h)).sort((a, b) => a - b);
  if (already.length + fresh.length >= nHead)
    throw new ValueError(
      op,
      `cannot remove all ${nHead} heads of a layer (removing [${fresh.join(', ')}]${already.length ? ` after [${already.join(', ')}]` : ''}); keep at least one`,
    );
  return fresh;
}

/** A parameter of `rows` along dim 0 (or columns along dim 1) of `p`, on its device; requiresGrad as `p`. */
function selectParameter(p: Parameter, axis: 0 | 1, index: readonly number[]): Parameter {
  const idx = tensor(Int32Array.from(index), { shape: [index.length], dtype: 'int32', device: p.device });
  const t = noGrad(() => indexSelect(p, axis, idx));
  const out = new Parameter(t, p.requiresGrad);
  t.dispose();
  idx.dispose();
  return out;
}

/**
 * Multi-head self-attention with a packed q, k, v projection (nanoGPT's CausalSelfAttention). Heads can
 * be removed (pruneHeads, as Hugging Face's GPT2Attention.prune_heads): the layer then has nHead heads of
 * the same headDim, an inner width nHead * headDim below nEmbd, c_attn [3 * inner, nEmbd] and c_proj
 * [nEmbd, inner].
 */
export class CausalSelfAttention extends Module {
  /** Model width (features per position). */
  readonly nEmbd: number;
  /** The heads this layer computes (fewer than it was built with once heads are pruned). */
  nHead: number;
  /** The size of each head: nEmbd / the number of heads the layer was built with. */
  readonly headDim: number;
  /** The removed heads, ascending, numbered as in the unpruned layer (Hugging Face's pruned_heads). */
  prunedHeads: number[] = [];
  /** Whether position i attends only to positions j <= i. */
  readonly causal: boolean;
  /** Dropout probability on the attention weights and the output, in training. */
  readonly dropoutP: number;
  /** The packed q, k, v projection [3 * inner, nEmbd]. */
  c_attn: Linear;
  /** The output projection [nEmbd, inner]. */
  c_proj: Linear;
  /** Dropout on the output (the residual branch). */
  resid_dropout: Dropout;
  /** Draws the dropout masks (the global generator when undefined). */
  generator: Generator | undefined;

  /** Self-attention of width nEmbd over nHead heads. */
  constructor(nEmbd: number, nHead: number, opts: TransformerBlockOptions = {}) {
    super();
    checkFeatures('CausalSelfAttention', { nEmbd, nHead });
    if (nEmbd % nHead !== 0) throw new ValueError('CausalSelfAttention', `nEmbd ${nEmbd} must be divisible by nHead ${nHead}`);
    this.nEmbd = nEmbd;
    this.headDim = nEmbd / nHead;
    this.causal = opts.causal ?? true;
    this.dropoutP = opts.dropout ?? 0;
    const pruned = checkHeads('CausalSelfAttention', opts.prunedHeads ?? [], nHead, []);
    this.prunedHeads = pruned;
    this.nHead = nHead - pruned.length;
    const inner = this.nHead * this.headDim;
    const dt = { dtype: opts.dtype, device: opts.device };
    const bias = opts.bias ?? true;
    this.c_attn = new Linear(nEmbd, 3 * inner, bias, dt);
    this.c_proj = new Linear(inner, nEmbd, bias, dt);
    this.resid_dropout = new Dropout(this.dropoutP, { generator: opts.generator });
    this.generator = opts.generator;
  }

  /** The width of q, k, v and of c_proj's input: nHead * headDim (nEmbd until heads are pruned). */
  get innerDim(): number {
    return this.nHead * this.headDim;
  }

  /**
   * Removes `heads` (numbered as in the unpruned layer; heads already removed are skipped, as Hugging
   * Face's find_pruneable_heads_and_indices does): their query, key and value rows of c_attn (weight
   * and bias) and their input columns of c_proj go, into new, smaller Parameters on the same device
   * (the old ones are disposed: make a new optimizer). Returns the heads it removed. Removing every
   * head of the layer is refused (Hugging Face's GPT-2 fails on it with a ZeroDivisionError).
   */
  pruneHeads(heads: Iterable<number>): number[] {
    const op = 'CausalSelfAttention.pruneHeads';
    const original = this.nHead + this.prunedHeads.length;
    const fresh = checkHeads(op, [...heads], original, this.prunedHeads);
    if (fresh.length === 0) return [];
    if (this.c_attn.constructor !== Linear || this.c_proj.constructor !== Linear)
      throw new ValueError(
        op,
        `c_attn and c_proj must be plain Linear layers, got ${this.c_attn.name} and ${this.c_proj.name} (merge or remove adapters first)`,
      );
    const removed = new Set([...this.prunedHeads, ...fresh]);
    // the kept heads' positions in the current layout (which already lacks the earlier pruned heads)
    const keptNow: number[] = [];
    let pos = 0;
    for (let h = 0; h < original; h++) {
      if (this.prunedHeads.includes(h)) continue;
      if (!removed.has(h)) keptNow.push(pos);
      pos++;
    }
    const hd = this.headDim;
    const inner = this.innerDim;
    const cols: number[] = keptNow.flatMap((k) => Array.from({ length: hd }, (_, j) => k * hd + j));
    const rows = [0, 1, 2].flatMap((part) => cols.map((c) => part * inner + c));
    const ca = this.c_attn;
    const cp = this.c_proj;
    const dt = { dtype: ca.weight.dtype, device: ca.weight.device };
    const na = new Linear(this.nEmbd, rows.length, ca.bias !== null, dt);
    const np = new Linear(cols.length, this.nEmbd, cp.bias !== null, dt);
    for (const p of [...na.parameters(), ...np.parameters()]) p.dispose();
    na.weight = selectParameter(ca.weight, 0, rows);
    na.bias = ca.bias ? selectParameter(ca.bias, 0, rows) : null;
    np.weight = selectParameter(cp.weight, 1, cols);
    np.bias = cp.bias;
    na.training = ca.training;
    np.training = cp.training;
    ca.weight.dispose();
    ca.bias?.dispose();
    cp.weight.dispose();
    this.c_attn = na;
    this.c_proj = np;
    this.nHead = keptNow.length;
    this.prunedHeads = [...removed].sort((a, b) => a - b);
    return fresh;
  }

  /** x [B, T, C] -> [B, T, C]; with a cache, attends to the cached positions too and extends the cache. */
  forward(x: Tensor, cache?: KVCache | null): Tensor {
    const [b, t] = x.shape as [number, number, number];
    const hd = this.headDim;
    const inner = this.innerDim;
    const split = (z: Tensor): Tensor => transpose(reshape(z, [b, t, this.nHead, hd]), 1, 2);
    const [q0, k0, v0] = this.c_attn.forward(x).split(inner, 2) as [Tensor, Tensor, Tensor];
    const q = split(q0);
    let k = split(k0);
    let v = split(v0);
    if (cache) [k, v] = cache.append(k, v);
    const lk = k.shape[2]!;
    const opts = { dropoutP: this.dropoutP, training: this.training, generator: this.generator };
    let y: Tensor;
    if (!this.causal || (lk > t && t === 1)) y = scaledDotProductAttention(q, k, v, opts);
    else if (lk === t) y = scaledDotProductAttention(q, k, v, { ...opts, isCausal: true });
    else y = scaledDotProductAttention(q, k, v, { ...opts, attnMask: offsetCausalMask(q, t, lk) });
    return this.resid_dropout.forward(this.c_proj.forward(reshape(transpose(y, 1, 2), [b, t, inner])));
  }

  override extraRepr(): string {
    const pruned = this.prunedHeads.length ? `, head_dim=${this.headDim}, pruned_heads=[${this.prunedHeads.join(', ')}]` : '';
    return `n_embd=${this.nEmbd}, n_head=${this.nHead}${pruned}, causal=${this.causal ? 'True' : 'False'}`;
  }
}

/** The block's feed-forward part: c_fc, GELU (tanh approximation unless geluApproximate is 'none'), c_proj, dropout. */
export class TransformerMLP extends Module {
  /** First projection, nEmbd to the hidden width. */
  c_fc: Linear;
  /** The activation between the projections. */
  gelu: GELU;
  /** Second projection, back to nEmbd. */
  c_proj: Linear;
  /** Dropout on the output (the residual branch). */
  dropout: Dropout;

  /** The feed-forward part of a block of width nEmbd. */
  constructor(nEmbd: number, opts: TransformerBlockOptions = {}) {
    super();
    const dt = { dtype: opts.dtype, device: opts.device };
    const bias = opts.bias ?? true;
    const hidden = opts.mlpHidden ?? 4 * nEmbd;
    this.c_fc = new Linear(nEmbd, hidden, bias, dt);
    this.gelu = new GELU(opts.geluApproximate ?? 'tanh');
    this.c_proj = new Linear(hidden, nEmbd, bias, dt);
    this.dropout = new Dropout(opts.dropout ?? 0, { generator: opts.generator });
  }

  forward(x: Tensor): Tensor {
    return this.dropout.forward(this.c_proj.forward(this.gelu.forward(this.c_fc.forward(x))));
  }
}

/** Pre-LayerNorm Transformer (GPT-2) block; forward(x [B, T, C], cache?) -> [B, T, C]. */
export class TransformerBlock extends Module {
  /** LayerNorm before the attention. */
  ln_1: LayerNorm;
  /** The causal self-attention. */
  attn: CausalSelfAttention;
  /** LayerNorm before the MLP. */
  ln_2: LayerNorm;
  /** The feed-forward part. */
  mlp: TransformerMLP;

  /** A block of width nEmbd with nHead attention heads. */
  constructor(nEmbd: number, nHead: number, opts: TransformerBlockOptions = {}) {
    super();
    const ln = { eps: opts.lnEps ?? 1e-5, bias: opts.bias ?? true, dtype: opts.dtype, device: opts.device };
    this.ln_1 = new LayerNorm(nEmbd, ln);
    this.attn = new CausalSelfAttention(nEmbd, nHead, opts);
    this.ln_2 = new LayerNorm(nEmbd, ln);
    this.mlp = new TransformerMLP(nEmbd, opts);
  }

  forward(x: Tensor, cache?: KVCache | null): Tensor {
    const h = x.add(this.attn.forward(this.ln_1.forward(x), cache));
    return h.add(this.mlp.forward(this.ln_2.forward(h)));
  }
}

export { TransformerBlock as GPTBlock };
