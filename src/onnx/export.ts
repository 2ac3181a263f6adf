// ONNX export (opset 17) of the models mox serves: a Sequential of the usual layers (the MLP, the CNN),
// the text CNN and the GPT (the full sequence in, the logits of every position out). The graph is the
// model's eval-mode forward written with ONNX's standard ops: Dropout is left out, BatchNorm uses its
// running statistics. The batch axis, and the sequence axis of the token models, are symbolic, so one
// file takes any batch size and any length up to the GPT's block size. The op mapping is in docs/onnx.md.

import '../ops/tensor-methods.js';
import { ShapeError, ValueError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { zeros } from '../tensor/create.js';
import { noGrad } from '../autograd/grad-mode.js';
import { pair } from '../ops/conv.js';
import { Module } from '../nn/module.js';
import { Linear, Identity } from '../nn/layers/linear.js';
import { Conv2d } from '../nn/layers/conv.js';
import { AvgPool2d, MaxPool2d } from '../nn/layers/pooling.js';
import { Flatten } from '../nn/layers/flatten.js';
import { GELU, LeakyReLU, LogSoftmax, ReLU, SiLU, Sigmoid, Softmax, Softplus, Tanh } from '../nn/layers/activation.js';
import { Dropout } from '../nn/layers/dropout.js';
import { BatchNorm1d, BatchNorm2d, LayerNorm } from '../nn/layers/normalization.js';
import { Embedding } from '../nn/layers/embedding.js';
import { Sequential } from '../nn/layers/containers.js';
import type { TransformerBlock } from '../nn/layers/transformer.js';
import { GPT } from '../models/gpt.js';
import { TextCNN } from '../models/text-cnn.js';
import { QuantizedEmbedding, QuantizedLinear } from '../quant/layers.js';
import { type Dim, GraphBuilder, ONNX_FLOAT, ONNX_INT64, encodeModel } from './graph.js';

const OP = 'exportONNX';

/** The opset the files import (the default domain, ai.onnx). LayerNormalization needs 17. */
export const ONNX_OPSET = 17;

/** Options of exportONNX: a Sequential's input shape, metadata and producer version. */
export interface ExportONNXOptions {
  /**
   * A Sequential's input: one example's shape, without the batch axis ([784], [1, 28, 28]); a string
   * is a symbolic size ('height'). Default: [inFeatures] when the first layer is a Linear,
   * [inChannels, 'height', 'width'] when it is a Conv2d. Not used by the TextCNN and the GPT.
   */
  inputShape?: readonly Dim[];
  /** Key-value pairs for the file's metadata_props (the exporter adds mox's own: kind, input, output). */
  metadata?: Record<string, string>;
  /** producer_version in the file (default: 'unknown'). */
  producerVersion?: string;
}

/** What was exported: the file's bytes and the graph's signature. */
export interface ONNXExport {
  /** The ONNX file's bytes. */
  bytes: Uint8Array;
  /** Which kind of model was exported. */
  kind: 'sequential' | 'text-cnn' | 'gpt';
  /** The opset imported (17). */
  opset: number;
  /** Each graph input: name, element type, shape (strings are symbolic sizes). */
  inputs: {
    /** The input's name in the graph. */
    name: string;
    /** Its element type. */
    dtype: 'float32' | 'int64';
    /** Its shape; a string is a symbolic size. */
    shape: Dim[];
  }[];
  /** Each graph output: name, element type, shape (null when not known). */
  outputs: {
    /** The output's name in the graph. */
    name: string;
    /** Its element type. */
    dtype: 'float32';
    /** Its shape (a string is a symbolic size), or null when not known. */
    shape: Dim[] | null;
  }[];
}

async function floats(op: string, name: string, t: Tensor): Promise<Float32Array> {
  if (t.dtype !== 'float32')
    throw new ValueError(op, `${name} is ${t.dtype}; ONNX export takes float32 models (cast the model with .to('float32') first)`);
  const d = await t.data();
  return d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number>);
}

