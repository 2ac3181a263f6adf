// Classifier checkpoint folders, for the models that have no folder of their own yet: a Sequential
// (the MLP, the CNN of examples/small-cnn.ts) and the TextCNN. The folder holds
//   config.json        { "model": "sequential", "sequential": { "input_shape": [1, 28, 28], "layers": [...] } }
//                      or { "model": "text-cnn", "text_cnn": the TextCNNConfig }, plus whatever the writer adds
//   model.safetensors  the state dict under PyTorch's names ('0.weight', 'convs.1.bias', ...)
//   tokenizer.json     optional: the text CNN's tokenizer (mox.text's JSON, e.g. a WordTokenizer)
// A Sequential's layers are listed as { "type": "Conv2d", "in_channels": 1, ... }, torch.nn's class
// and argument names, so the folder says what the network is without any code. `mox export-onnx` and
// `mox serve` read these folders (loadClassifier); saveClassifier writes them.

import '../ops/tensor-methods.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError, MoxError, ValueError, showValue } from '../errors.js';
import { scope } from '../tensor/memory.js';
import { loadSafetensorsSync, saveSafetensors } from '../io/safetensors-tensors.js';
import { readJson, writeFileAtomic } from '../io/files.js';
import type { Tokenizer } from '../text/tokenizer.js';
import { loadTokenizerDir } from '../text/load-tokenizer.js';
import type { Module } from '../nn/module.js';
import { Linear, Identity } from '../nn/layers/linear.js';
import { Conv2d } from '../nn/layers/conv.js';
import { AvgPool2d, MaxPool2d } from '../nn/layers/pooling.js';
import { Flatten } from '../nn/layers/flatten.js';
import { GELU, LeakyReLU, LogSoftmax, ReLU, SiLU, Sigmoid, Softmax, Softplus, Tanh } from '../nn/layers/activation.js';
import { Dropout } from '../nn/layers/dropout.js';
import { BatchNorm1d, BatchNorm2d, LayerNorm } from '../nn/layers/normalization.js';
import { Sequential } from '../nn/layers/containers.js';
import { TextCNN, type TextCNNConfig } from './text-cnn.js';

const OP = 'classifier checkpoint';

/** The "model" values of config.json this file reads and writes. */
export const SEQUENTIAL_MODEL_TYPE = 'sequential';
/** The "model" value of a TextCNN's config.json. */
export const TEXT_CNN_MODEL_TYPE = 'text-cnn';

/** One layer of a Sequential as config.json lists it. */
export type LayerSpec = {
  /** The layer class, e.g. 'Linear'. */
  type: string;
} & Record<string, unknown>;

