// Recurrent layers, as torch.nn.LSTM and torch.nn.GRU: same parameter names (weight_ih_l0, ...), gate
// order (LSTM i, f, g, o; GRU r, z, n), shapes and default initialisation, so PyTorch state dicts load
// as they are. The recurrence is written with ordinary differentiable ops: the input projection of a
// layer is one GEMM over every time step, then each step adds one [B, H] x [H, G*H] product and the
// gate arithmetic. The per-step slices of that projection come from `unbindTime`, whose backward
// writes each step's gradient into one buffer, so backward stays linear in the sequence length
// (ops/unbind-time.ts).

import '../../ops/tensor-methods.js';
import { ShapeError, ValueError, fmtShape } from '../../errors.js';
import type { DType } from '../../base/dtype.js';
import type { Tensor } from '../../tensor/tensor.js';
import { filled } from '../../ops/make.js';
import { unbindTime } from '../../ops/unbind-time.js';
import { linear, matmul } from '../../ops/matmul.js';
import { concat, stack } from '../../ops/join.js';
import { dropout } from '../../ops/dropout.js';
import { narrow, reshape, transpose } from '../../ops/view.js';
import type { Generator } from '../../tensor/random.js';
import { uniform_ } from '../init.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';
import { checkFeatures } from './linear.js';
import { pyBool, pyNum } from './repr.js';

/** Options of LSTM and GRU: layers, bias, layout, dropout, dtype, device and generator. */
export interface RNNOptions {
  /** Number of stacked layers (default 1). */
  numLayers?: number;
  /** Use bias_ih and bias_hh (default true). */
  bias?: boolean;
  /** Input and output as [batch, time, features] instead of [time, batch, features] (default false). */
  batchFirst?: boolean;
  /** Dropout on the outputs of every layer but the last, in training mode only (default 0). */
  dropout?: number;
  /** The parameters' dtype (default float32). */
  dtype?: DType;
  /** The parameters' device (default the current device). */
  device?: string;
  /** Draw dropout masks from this generator instead of the global one. */
  generator?: Generator;
}

/** Options of the functional LSTM and GRU (every field given). */
export interface RNNFunctionalOptions {
  /** Number of stacked layers. */
  numLayers: number;
  /** Whether the weights include biases. */
  bias: boolean;
  /** Input and output as [batch, time, features] instead of [time, batch, features]. */
  batchFirst: boolean;
  /** Dropout on the outputs of every layer but the last. */
  dropout: number;
  /** Apply the dropout (true) or skip it (inference). */
  training: boolean;
  /** Draw dropout masks from this generator instead of the global one. */
  generator?: Generator;
}

/**
 * Which recurrent cell a layer runs.
 * @inline
 */
type Mode = 'LSTM' | 'GRU';
const GATES: Record<Mode, number> = { LSTM: 4, GRU: 3 };

/** Checks the input and state shapes; returns [T, B, I] input, states as [L, B, H], and whether unbatched. */
function prepare(op: string, mode: Mode, x: Tensor, states: (Tensor | null)[], weights: readonly Tensor[], o: RNNFunctionalOptions) {
  const perLayer = o.bias ? 4 : 2;
  if (weights.length !== perLayer * o.numLayers) {
    throw new ValueError(op, `expected ${perLayer * o.numLayers} weight tensors for ${o.numLayers} layer(s), got ${weights.length}`);
  }
  const hidden = weights[1]!.shape[1]!;
  const inputSize = weights[0]!.shape[1]!;
  if (x.ndim !== 2 && x.ndim !== 3) throw new ShapeError(op, `input must be 2-D (unbatched) or 3-D, got ${fmtShape(x.shape)}`);
  if (x.shape[x.ndim - 1] !== inputSize) {
    throw new ShapeError(op, `input has ${x.shape[x.ndim - 1]} features, expected inputSize ${inputSize} (input ${fmtShape(x.shape)})`);
  }
  const unbatched = x.ndim === 2;
  let seq = unbatched ? x.unsqueeze(1) : o.batchFirst ? transpose(x, 0, 1) : x;
  const batch = seq.shape[1]!;
  const want = [o.numLayers, batch, hidden];
  const hs = states.map((s, i) => {
    if (!s) return null;
    const st = unbatched && s.ndim === 2 ? s.unsqueeze(1) : s;
    if (st.ndim !== 3 || st.shape.some((d, k) => d !== want[k])) {
      const name = mode === 'LSTM' ? (i === 0 ? 'h0' : 'c0') : 'h0';
      throw new ShapeError(op, `${name} must have shape ${fmtShape(unbatched ? [o.numLayers, hidden] : want)}, got ${fmtShape(s.shape)}`);
    }
    return st;
  });
  if (seq.shape[0] === 0) throw new ShapeError(op, `input has no time steps: ${fmtShape(x.shape)}`);
  seq = seq.dtype === weights[0]!.dtype ? seq : seq.to(weights[0]!.dtype);
  return { seq, hs, hidden, batch, unbatched, perLayer };
}