/** A float32 initializer holding `t`, named `name`; the same tensor twice (a tied weight) is written once. */
async function weight(g: GraphBuilder, name: string, t: Tensor): Promise<string> {
  return g.floatInit(name, await floats(OP, name, t), t.shape, t);
}

const ones = (n: number): Float32Array => new Float32Array(n).fill(1);

/** What sits between the layers of a Sequential: the value and its rank (Gemm needs rank 2). */
interface Value {
  name: string;
  rank: number;
}

async function linear(g: GraphBuilder, x: Value, m: Linear, name: string): Promise<Value> {
  const w = await weight(g, `${name}.weight`, m.weight);
  const b = m.bias ? await weight(g, `${name}.bias`, m.bias) : null;
  if (x.rank === 2) {
    // torch.nn.Linear's weight is [out, in]: Gemm's transB
    return { name: g.node('Gemm', b ? [x.name, w, b] : [x.name, w], { transB: 1 }, name), rank: 2 };
  }
  const wt = g.node('Transpose', [w], { perm: [1, 0] }, `${name}.weight_t`);
  const y = g.node('MatMul', [x.name, wt], {}, name);
  return { name: b ? g.node('Add', [y, b], {}, `${name}.add_bias`) : y, rank: x.rank };
}

async function conv2d(g: GraphBuilder, x: string, m: Conv2d, name: string): Promise<string> {
  const [kh, kw] = m.kernelSize;
  let pads: number[];
  if (m.padding === 'valid') pads = [0, 0, 0, 0];
  else if (m.padding === 'same') {
    // PyTorch's 'same' puts the odd pixel at the end (bottom, right), as ONNX's SAME_UPPER
    const total = [m.dilation[0] * (kh - 1), m.dilation[1] * (kw - 1)];
    const begin = total.map((t) => Math.floor(t / 2));
    pads = [begin[0]!, begin[1]!, total[0]! - begin[0]!, total[1]! - begin[1]!];
  } else pads = [m.padding[0], m.padding[1], m.padding[0], m.padding[1]];
  const w = await weight(g, `${name}.weight`, m.weight);
  const inputs = [x, w];
  if (m.bias) inputs.push(await weight(g, `${name}.bias`, m.bias));
  return g.node('Conv', inputs, { kernel_shape: [kh, kw], strides: m.stride, pads, dilations: m.dilation, group: m.groups }, name);
}

function layerNorm(g: GraphBuilder, x: string, w: string, b: string | null, eps: number, axis: number, name: string): string {
  return g.node('LayerNormalization', b ? [x, w, b] : [x, w], { axis, epsilon: { float: eps } }, name);
}

async function layerNormOf(g: GraphBuilder, x: string, m: LayerNorm, name: string): Promise<string> {
  const size = m.normalizedShape.reduce((a, b) => a * b, 1);
  const w = m.weight ? await weight(g, `${name}.weight`, m.weight) : g.floatInit(`${name}.weight`, ones(size), m.normalizedShape);
  const b = m.bias ? await weight(g, `${name}.bias`, m.bias) : null;
  return layerNorm(g, x, w, b, m.eps, -m.normalizedShape.length, name);
}

/** GELU from primitives (ONNX's Gelu op is opset 20): exact with Erf, or GPT-2's tanh approximation. */
function gelu(g: GraphBuilder, x: string, approximate: 'none' | 'tanh', name: string): string {
  const half = g.node('Mul', [x, g.scalar(`${name}.half`, 0.5)], {}, `${name}.half_x`);
  let inner: string;
  if (approximate === 'tanh') {
    // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    const x3 = g.node('Mul', [g.node('Mul', [x, x], {}, `${name}.x2`), x], {}, `${name}.x3`);
    const poly = g.node('Add', [x, g.node('Mul', [x3, g.scalar(`${name}.c`, 0.044715)], {}, `${name}.cx3`)], {}, `${name}.poly`);
    inner = g.node('Tanh', [g.node('Mul', [poly, g.scalar(`${name}.k`, Math.sqrt(2 / Math.PI))], {}, `${name}.arg`)], {}, `${name}.tanh`);
  } else {
    // 0.5 x (1 + erf(x / sqrt(2)))
    inner = g.node('Erf', [g.node('Mul', [x, g.scalar(`${name}.rsqrt2`, Math.SQRT1_2)], {}, `${name}.arg`)], {}, `${name}.erf`);
  }
  return g.node('Mul', [half, g.node('Add', [inner, g.scalar(`${name}.one`, 1)], {}, `${name}.one_plus`)], {}, name);
}