const pair = (v: number | readonly [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);

/** The spec of one layer (exact classes only: a subclass is refused, since the spec could not rebuild it). */
export function layerSpec(m: Module, name: string): LayerSpec {
  switch (m.constructor) {
    case Sequential:
      return { type: 'Sequential', layers: [...(m as Sequential).namedChildren()].map(([k, c]) => layerSpec(c, `${name}.${k}`)) };
    case Linear: {
      const l = m as Linear;
      return { type: 'Linear', in_features: l.inFeatures, out_features: l.outFeatures, bias: l.bias !== null };
    }
    case Conv2d: {
      const c = m as Conv2d;
      return {
        type: 'Conv2d',
        in_channels: c.inChannels,
        out_channels: c.outChannels,
        kernel_size: c.kernelSize,
        stride: c.stride,
        padding: c.padding,
        dilation: c.dilation,
        groups: c.groups,
        bias: c.bias !== null,
      };
    }
    case MaxPool2d: {
      const p = m as MaxPool2d;
      return {
        type: 'MaxPool2d',
        kernel_size: pair(p.kernelSize),
        stride: pair(p.stride),
        padding: pair(p.padding),
        dilation: pair(p.dilation),
        ceil_mode: p.ceilMode,
      };
    }
    case AvgPool2d: {
      const p = m as AvgPool2d;
      if (p.divisorOverride !== undefined) throw new ValueError(OP, `layer ${name}: AvgPool2d's divisorOverride is not saved`);
      return {
        type: 'AvgPool2d',
        kernel_size: pair(p.kernelSize),
        stride: pair(p.stride),
        padding: pair(p.padding),
        ceil_mode: p.ceilMode,
        count_include_pad: p.countIncludePad,
      };
    }
    case Flatten:
      return { type: 'Flatten', start_dim: (m as Flatten).startDim, end_dim: (m as Flatten).endDim };
    case LeakyReLU:
      return { type: 'LeakyReLU', negative_slope: (m as LeakyReLU).negativeSlope };
    case GELU:
      return { type: 'GELU', approximate: (m as GELU).approximate };
    case Softmax:
    case LogSoftmax:
      return { type: m.constructor.name, dim: (m as Softmax).dim };
    case Dropout:
      return { type: 'Dropout', p: (m as Dropout).p };
    case BatchNorm1d:
    case BatchNorm2d: {
      const b = m as BatchNorm1d;
      return {
        type: m.constructor.name,
        num_features: b.numFeatures,
        eps: b.eps,
        momentum: b.momentum,
        affine: b.affine,
        track_running_stats: b.trackRunningStats,
      };
    }
    case LayerNorm: {
      const l = m as LayerNorm;
      return {
        type: 'LayerNorm',
        normalized_shape: l.normalizedShape,
        eps: l.eps,
        elementwise_affine: l.elementwiseAffine,
        bias: l.bias !== null,
      };
    }
    case ReLU:
    case SiLU:
    case Sigmoid:
    case Tanh:
    case Softplus:
    case Identity:
      return { type: m.constructor.name };
    default:
      throw new ValueError(OP, `layer ${name} is a ${m.constructor.name}, which a Sequential checkpoint cannot describe`);
  }
}

/** Builds a layer from its spec; `at` names it in errors (the file and the layer's path). */
function buildLayer(s: unknown, at: string): Module {
  if (typeof s !== 'object' || s === null || typeof (s as LayerSpec).type !== 'string')
    throw new DataError(OP, `${at}: a layer must be an object with a "type", got ${showValue(s)}`);
  const o = s as LayerSpec;
  const int = (k: string, min = 1): number => {
    const v = o[k];
    if (!Number.isSafeInteger(v) || (v as number) < min)
      throw new DataError(OP, `${at}: ${o.type}.${k} must be an integer >= ${min}, got ${showValue(v)}`);
    return v as number;
  };
  const ints2 = (k: string, min: number): [number, number] => {
    const v = o[k];
    const p = typeof v === 'number' ? [v, v] : v;
    if (!Array.isArray(p) || p.length !== 2 || !p.every((n) => Number.isSafeInteger(n) && n >= min))
      throw new DataError(OP, `${at}: ${o.type}.${k} must be an integer >= ${min} or a pair of them, got ${showValue(v)}`);
    return [p[0] as number, p[1] as number];
  };
  const num = (k: string, fallback: number): number => {
    const v = o[k] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new DataError(OP, `${at}: ${o.type}.${k} must be a number, got ${showValue(v)}`);
    return v;
  };
  const bool = (k: string, fallback: boolean): boolean => {
    const v = o[k] ?? fallback;
    if (typeof v !== 'boolean') throw new DataError(OP, `${at}: ${o.type}.${k} must be true or false, got ${showValue(v)}`);
    return v;
  };
  try {
    switch (o.type) {
      case 'Sequential': {
        if (!Array.isArray(o['layers'])) throw new DataError(OP, `${at}: Sequential.layers must be a list, got ${showValue(o['layers'])}`);
        return new Sequential((o['layers'] as unknown[]).map((l, i) => buildLayer(l, `${at}.${i}`)));
      }
      case 'Linear':
        return new Linear(int('in_features'), int('out_features'), bool('bias', true));
      case 'Conv2d': {
        const pad = o['padding'] ?? 0;
        return new Conv2d(int('in_channels'), int('out_channels'), ints2('kernel_size', 1), {
          stride: o['stride'] === undefined ? 1 : ints2('stride', 1),
          padding: pad === 'same' || pad === 'valid' ? pad : ints2('padding', 0),
          dilation: o['dilation'] === undefined ? 1 : ints2('dilation', 1),
          groups: o['groups'] === undefined ? 1 : int('groups'),
          bias: bool('bias', true),
        });
      }
      case 'MaxPool2d':
        return new MaxPool2d(ints2('kernel_size', 1), {
          stride: o['stride'] === undefined ? undefined : ints2('stride', 1),
          padding: o['padding'] === undefined ? 0 : ints2('padding', 0),
          dilation: o['dilation'] === undefined ? 1 : ints2('dilation', 1),
          ceilMode: bool('ceil_mode', false),
        });
      case 'AvgPool2d':
        return new AvgPool2d(ints2('kernel_size', 1), {
          stride: o['stride'] === undefined ? undefined : ints2('stride', 1),
          padding: o['padding'] === undefined ? 0 : ints2('padding', 0),
          ceilMode: bool('ceil_mode', false),
          countIncludePad: bool('count_include_pad', true),
        });
      case 'Flatten':
        return new Flatten(num('start_dim', 1), num('end_dim', -1));
      case 'LeakyReLU':
        return new LeakyReLU(num('negative_slope', 0.01));
      case 'GELU': {
        const a = o['approximate'] ?? 'none';
        if (a !== 'none' && a !== 'tanh') throw new DataError(OP, `${at}: GELU.approximate must be "none" or "tanh", got ${showValue(a)}`);
        return new GELU(a);
      }
      case 'Softmax':
        return new Softmax(num('dim', -1));
      case 'LogSoftmax':
        return new LogSoftmax(num('dim', -1));
      case 'Dropout':
        return new Dropout(num('p', 0.5));
      case 'BatchNorm1d':
      case 'BatchNorm2d': {
        const momentum = o['momentum'] === null ? null : num('momentum', 0.1);
        const opts = {
          eps: num('eps', 1e-5),
          momentum,
          affine: bool('affine', true),
          trackRunningStats: bool('track_running_stats', true),
        };
        return o.type === 'BatchNorm1d' ? new BatchNorm1d(int('num_features'), opts) : new BatchNorm2d(int('num_features'), opts);
      }
      case 'LayerNorm': {
        const shape = o['normalized_shape'];
        if (!Array.isArray(shape) || shape.length === 0 || !shape.every((n) => Number.isSafeInteger(n) && n >= 1))
          throw new DataError(OP, `${at}: LayerNorm.normalized_shape must be a list of positive integers, got ${showValue(shape)}`);
        return new LayerNorm(shape as number[], {
          eps: num('eps', 1e-5),
          elementwiseAffine: bool('elementwise_affine', true),
          bias: bool('bias', true),
        });
      }
      case 'ReLU':
        return new ReLU();
      case 'SiLU':
        return new SiLU();
      case 'Sigmoid':
        return new Sigmoid();
      case 'Tanh':
        return new Tanh();
      case 'Softplus':
        return new Softplus();
      case 'Identity':
        return new Identity();
      default:
        throw new DataError(OP, `${at}: unknown layer type ${showValue(o.type)}`);
    }
  } catch (e) {
    if (e instanceof DataError) throw e;
    if (e instanceof MoxError) throw new DataError(OP, `${at}: ${e.message}`);
    throw e;
  }
}

/** The number of weight values a spec's layers hold at least, to refuse a config.json much bigger than its weights before building it. */
function specSize(s: unknown): number {
  if (typeof s !== 'object' || s === null) return 0;
  const o = s as Record<string, unknown>;
  const n = (k: string): number => (typeof o[k] === 'number' ? (o[k] as number) : 0);
  const p = (k: string): number =>
    Array.isArray(o[k]) ? (o[k] as unknown[]).reduce<number>((a, b) => a * (typeof b === 'number' ? b : 0), 1) : n(k) * n(k);
  switch (o['type']) {
    case 'Sequential':
      return Array.isArray(o['layers']) ? (o['layers'] as unknown[]).reduce<number>((a, l) => a + specSize(l), 0) : 0;
    case 'Linear':
      return n('in_features') * n('out_features');
    case 'Conv2d':
      return (n('in_channels') / Math.max(1, n('groups') || 1)) * n('out_channels') * p('kernel_size');
    case 'BatchNorm1d':
    case 'BatchNorm2d':
      return n('num_features');
    default:
      return 0;
  }
}

/** Options of saveClassifier: input shape, extra config entries, overwrite, tokenizer. */
export interface SaveClassifierOptions {
  /** A Sequential's input, one example without the batch axis ([784], [1, 28, 28]); recorded for export and serving. */
  inputShape?: readonly number[];
  /** More config.json entries (class names, the dataset, ...). */
  extra?: Record<string, unknown>;
  /** Replace a checkpoint already in dir. */
  overwrite?: boolean;
  /** A text model's tokenizer, written as tokenizer.json (its toJSON()), so the folder turns text into ids. */
  tokenizer?: Tokenizer & {
    /** The tokenizer.json object. */
    toJSON(): object;
  };
}

/** Writes a Sequential or a TextCNN as a classifier checkpoint folder (config.json, model.safetensors), each file atomically. */
export async function saveClassifier(dir: string, model: Sequential | TextCNN, opts: SaveClassifierOptions = {}): Promise<void> {
  let config: Record<string, unknown>;
  if (model instanceof TextCNN) config = { model: TEXT_CNN_MODEL_TYPE, text_cnn: model.config };
  else if (model.constructor === Sequential) {
    const spec = layerSpec(model, 'model');
    config = {
      model: SEQUENTIAL_MODEL_TYPE,
      sequential: { ...(opts.inputShape ? { input_shape: [...opts.inputShape] } : {}), layers: spec['layers'] },
    };
  } else throw new ValueError('saveClassifier', `expected a Sequential or a TextCNN, got a ${(model as Module).constructor.name}`);
  if (opts.tokenizer && model instanceof TextCNN && opts.tokenizer.vocabSize > model.config.vocabSize)
    throw new ValueError(
      'saveClassifier',
      `the tokenizer has ${opts.tokenizer.vocabSize} ids, the TextCNN's embedding only ${model.config.vocabSize}`,
    );
  const taken = ['config.json', 'model.safetensors'].filter((f) => fs.existsSync(path.join(dir, f)));
  if (taken.length && !opts.overwrite)
    throw new DataError('saveClassifier', `${dir} already holds ${taken.join(', ')}; pass overwrite to replace it`);
  fs.mkdirSync(dir, { recursive: true });
  writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify({ ...opts.extra, ...config }, null, 2) + '\n');
  await saveSafetensors(path.join(dir, 'model.safetensors'), model.stateDict(), { format: 'pt', model: config['model'] as string });
  if (opts.tokenizer) writeFileAtomic(path.join(dir, 'tokenizer.json'), JSON.stringify(opts.tokenizer.toJSON()) + '\n');
}