/** The last layer's output: `stacked` is its steps stacked to [T, B, H] when the layout needs that. */
function finish(stacked: Tensor, unbatched: boolean, batchFirst: boolean, steps: Tensor[]): Tensor {
  if (unbatched) return concat(steps, 0); // steps are [1, H]
  return batchFirst ? stack(steps, 1) : stacked;
}

/** The state of one layer at the start: the given [B, H] slice or zeros. */
function layerState(s: Tensor | null, l: number, like: Tensor, batch: number, hidden: number): Tensor {
  return s ? reshape(narrow(s, 0, l, 1), [batch, hidden]) : filled(like.backend, [batch, hidden], like.dtype, 0);
}

/**
 * The LSTM recurrence over flat weights in PyTorch's order (per layer weight_ih, weight_hh[, bias_ih,
 * bias_hh]). x [T, B, I] (or [B, T, I] batch-first, or [T, I] unbatched); h0, c0 [L, B, H] or null
 * for zeros. Returns [output, [h_n, c_n]].
 */
export function lstm(
  x: Tensor,
  hx: readonly [Tensor | null, Tensor | null] | null,
  weights: readonly Tensor[],
  o: RNNFunctionalOptions,
): [Tensor, [Tensor, Tensor]] {
  const { seq, hs, hidden, batch, unbatched, perLayer } = prepare('LSTM', 'LSTM', x, [hx?.[0] ?? null, hx?.[1] ?? null], weights, o);
  const H = hidden;
  let input = seq;
  const hN: Tensor[] = [];
  const cN: Tensor[] = [];
  let steps: Tensor[] = [];
  for (let l = 0; l < o.numLayers; l++) {
    const [wih, whh, bih, bhh] = weights.slice(l * perLayer, (l + 1) * perLayer) as [Tensor, Tensor, Tensor?, Tensor?];
    if (l > 0 && o.dropout > 0 && o.training) input = dropout(input, o.dropout, true, o.generator);
    // both biases enter every gate additively: fold them into the one big input projection
    const xi = linear(input, wih, bih && bhh ? bih.add(bhh) : null); // [T, B, 4H]
    const whhT = transpose(whh, 0, 1); // [H, 4H]
    let h = layerState(hs[0]!, l, seq, batch, H);
    let c = layerState(hs[1]!, l, seq, batch, H);
    const zeroStart = !hs[0];
    steps = [];
    unbindTime(xi).forEach((xt, t) => {
      const gates = t === 0 && zeroStart ? xt : xt.add(matmul(h, whhT)); // [B, 4H]
      const sig = gates.sigmoid();
      const i = narrow(sig, 1, 0, H);
      const f = narrow(sig, 1, H, H);
      const g = narrow(gates, 1, 2 * H, H).tanh();
      const og = narrow(sig, 1, 3 * H, H);
      c = t === 0 && !hs[1] ? i.mul(g) : f.mul(c).add(i.mul(g));
      h = og.mul(c.tanh());
      steps.push(h);
    });
    hN.push(h);
    cN.push(c);
    if (l < o.numLayers - 1 || !(unbatched || o.batchFirst)) input = stack(steps, 0);
  }
  const out = finish(input, unbatched, o.batchFirst, steps);
  const hn = stack(hN, 0);
  const cn = stack(cN, 0);
  return [out, unbatched ? [reshape(hn, [o.numLayers, H]), reshape(cn, [o.numLayers, H])] : [hn, cn]];
}