/** The modules a Sequential may hold, by exact class: a subclass (a LoRA wrapper, a quantized layer) is refused. */
const SEQUENTIAL_LAYERS = [
  Sequential,
  Linear,
  Conv2d,
  MaxPool2d,
  AvgPool2d,
  Flatten,
  ReLU,
  LeakyReLU,
  GELU,
  SiLU,
  Sigmoid,
  Tanh,
  Softplus,
  Softmax,
  LogSoftmax,
  Dropout,
  Identity,
  BatchNorm1d,
  BatchNorm2d,
  LayerNorm,
] as const;

function unsupported(m: Module, name: string, what = 'a Sequential'): ValueError {
  const known = SEQUENTIAL_LAYERS.map((c) => c.name).join(', ');
  const hint =
    m instanceof QuantizedLinear || m instanceof QuantizedEmbedding
      ? ' (quantized layers are not exported: export the float model)'
      : m instanceof Linear || m instanceof Conv2d
        ? ' (an adapter-wrapped layer: merge the adapters first (mox.lora.mergeAndUnload))'
        : '';
  return new ValueError(
    OP,
    `layer '${name}' of ${what} is a ${m.constructor.name}, which has no ONNX export${hint}; exportable layers: ${known}`,
  );
}

async function emitLayer(g: GraphBuilder, x: Value, m: Module, name: string): Promise<Value> {
  const same = (y: string): Value => ({ name: y, rank: x.rank });
  switch (m.constructor) {
    case Sequential: {
      let v = x;
      for (const [child, sub] of (m as Sequential).namedChildren()) v = await emitLayer(g, v, sub, name ? `${name}.${child}` : child);
      return v;
    }
    case Linear:
      return linear(g, x, m as Linear, name);
    case Conv2d:
      return same(await conv2d(g, x.name, m as Conv2d, name));
    case MaxPool2d: {
      const p = m as MaxPool2d;
      const [ph, pw] = pair(OP, 'padding', p.padding, 0);
      return same(
        g.node(
          'MaxPool',
          [x.name],
          {
            kernel_shape: pair(OP, 'kernelSize', p.kernelSize, 1),
            strides: pair(OP, 'stride', p.stride, 1),
            pads: [ph, pw, ph, pw],
            dilations: pair(OP, 'dilation', p.dilation, 1),
            ceil_mode: p.ceilMode ? 1 : 0,
          },
          name,
        ),
      );
    }
    case AvgPool2d: {
      const p = m as AvgPool2d;
      if (p.divisorOverride !== undefined)
        throw new ValueError(OP, `layer '${name}' (AvgPool2d) has a divisorOverride, which ONNX's AveragePool lacks`);
      const [ph, pw] = pair(OP, 'padding', p.padding, 0);
      return same(
        g.node(
          'AveragePool',
          [x.name],
          {
            kernel_shape: pair(OP, 'kernelSize', p.kernelSize, 1),
            strides: pair(OP, 'stride', p.stride, 1),
            pads: [ph, pw, ph, pw],
            ceil_mode: p.ceilMode ? 1 : 0,
            count_include_pad: p.countIncludePad ? 1 : 0,
          },
          name,
        ),
      );
    }
    case Flatten: {
      const f = m as Flatten;
      const start = f.startDim < 0 ? f.startDim + x.rank : f.startDim;
      const end = f.endDim < 0 ? f.endDim + x.rank : f.endDim;
      if (start !== 1 || end !== x.rank - 1)
        throw new ValueError(
          OP,
          `layer '${name}' is Flatten(${f.startDim}, ${f.endDim}) on rank ${x.rank}: only Flatten(1, -1) (all but the batch axis) is exported`,
        );
      return { name: g.node('Flatten', [x.name], { axis: 1 }, name), rank: 2 };
    }
    case ReLU:
      return same(g.node('Relu', [x.name], {}, name));
    case LeakyReLU:
      return same(g.node('LeakyRelu', [x.name], { alpha: { float: (m as LeakyReLU).negativeSlope } }, name));
    case GELU:
      return same(gelu(g, x.name, (m as GELU).approximate, name));
    case SiLU:
      return same(g.node('Mul', [x.name, g.node('Sigmoid', [x.name], {}, `${name}.sigmoid`)], {}, name));
    case Sigmoid:
      return same(g.node('Sigmoid', [x.name], {}, name));
    case Tanh:
      return same(g.node('Tanh', [x.name], {}, name));
    case Softplus:
      return same(g.node('Softplus', [x.name], {}, name));
    case Softmax:
      return same(g.node('Softmax', [x.name], { axis: (m as Softmax).dim }, name));
    case LogSoftmax:
      return same(g.node('LogSoftmax', [x.name], { axis: (m as LogSoftmax).dim }, name));
    case Dropout:
    case Identity:
      return x; // eval mode: the identity
    case BatchNorm1d:
    case BatchNorm2d: {
      const bn = m as BatchNorm1d;
      const mean = bn.runningMean;
      const variance = bn.runningVar;
      if (!mean || !variance)
        throw new ValueError(
          OP,
          `layer '${name}' (${m.constructor.name}) keeps no running statistics (trackRunningStats false): its eval output depends on the batch`,
        );
      const c = bn.numFeatures;
      const scale = bn.weight ? await weight(g, `${name}.weight`, bn.weight) : g.floatInit(`${name}.weight`, ones(c), [c]);
      const bias = bn.bias ? await weight(g, `${name}.bias`, bn.bias) : g.floatInit(`${name}.bias`, new Float32Array(c), [c]);
      const inputs = [x.name, scale, bias, await weight(g, `${name}.running_mean`, mean), await weight(g, `${name}.running_var`, variance)];
      return same(g.node('BatchNormalization', inputs, { epsilon: { float: bn.eps } }, name));
    }
    case LayerNorm:
      return same(await layerNormOf(g, x.name, m as LayerNorm, name));
    default:
      throw unsupported(m, name);
  }
}