/** Whether dir's config.json names a classifier checkpoint ("model": "sequential" or "text-cnn"). */
export function isClassifierDir(dir: string): boolean {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) return false;
  try {
    const m = readJson(file)['model'];
    return m === SEQUENTIAL_MODEL_TYPE || m === TEXT_CNN_MODEL_TYPE;
  } catch {
    return false;
  }
}

function parseTextCNNConfig(v: unknown, source: string): TextCNNConfig {
  if (typeof v !== 'object' || v === null) throw new DataError(OP, `${source} has no "text_cnn" model configuration`);
  const o = v as Record<string, unknown>;
  for (const k of ['vocabSize', 'embedDim', 'numClasses', 'numFilters'] as const) {
    if (!Number.isSafeInteger(o[k]) || (o[k] as number) < 1)
      throw new DataError(OP, `${source}: text_cnn.${k} must be a positive integer, got ${showValue(o[k])}`);
  }
  const ks = o['kernelSizes'];
  if (!Array.isArray(ks) || ks.length === 0 || !ks.every((k) => Number.isSafeInteger(k) && k >= 1))
    throw new DataError(OP, `${source}: text_cnn.kernelSizes must be a non-empty list of positive integers, got ${showValue(ks)}`);
  const pad = o['paddingIdx'] ?? null;
  if (pad !== null && !(Number.isSafeInteger(pad) && (pad as number) >= 0))
    throw new DataError(OP, `${source}: text_cnn.paddingIdx must be an id or null, got ${showValue(pad)}`);
  const dropout = o['dropout'] ?? 0.5;
  if (typeof dropout !== 'number') throw new DataError(OP, `${source}: text_cnn.dropout must be a number, got ${showValue(dropout)}`);
  return {
    vocabSize: o['vocabSize'] as number,
    embedDim: o['embedDim'] as number,
    numClasses: o['numClasses'] as number,
    numFilters: o['numFilters'] as number,
    kernelSizes: ks as number[],
    dropout,
    paddingIdx: pad as number | null,
    embeddingInit: null,
  };
}