/**
 * The GRU recurrence (PyTorch's: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1 - z) n + z h)
 * over flat weights in PyTorch's order. Returns [output, h_n].
 */
export function gru(x: Tensor, h0: Tensor | null, weights: readonly Tensor[], o: RNNFunctionalOptions): [Tensor, Tensor] {
  const { seq, hs, hidden, batch, unbatched, perLayer } = prepare('GRU', 'GRU', x, [h0], weights, o);
  const H = hidden;
  let input = seq;
  const hN: Tensor[] = [];
  let steps: Tensor[] = [];
  for (let l = 0; l < o.numLayers; l++) {
    const [wih, whh, bih, bhh] = weights.slice(l * perLayer, (l + 1) * perLayer) as [Tensor, Tensor, Tensor?, Tensor?];
    if (l > 0 && o.dropout > 0 && o.training) input = dropout(input, o.dropout, true, o.generator);
    // b_hh of r and z can join the input projection; b_hn stays inside r * (...)
    let bx: Tensor | null = bih ?? null;
    if (bih && bhh) bx = bih.add(concat([narrow(bhh, 0, 0, 2 * H), filled(bhh.backend, [H], bhh.dtype, 0)], 0));
    const bhn = bhh ? narrow(bhh, 0, 2 * H, H) : null;
    const xi = linear(input, wih, bx); // [T, B, 3H]
    const whhT = transpose(whh, 0, 1); // [H, 3H]
    let h = layerState(hs[0]!, l, seq, batch, H);
    const zeroStart = !hs[0];
    steps = [];
    unbindTime(xi).forEach((xt, t) => {
      let rz: Tensor;
      let hn: Tensor | null; // W_hn h + b_hn
      if (t === 0 && zeroStart) {
        rz = narrow(xt, 1, 0, 2 * H).sigmoid();
        hn = bhn;
      } else {
        const hh = matmul(h, whhT); // [B, 3H]
        rz = narrow(xt, 1, 0, 2 * H)
          .add(narrow(hh, 1, 0, 2 * H))
          .sigmoid();
        hn = bhn ? narrow(hh, 1, 2 * H, H).add(bhn) : narrow(hh, 1, 2 * H, H);
      }
      const r = narrow(rz, 1, 0, H);
      const z = narrow(rz, 1, H, H);
      const xn = narrow(xt, 1, 2 * H, H);
      const n = (hn ? xn.add(r.mul(hn)) : xn).tanh();
      h = t === 0 && zeroStart ? n.sub(z.mul(n)) : n.add(z.mul(h.sub(n)));
      steps.push(h);
    });
    hN.push(h);
    if (l < o.numLayers - 1 || !(unbatched || o.batchFirst)) input = stack(steps, 0);
  }
  const out = finish(input, unbatched, o.batchFirst, steps);
  const hn = stack(hN, 0);
  return [out, unbatched ? reshape(hn, [o.numLayers, H]) : hn];
}

/** What LSTM and GRU share: options, parameters named as PyTorch names them, and their initialisation. */
abstract class RNNBase extends Module {
  /** The parameters, by PyTorch's names (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ...). */
  [name: `weight_ih_l${number}` | `weight_hh_l${number}` | `bias_ih_l${number}` | `bias_hh_l${number}`]: Parameter;
  /** Which cell runs: 'LSTM' or 'GRU'. */
  readonly mode: Mode;
  /** Features of each input step. */
  readonly inputSize: number;
  /** Features of the hidden state. */
  readonly hiddenSize: number;
  /** Number of stacked layers. */
  readonly numLayers: number;
  /** Whether the weights include biases. */
  readonly bias: boolean;
  /** Input and output as [batch, time, features] rather than [time, batch, features]. */
  readonly batchFirst: boolean;
  /** Dropout on the outputs of every layer but the last, in training. */
  readonly dropout: number;
  /** Draws the dropout masks (the global generator when undefined). */
  generator: Generator | undefined;
  private readonly _weightNames: string[] = [];