/** The first layer that fixes the input's shape, looking into nested Sequentials. */
function firstLayer(m: Module): Module | undefined {
  for (const sub of m.children()) {
    if (sub instanceof Dropout || sub instanceof Identity) continue;
    return sub.constructor === Sequential ? firstLayer(sub) : sub;
  }
  return undefined;
}

function defaultInputShape(model: Sequential): Dim[] {
  const first = firstLayer(model);
  if (first?.constructor === Linear) return [(first as Linear).inFeatures];
  if (first?.constructor === Conv2d) return [(first as Conv2d).inChannels, 'height', 'width'];
  throw new ValueError(
    OP,
    `cannot tell the input shape of a Sequential that starts with ${first ? first.constructor.name : 'no layer'}: pass inputShape`,
  );
}

/** Runs `fn` with every module in eval mode, then restores each module's flag. */
function inEvalMode<T>(model: Module, fn: () => T): T {
  const modes = [...model.modules()].map((m) => [m, m.training] as const);
  model.eval();
  try {
    return fn();
  } finally {
    for (const [m, t] of modes) m.training = t;
  }
}

async function exportSequential(model: Sequential, opts: ExportONNXOptions): Promise<Omit<ONNXExport, 'bytes'> & { g: GraphBuilder }> {
  const shape = [...(opts.inputShape ?? defaultInputShape(model))];
  if (!shape.every((d) => (typeof d === 'number' && Number.isInteger(d) && d >= 1) || (typeof d === 'string' && d !== '')))
    throw new ValueError(OP, `inputShape must list positive integers or names, got ${JSON.stringify(shape)}`);
  const g = new GraphBuilder();
  const inShape: Dim[] = ['batch', ...shape];
  const x = g.input('input', ONNX_FLOAT, inShape);
  const y = await emitLayer(g, { name: x, rank: inShape.length }, model, '');
  // the output's shape, when the input's is fixed: from a forward pass of one zero example in eval mode
  let outShape: Dim[] | null = null;
  if (shape.every((d) => typeof d === 'number')) {
    const probeShape = [1, ...(shape as number[])];
    outShape = inEvalMode(model, () =>
      noGrad(() => {
        const probe = zeros(probeShape, { device: model.parameters()[0]?.device });
        const out = model.forward(probe) as Tensor;
        const s: Dim[] = ['batch', ...out.shape.slice(1)];
        probe.dispose();
        out.dispose();
        return s;
      }),
    );
    if (outShape.length !== y.rank) throw new ShapeError(OP, `the graph's output has rank ${y.rank}, the model's ${outShape.length}`);
  }
  g.output(y.name, 'output', ONNX_FLOAT, outShape ?? Array.from({ length: y.rank }, (_, i) => (i === 0 ? 'batch' : `output_dim${i}`)));
  return {
    g,
    kind: 'sequential',
    opset: ONNX_OPSET,
    inputs: [{ name: 'input', dtype: 'float32', shape: inShape }],
    outputs: [{ name: 'output', dtype: 'float32', shape: outShape }],
  };
}