/** A classifier checkpoint folder loaded back: the model, its kind, input shape, tokenizer and config. */
export interface LoadedClassifier {
  /** The model, with its weights loaded. */
  model: Sequential | TextCNN;
  /** Which architecture the folder holds. */
  kind: 'sequential' | 'text-cnn';
  /** A Sequential's input shape from config.json (one example, no batch axis), when it was saved. */
  inputShape: number[] | undefined;
  /** The folder's tokenizer.json, when it has one. */
  tokenizer: Tokenizer | null;
  /** The folder's config.json. */
  config: Record<string, unknown>;
}

/** Loads a classifier checkpoint folder written by saveClassifier (or by hand in its layout). */
export function loadClassifier(dir: string): LoadedClassifier {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new DataError(OP, `no such folder: ${dir}`);
  const configFile = path.join(dir, 'config.json');
  const config = readJson(configFile);
  const kind = config['model'];
  let build: () => Sequential | TextCNN;
  let need: number;
  let inputShape: number[] | undefined;
  if (kind === SEQUENTIAL_MODEL_TYPE) {
    const seq = config['sequential'];
    if (typeof seq !== 'object' || seq === null) throw new DataError(OP, `${configFile} has no "sequential" entry`);
    const s = seq as Record<string, unknown>;
    const shape = s['input_shape'];
    if (shape !== undefined && !(Array.isArray(shape) && shape.every((n) => Number.isSafeInteger(n) && n >= 1)))
      throw new DataError(OP, `${configFile}: sequential.input_shape must be a list of positive integers, got ${showValue(shape)}`);
    inputShape = shape as number[] | undefined;
    const spec = { type: 'Sequential', layers: s['layers'] };
    need = specSize(spec);
    build = () => buildLayer(spec, `${configFile}: sequential`) as Sequential;
  } else if (kind === TEXT_CNN_MODEL_TYPE) {
    const cfg = parseTextCNNConfig(config['text_cnn'], configFile);
    need = cfg.vocabSize * cfg.embedDim + cfg.kernelSizes.reduce((a, k) => a + k * cfg.embedDim * cfg.numFilters, 0);
    build = () => new TextCNN(cfg);
  } else
    throw new DataError(OP, `${configFile}: "model" is ${showValue(kind)}, not "${SEQUENTIAL_MODEL_TYPE}" or "${TEXT_CNN_MODEL_TYPE}"`);
  const weights = path.join(dir, 'model.safetensors');
  if (!fs.existsSync(weights)) throw new DataError(OP, `${dir} has no model.safetensors`);
  const { tensors } = loadSafetensorsSync(weights);
  try {
    const have = Object.values(tensors).reduce((n, t) => n + t.size, 0);
    if (need > have)
      throw new DataError(OP, `${weights} does not fit ${configFile}: it holds ${have} values, the model described needs at least ${need}`);
    const model = build();
    try {
      scope(() => model.loadStateDict(tensors));
    } catch (e) {
      throw new DataError(OP, `${weights} does not fit ${configFile}: ${(e as Error).message}`);
    }
    model.eval();
    const tokenizer = fs.existsSync(path.join(dir, 'tokenizer.json')) ? loadTokenizerDir(dir) : null;
    if (tokenizer && model instanceof TextCNN && tokenizer.vocabSize > model.config.vocabSize)
      throw new DataError(
        OP,
        `${dir}: tokenizer.json has ${tokenizer.vocabSize} ids, the TextCNN's embedding only ${model.config.vocabSize}`,
      );
    return { model, kind: kind === SEQUENTIAL_MODEL_TYPE ? 'sequential' : 'text-cnn', inputShape, tokenizer, config };
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}