  constructor(mode: Mode, inputSize: number, hiddenSize: number, opts: RNNOptions) {
    super();
    this.mode = mode;
    const numLayers = opts.numLayers ?? 1;
    checkFeatures(mode, { inputSize, hiddenSize, numLayers });
    const p = opts.dropout ?? 0;
    if (!(p >= 0 && p <= 1)) throw new ValueError(mode, `dropout must be in [0, 1], got ${p}`);
    this.inputSize = inputSize;
    this.hiddenSize = hiddenSize;
    this.numLayers = numLayers;
    this.bias = opts.bias ?? true;
    this.batchFirst = opts.batchFirst ?? false;
    this.dropout = p;
    this.generator = opts.generator;
    const g = GATES[mode] * hiddenSize;
    const dt = { dtype: opts.dtype, device: opts.device };
    for (let l = 0; l < numLayers; l++) {
      const shapes: [string, number[]][] = [
        [`weight_ih_l${l}`, [g, l === 0 ? inputSize : hiddenSize]],
        [`weight_hh_l${l}`, [g, hiddenSize]],
      ];
      if (this.bias) shapes.push([`bias_ih_l${l}`, [g]], [`bias_hh_l${l}`, [g]]);
      for (const [name, shape] of shapes) {
        // an own property, so parameter discovery and stateDict() list it in PyTorch's order
        (this as unknown as Record<string, Parameter>)[name] = Parameter.zeros(shape, dt);
        this._weightNames.push(name);
      }
    }
    this.resetParameters();
  }

  /** PyTorch's default: every weight and bias U(-1/sqrt(hiddenSize), 1/sqrt(hiddenSize)). */
  resetParameters(generator?: Generator): void {
    const k = 1 / Math.sqrt(this.hiddenSize);
    for (const w of this.allWeights()) uniform_(w, -k, k, generator);
  }

  /** The weights in PyTorch's flat order (per layer weight_ih, weight_hh, bias_ih, bias_hh). */
  allWeights(): Parameter[] {
    const self = this as unknown as Record<string, Parameter>;
    return this._weightNames.map((n) => self[n]!);
  }

  /** The options the functional form runs with, from the layer's settings and mode. */
  protected functionalOptions(): RNNFunctionalOptions {
    return {
      numLayers: this.numLayers,
      bias: this.bias,
      batchFirst: this.batchFirst,
      dropout: this.dropout,
      training: this.training,
      generator: this.generator,
    };
  }

  override extraRepr(): string {
    let s = `${this.inputSize}, ${this.hiddenSize}`;
    if (this.numLayers !== 1) s += `, num_layers=${this.numLayers}`;
    if (!this.bias) s += ', bias=False';
    if (this.batchFirst) s += `, batch_first=${pyBool(true)}`;
    if (this.dropout) s += `, dropout=${pyNum(this.dropout)}`;
    return s;
  }
}

/**
 * Long short-term memory, as torch.nn.LSTM. forward(x, [h0, c0]?) returns [output, [h_n, c_n]]:
 * output [T, B, H] ([B, T, H] batch-first) holds the last layer's h at every step; h_n, c_n [L, B, H].
 */
export class LSTM extends RNNBase {
  /** A (stacked) LSTM from inputSize features to hiddenSize. */
  constructor(inputSize: number, hiddenSize: number, opts: RNNOptions = {}) {
    super('LSTM', inputSize, hiddenSize, opts);
  }

  forward(x: Tensor, hx?: readonly [Tensor | null, Tensor | null] | null): [Tensor, [Tensor, Tensor]] {
    return lstm(x, hx ?? null, this.allWeights(), this.functionalOptions());
  }
}

/** Gated recurrent unit, as torch.nn.GRU. forward(x, h0?) returns [output, h_n]. */
export class GRU extends RNNBase {
  /** A (stacked) GRU from inputSize features to hiddenSize. */
  constructor(inputSize: number, hiddenSize: number, opts: RNNOptions = {}) {
    super('GRU', inputSize, hiddenSize, opts);
  }

  forward(x: Tensor, h0?: Tensor | null): [Tensor, Tensor] {
    return gru(x, h0 ?? null, this.allWeights(), this.functionalOptions());
  }
}