async function embeddingWeight(g: GraphBuilder, m: Module, name: string): Promise<string> {
  if (m.constructor !== Embedding) throw unsupported(m, name, 'the model');
  return weight(g, `${name}.weight`, (m as Embedding).weight);
}

async function exportTextCNN(model: TextCNN): Promise<Omit<ONNXExport, 'bytes'> & { g: GraphBuilder }> {
  const cfg = model.config;
  const g = new GraphBuilder();
  const inShape: Dim[] = ['batch', 'sequence'];
  let ids = g.input('input_ids', ONNX_INT64, inShape);
  const maxK = Math.max(...cfg.kernelSizes);
  if (cfg.paddingIdx !== null && maxK > 1) {
    // sequences shorter than the widest window are padded with paddingIdx up to it, as TextCNN.features
    const len = g.node('Gather', [g.node('Shape', [ids], {}, 'ids_shape'), g.int64('one', 1)], { axis: 0 }, 'seq_len');
    const need = g.node('Max', [g.node('Sub', [g.int64('max_kernel', maxK), len], {}, 'short_by'), g.int64('zero', 0)], {}, 'pad_len');
    const pads = g.node(
      'Concat',
      [g.int64('pads_head', [0, 0, 0]), g.node('Unsqueeze', [need, g.int64('axis0', [0])], {}, 'pad_len_1d')],
      { axis: 0 },
      'pads',
    );
    ids = g.node('Pad', [ids, pads, g.int64('padding_idx', cfg.paddingIdx)], { mode: 'constant' }, 'padded_ids');
  }
  const emb = g.node('Gather', [await embeddingWeight(g, model.embedding, 'embedding'), ids], { axis: 0 }, 'embedding');
  const x = g.node('Unsqueeze', [emb, g.int64('axis1', [1])], {}, 'embedding_nchw'); // [N, 1, L, D]
  const pooled: string[] = [];
  for (const [i, conv] of model.convs.entries()) {
    const name = `convs.${i}`;
    if (conv.constructor !== Conv2d) throw unsupported(conv, name, 'the TextCNN');
    const y = g.node('Relu', [await conv2d(g, x, conv, name)], {}, `${name}.relu`);
    pooled.push(g.node('ReduceMax', [y], { axes: [2, 3], keepdims: 0 }, `${name}.max_over_time`));
  }
  const feats = pooled.length === 1 ? pooled[0]! : g.node('Concat', pooled, { axis: 1 }, 'features');
  if (model.fc.constructor !== Linear) throw unsupported(model.fc, 'fc', 'the TextCNN');
  const logits = await linear(g, { name: feats, rank: 2 }, model.fc, 'fc');
  const outShape: Dim[] = ['batch', cfg.numClasses];
  g.output(logits.name, 'logits', ONNX_FLOAT, outShape);
  return {
    g,
    kind: 'text-cnn',
    opset: ONNX_OPSET,
    inputs: [{ name: 'input_ids', dtype: 'int64', shape: inShape }],
    outputs: [{ name: 'logits', dtype: 'float32', shape: outShape }],
  };
}

async function exportGPT(model: GPT): Promise<Omit<ONNXExport, 'bytes'> & { g: GraphBuilder }> {
  for (const [name, m] of model.namedModules()) {
    if (m instanceof QuantizedLinear || m instanceof QuantizedEmbedding)
      throw new ValueError(OP, `the GPT is quantized (${name} is a ${m.constructor.name}): export the float checkpoint it came from`);
  }
  const cfg = model.config;
  const tr = model.transformer;
  const g = new GraphBuilder();
  const inShape: Dim[] = ['batch', 'sequence'];
  const ids = g.input('input_ids', ONNX_INT64, inShape);
  const wte = await embeddingWeight(g, tr.wte, 'transformer.wte');
  const wpe = await embeddingWeight(g, tr.wpe, 'transformer.wpe');
  const len = g.node('Gather', [g.node('Shape', [ids], {}, 'ids_shape'), g.int64('one', 1)], { axis: 0 }, 'seq_len');
  const pos = g.node('Range', [g.int64('zero', 0), len, g.int64('step', 1)], {}, 'positions');
  let x = g.node(
    'Add',
    [g.node('Gather', [wte, ids], { axis: 0 }, 'tok_emb'), g.node('Gather', [wpe, pos], { axis: 0 }, 'pos_emb')],
    {},
    'embeddings',
  );
  // the causal mask [T, T]: true above the diagonal (a key after the query), shared by every layer
  const future = g.node(
    'Greater',
    [g.node('Unsqueeze', [pos, g.int64('axes0', [0])], {}, 'key_pos'), g.node('Unsqueeze', [pos, g.int64('axes1', [1])], {}, 'query_pos')],
    {},
    'causal_mask',
  );
  const negInf = g.scalar('neg_inf', Number.NEGATIVE_INFINITY);
  const blocks = tr.h as TransformerBlock[];
  for (const [i, block] of blocks.entries()) {
    const p = `transformer.h.${i}`;
    const attn = block.attn;
    for (const [part, m] of [
      ['attn.c_attn', attn.c_attn],
      ['attn.c_proj', attn.c_proj],
      ['mlp.c_fc', block.mlp.c_fc],
      ['mlp.c_proj', block.mlp.c_proj],
    ] as const) {
      if (m.constructor !== Linear) throw unsupported(m, `${p}.${part}`, 'the GPT');
    }
    const hd = attn.headDim;
    const heads = attn.nHead;
    const inner = attn.innerDim;
    const h = await layerNormOf(g, x, block.ln_1, `${p}.ln_1`);
    const qkv = await linear(g, { name: h, rank: 3 }, attn.c_attn, `${p}.attn.c_attn`);
    const [q, k, v] = g.nodeN('Split', [qkv.name], { axis: 2 }, 3, `${p}.attn.qkv`) as [string, string, string];
    const headShape = g.int64(`${p}.attn.head_shape`, [0, 0, heads, hd]);
    const toHeads = (z: string, perm: number[], hint: string): string =>
      g.node('Transpose', [g.node('Reshape', [z, headShape], {}, `${hint}_split`)], { perm }, hint);
    const qh = toHeads(q, [0, 2, 1, 3], `${p}.attn.q`); // [B, H, T, hd]
    const kt = toHeads(k, [0, 2, 3, 1], `${p}.attn.k_t`); // [B, H, hd, T]
    const vh = toHeads(v, [0, 2, 1, 3], `${p}.attn.v`);
    const scores = g.node(
      'Mul',
      [g.node('MatMul', [qh, kt], {}, `${p}.attn.qk`), g.scalar(`${p}.attn.scale`, 1 / Math.sqrt(hd))],
      {},
      `${p}.attn.scores`,
    );
    const masked = g.node('Where', [future, negInf, scores], {}, `${p}.attn.masked`);
    const probs = g.node('Softmax', [masked], { axis: -1 }, `${p}.attn.probs`);
    const y = g.node('MatMul', [probs, vh], {}, `${p}.attn.y_heads`);
    const merged = g.node(
      'Reshape',
      [g.node('Transpose', [y], { perm: [0, 2, 1, 3] }, `${p}.attn.y_t`), g.int64(`${p}.attn.merged_shape`, [0, 0, inner])],
      {},
      `${p}.attn.y`,
    );
    const a = await linear(g, { name: merged, rank: 3 }, attn.c_proj, `${p}.attn.c_proj`);
    x = g.node('Add', [x, a.name], {}, `${p}.attn_residual`);
    const h2 = await layerNormOf(g, x, block.ln_2, `${p}.ln_2`);
    const fc = await linear(g, { name: h2, rank: 3 }, block.mlp.c_fc, `${p}.mlp.c_fc`);
    const act = gelu(g, fc.name, block.mlp.gelu.approximate, `${p}.mlp.gelu`);
    const mo = await linear(g, { name: act, rank: 3 }, block.mlp.c_proj, `${p}.mlp.c_proj`);
    x = g.node('Add', [x, mo.name], {}, `${p}.mlp_residual`);
  }
  const hf = await layerNormOf(g, x, tr.ln_f, 'transformer.ln_f');
  if (model.lm_head.constructor !== Linear) throw unsupported(model.lm_head, 'lm_head', 'the GPT');
  // a tied head's weight is wte's tensor: weight() finds it already written and reuses its initializer
  const logits = await linear(g, { name: hf, rank: 3 }, model.lm_head as Linear, 'lm_head');
  const outShape: Dim[] = ['batch', 'sequence', cfg.vocabSize];
  g.output(logits.name, 'logits', ONNX_FLOAT, outShape);
  return {
    g,
    kind: 'gpt',
    opset: ONNX_OPSET,
    inputs: [{ name: 'input_ids', dtype: 'int64', shape: inShape }],
    outputs: [{ name: 'logits', dtype: 'float32', shape: outShape }],
  };
}

/**
 * Exports `model` as an ONNX model (opset 17) and returns its bytes and signature. Takes a Sequential
 * of Linear, Conv2d, MaxPool2d, AvgPool2d, Flatten, BatchNorm, LayerNorm, Dropout and the activations
 * (input 'input' [batch, ...inputShape] float32, output 'output'), a TextCNN (input 'input_ids' [batch,
 * sequence] int64, output 'logits' [batch, classes]) or a GPT (input 'input_ids' [batch, sequence]
 * int64, sequence <= blockSize; output 'logits' [batch, sequence, vocab]). The graph computes the
 * eval-mode forward; the model is not changed. Other models, quantized or adapter-wrapped layers
 * and float64 weights are ValueErrors naming the layer.
 */
export async function exportONNX(model: Module, opts: ExportONNXOptions = {}): Promise<ONNXExport> {
  if (!(model instanceof Module)) throw new ValueError(OP, `expected a mox Module, got ${typeof model}`);
  let built: Omit<ONNXExport, 'bytes'> & { g: GraphBuilder };
  if (model instanceof GPT) built = await exportGPT(model);
  else if (model instanceof TextCNN) built = await exportTextCNN(model);
  else if (model.constructor === Sequential) built = await exportSequential(model as Sequential, opts);
  else
    throw new ValueError(
      OP,
      `cannot export a ${model.constructor.name}: exportONNX takes a Sequential (an MLP or a CNN), a TextCNN or a GPT`,
    );
  const { g, ...sig } = built;
  const bytes = encodeModel(g, {
    opset: ONNX_OPSET,
    graphName: `mox_${sig.kind.replace('-', '_')}`,
    producerVersion: opts.producerVersion ?? 'unknown',
    docString: `${sig.kind} exported by mox (eval mode)`,
    metadata: {
      ...opts.metadata,
      'mox.kind': sig.kind,
      'mox.inputs': JSON.stringify(sig.inputs),
      'mox.outputs': JSON.stringify(sig.outputs),
    },
  });
  return { bytes, ...sig };
}
