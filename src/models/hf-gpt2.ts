// Hugging Face GPT-2 folders: config.json (model_type "gpt2", n_embd, n_head, n_layer, n_positions,
// vocab_size, layer_norm_epsilon, tie_word_embeddings, ...) and model.safetensors with the weights of
// GPT2LMHeadModel ('transformer.h.0.attn.c_attn.weight', ...) or of the bare GPT2Model (the same keys
// without 'transformer.'). GPT-2's Conv1D stores its weight as [in, out], the transpose of a mox (and
// torch.nn) Linear's [out, in], so every c_attn / c_proj / c_fc weight is transposed on the way in and
// on the way out. Buffers such as 'h.0.attn.bias' (the causal mask) and 'h.0.attn.masked_bias' are
// ignored. Tensors may be F32, F16 or BF16 (the safetensors reader widens them to float32).
// config.json's pruned_heads ({"layer": [heads]}, transformers' config.pruned_heads) says which attention
// heads a layer lacks: its c_attn and c_proj then hold the kept heads only, and are read and written so.
//
// The head: with tie_word_embeddings false (or, when config.json does not say, an lm_head.weight that
// differs from wte) the GPT gets its own head; otherwise the head is the token embedding, as
// transformers does (an lm_head.weight in the file is then ignored, as transformers ties over it).

import '../ops/tensor-methods.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError, ShapeError, ValueError, fmtShape, showValue } from '../errors.js';
import { scope } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { tensor } from '../tensor/create.js';
import { loadSafetensorsSync, saveSafetensorsSync } from '../io/safetensors-tensors.js';
import { GPT, normalizePrunedHeads } from './gpt.js';
import { Linear } from '../nn/layers/linear.js';
import { QuantizedEmbedding, QuantizedLinear } from '../quant/layers.js';
import { readJson, writeFileAtomic } from '../io/files.js';

const WHAT = 'hf-gpt2';

/** True when config.json's object describes a Hugging Face GPT-2 (model_type "gpt2", or GPT-2's keys without mox's "gpt"). */
export function isHuggingFaceGPT2Config(config: Record<string, unknown>): boolean {
  if (config['model_type'] === 'gpt2') return true;
  return config['gpt'] === undefined && typeof config['n_embd'] === 'number' && typeof config['n_layer'] === 'number';
}

/** True when dir holds a config.json that describes a Hugging Face GPT-2 (see isHuggingFaceGPT2Config). */
export function isHuggingFaceGPT2Dir(dir: string): boolean {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) return false;
  try {
    return isHuggingFaceGPT2Config(readJson(file, WHAT));
  } catch {
    return false;
  }
}

/** What loadHuggingFaceGPT2 reads from config.json. */
export interface HuggingFaceGPT2Config {
  /** Number of token ids (vocab_size). */
  vocabSize: number;
  /** Longest sequence (n_positions). */
  blockSize: number;
  /** Number of Transformer blocks (n_layer). */
  nLayer: number;
  /** Attention heads per block (n_head). */
  nHead: number;
  /** Model width (n_embd). */
  nEmbd: number;
  /** LayerNorm epsilon (layer_norm_epsilon). */
  layerNormEpsilon: number;
  /** true / false as config.json's tie_word_embeddings says, undefined when it does not say. */
  tieWordEmbeddings: boolean | undefined;
  /** The MLP's GELU from activation_function: 'none' (exact) for "gelu", 'tanh' for "gelu_new" and its twins. */
  geluApproximate: 'none' | 'tanh';
  /** config.json's pruned_heads ({"layer": [heads]}, unpruned numbering), or undefined when none. */
  prunedHeads: Record<number, number[]> | undefined;
}

/** Checks a Hugging Face GPT-2 config.json object, rejecting what mox's GPT cannot represent. */
export function parseHuggingFaceGPT2Config(c: Record<string, unknown>, source: string): HuggingFaceGPT2Config {
  const bad = (msg: string) => new DataError(WHAT, `${source}: ${msg}`);
  if (c['model_type'] !== undefined && c['model_type'] !== 'gpt2')
    throw bad(`model_type is ${showValue(c['model_type'])}, only "gpt2" is supported`);
  const int = (key: string, fallback?: string): number => {
    let v = c[key];
    if (v === undefined && fallback !== undefined) v = c[fallback];
    if (!Number.isInteger(v) || (v as number) < 1) throw bad(`${key} must be a positive integer, got ${showValue(v)}`);
    return v as number;
  };
  const nEmbd = int('n_embd');
  const nHead = int('n_head');
  const nLayer = int('n_layer');
  const blockSize = int('n_positions', 'n_ctx');
  const vocabSize = int('vocab_size');
  if (nEmbd % nHead !== 0) throw bad(`n_embd (${nEmbd}) must be a multiple of n_head (${nHead})`);
  const act = c['activation_function'] ?? 'gelu_new';
  const geluApproximate = typeof act === 'string' && Object.hasOwn(HF_GELU, act) ? HF_GELU[act]! : undefined;
  if (geluApproximate === undefined) {
    throw bad(
      `activation_function ${showValue(act)} is not supported (mox's GPT has ${Object.keys(HF_GELU)
        .map((k) => `"${k}"`)
        .join(', ')})`,
    );
  }
  const inner = c['n_inner'];
  if (inner !== undefined && inner !== null && inner !== 4 * nEmbd) {
    throw bad(`n_inner ${showValue(inner)} is not supported: mox's GPT has an MLP of 4 * n_embd = ${4 * nEmbd} (n_inner null)`);
  }
  const eps = c['layer_norm_epsilon'] ?? 1e-5;
  if (typeof eps !== 'number' || !(eps > 0)) throw bad(`layer_norm_epsilon must be a positive number, got ${showValue(eps)}`);
  if (c['scale_attn_weights'] === false) throw bad('scale_attn_weights false is not supported (attention is scaled by 1/sqrt(head size))');
  if (c['scale_attn_by_inverse_layer_idx'] === true) throw bad('scale_attn_by_inverse_layer_idx true is not supported');
  if (c['add_cross_attention'] === true) throw bad('add_cross_attention true is not supported');
  const tie = c['tie_word_embeddings'];
  if (tie !== undefined && typeof tie !== 'boolean') throw bad(`tie_word_embeddings must be true or false, got ${showValue(tie)}`);
  let prunedHeads: Record<number, number[]> | undefined;
  try {
    prunedHeads = normalizePrunedHeads('GPT', c['pruned_heads'] as Record<number, number[]> | undefined, nLayer, nHead);
  } catch (e) {
    throw bad(`pruned_heads: ${(e as Error).message}`);
  }
  return { vocabSize, blockSize, nLayer, nHead, nEmbd, layerNormEpsilon: eps, tieWordEmbeddings: tie, geluApproximate, prunedHeads };
}

/**
 * transformers' activation names (ACT2FN) mox's GPT computes: "gelu" is the exact GELU (erf); "gelu_new",
 * "gelu_pytorch_tanh" and "gelu_fast" are the tanh approximation (gelu_fast is the same formula, factored).
 */
const HF_GELU: Readonly<Record<string, 'none' | 'tanh'>> = { gelu: 'none', gelu_new: 'tanh', gelu_pytorch_tanh: 'tanh', gelu_fast: 'tanh' };

/** The weights of GPT2Model's `h.{i}` block, as [name, conv1d]: Conv1D weights are stored transposed. */
const BLOCK_KEYS: readonly [string, boolean][] = [
  ['ln_1.weight', false],
  ['ln_1.bias', false],
  ['attn.c_attn.weight', true],
  ['attn.c_attn.bias', false],
  ['attn.c_proj.weight', true],
  ['attn.c_proj.bias', false],
  ['ln_2.weight', false],
  ['ln_2.bias', false],
  ['mlp.c_fc.weight', true],
  ['mlp.c_fc.bias', false],
  ['mlp.c_proj.weight', true],
  ['mlp.c_proj.bias', false],
];

/**
 * HF shape of each block weight for width c (Conv1D weights as stored: [in, out]); `inner` is the
 * attention's width, c unless heads are pruned (then the kept heads * the head size).
 */
function blockShape(key: string, c: number, inner = c): number[] {
  switch (key) {
    case 'attn.c_attn.weight':
      return [c, 3 * inner];
    case 'attn.c_attn.bias':
      return [3 * inner];
    case 'attn.c_proj.weight':
      return [inner, c];
    case 'mlp.c_fc.weight':
      return [c, 4 * c];
    case 'mlp.c_fc.bias':
      return [4 * c];
    case 'mlp.c_proj.weight':
      return [4 * c, c];
    default:
      return [c];
  }
}

/** Buffers a GPT-2 file may carry that are not weights. */
const IGNORED = /^h\.\d+\.attn\.(bias|masked_bias)$/;

function floatData(t: Tensor, name: string, file: string): Float32Array {
  if (t.dtype !== 'float32' && t.dtype !== 'float64')
    throw new DataError(WHAT, `${file}: ${name} has dtype ${t.dtype}, expected floating point (F32, F16, BF16)`);
  const d = t.dataSync();
  return d instanceof Float32Array ? Float32Array.from(d) : Float32Array.from(d as ArrayLike<number>);
}

function transpose2d(d: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(d.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = d[i * cols + j]!;
  return out;
}

function sameData(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Loads a Hugging Face GPT-2 folder; returns the GPT, config.json and the weights file's metadata. */
export function loadHuggingFaceGPT2Checkpoint(dir: string): {
  /** The GPT, with the folder's weights. */
  model: GPT;
  /** The folder's config.json. */
  config: Record<string, unknown>;
  /** The weights file's metadata. */
  metadata: Record<string, string>;
} {
  if (!fs.existsSync(dir)) throw new DataError(WHAT, `no such folder: ${dir}`);
  if (!fs.statSync(dir).isDirectory())
    throw new DataError(WHAT, `${dir} is not a folder (a Hugging Face GPT-2 folder holds config.json and model.safetensors)`);
  const configFile = path.join(dir, 'config.json');
  if (!fs.existsSync(configFile)) throw new DataError(WHAT, `${dir} has no config.json`);
  const config = readJson(configFile, WHAT);
  const hf = parseHuggingFaceGPT2Config(config, configFile);
  const file = path.join(dir, 'model.safetensors');
  if (!fs.existsSync(file)) {
    if (fs.existsSync(path.join(dir, 'model.safetensors.index.json')))
      throw new DataError(
        WHAT,
        `${dir} holds sharded weights (model.safetensors.index.json), which are not supported; save them as one model.safetensors`,
      );
    const bin = fs.existsSync(path.join(dir, 'pytorch_model.bin'));
    throw new DataError(
      WHAT,
      `${dir} has no model.safetensors${bin ? ' (only pytorch_model.bin, which mox cannot read: re-save with save_pretrained(dir, safe_serialization=True))' : ''}`,
    );
  }
  const { tensors, metadata } = loadSafetensorsSync(file);
  try {
    const { vocabSize, blockSize, nLayer, nHead, nEmbd: c } = hf;
    // each block has 12 tensors: a file with fewer cannot fit, and listing a billion blocks' names would not end
    const count = Object.keys(tensors).length;
    if (count < 12 * nLayer + 4)
      throw new DataError(WHAT, `${file} holds ${count} tensors, too few for config.json's n_layer ${nLayer} (${12 * nLayer + 4} or more)`);
    // keys without the GPT2LMHeadModel prefix; lm_head apart
    const byName = new Map<string, Tensor>();
    let head: Tensor | undefined;
    const unexpected: string[] = [];
    for (const [k, t] of Object.entries(tensors)) {
      if (k === 'lm_head.weight') {
        head = t;
        continue;
      }
      const bare = k.startsWith('transformer.') ? k.slice('transformer.'.length) : k;
      if (IGNORED.test(bare)) continue;
      byName.set(bare, t);
    }
    const wanted: [string, number[], boolean][] = [
      ['wte.weight', [vocabSize, c], false],
      ['wpe.weight', [blockSize, c], false],
    ];
    const innerOf = (i: number) => c - (hf.prunedHeads?.[i]?.length ?? 0) * (c / nHead);
    for (let i = 0; i < nLayer; i++) for (const [k, conv] of BLOCK_KEYS) wanted.push([`h.${i}.${k}`, blockShape(k, c, innerOf(i)), conv]);
    wanted.push(['ln_f.weight', [c], false], ['ln_f.bias', [c], false]);
    const wantedNames = new Set(wanted.map(([k]) => k));
    for (const k of byName.keys()) if (!wantedNames.has(k)) unexpected.push(k);
    const missing = wanted.filter(([k]) => !byName.has(k)).map(([k]) => `transformer.${k}`);
    const list = (xs: string[]) => `${xs.slice(0, 5).join(', ')}${xs.length > 5 ? `, ... (${xs.length} in all)` : ''}`;
    if (missing.length) throw new DataError(WHAT, `${file} does not fit config.json (n_layer ${nLayer}): missing ${list(missing)}`);
    if (unexpected.length)
      throw new DataError(WHAT, `${file} holds tensors a GPT-2 with n_layer ${nLayer} does not have: ${list(unexpected)}`);

    const sd: Record<string, Float32Array> = {};
    const shapes: Record<string, number[]> = {};
    for (const [k, shape, conv] of wanted) {
      const t = byName.get(k)!;
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        throw new ShapeError(
          WHAT,
          `${file}: transformer.${k} has shape ${fmtShape(t.shape)}, expected ${fmtShape(shape)}` +
            `${conv ? ' (Conv1D weights are stored [in, out])' : ''} for n_embd ${c}, vocab_size ${vocabSize}, n_positions ${blockSize}`,
        );
      }
      let d = floatData(t, k, file);
      let s = shape;
      if (conv) {
        d = transpose2d(d, shape[0]!, shape[1]!);
        s = [shape[1]!, shape[0]!];
      }
      sd[`transformer.${k}`] = d;
      shapes[`transformer.${k}`] = s;
    }
    let tied: boolean;
    let headData: Float32Array | undefined;
    if (hf.tieWordEmbeddings === false) {
      if (!head) throw new DataError(WHAT, `${file}: config.json says tie_word_embeddings false but the file has no lm_head.weight`);
      tied = false;
    } else if (hf.tieWordEmbeddings === true || !head) {
      tied = true;
    } else {
      headData = floatData(head, 'lm_head.weight', file);
      tied =
        head.shape.length === 2 && head.shape[0] === vocabSize && head.shape[1] === c && sameData(headData, sd['transformer.wte.weight']!);
    }
    if (!tied) {
      if (head!.shape.length !== 2 || head!.shape[0] !== vocabSize || head!.shape[1] !== c) {
        throw new ShapeError(WHAT, `${file}: lm_head.weight has shape ${fmtShape(head!.shape)}, expected ${fmtShape([vocabSize, c])}`);
      }
      sd['lm_head.weight'] = headData ?? floatData(head!, 'lm_head.weight', file);
      shapes['lm_head.weight'] = [vocabSize, c];
    }
    const model = new GPT({
      vocabSize,
      blockSize,
      nLayer,
      nHead,
      nEmbd: c,
      dropout: 0,
      bias: true,
      tiedEmbeddings: tied,
      geluApproximate: hf.geluApproximate,
      ...(hf.prunedHeads ? { prunedHeads: hf.prunedHeads } : {}),
    });
    if (hf.layerNormEpsilon !== 1e-5) {
      for (const ln of [...model.transformer.h.flatMap((b) => [b.ln_1, b.ln_2]), model.transformer.ln_f])
        (ln as { eps: number }).eps = hf.layerNormEpsilon;
    }
    scope(() => model.loadStateDict(Object.fromEntries(Object.entries(sd).map(([k, d]) => [k, tensor(d, { shape: shapes[k]! })]))));
    return { model, config, metadata };
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}

/** Loads a Hugging Face GPT-2 folder (config.json + model.safetensors) as a mox GPT. */
export function loadHuggingFaceGPT2(dir: string): GPT {
  return loadHuggingFaceGPT2Checkpoint(dir).model;
}

/**
 * Writes `model` into dir (created if needed) as a Hugging Face GPT-2 folder: config.json for
 * GPT2LMHeadModel and model.safetensors with its key names and Conv1D ([in, out]) weights, each file
 * written atomically. lm_head.weight is written only for an untied head. A model without biases gets
 * zero biases (the same function). The folder loads with transformers' GPT2LMHeadModel.from_pretrained.
 */
export function exportHuggingFaceGPT2(model: GPT, dir: string): void {
  const cfg = model.config;
  const c = cfg.nEmbd;
  const head = model.lm_head;
  if (!(head instanceof Linear) || model.modules().some((m) => m instanceof QuantizedLinear || m instanceof QuantizedEmbedding))
    throw new ValueError(
      WHAT,
      'the model is quantized: Hugging Face GPT-2 folders hold float weights; export the float checkpoint it came from',
    );
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new DataError(WHAT, `cannot create ${dir}: ${(e as Error).message}`);
  }
  const own = model.stateDict();
  const data = (k: string): Float32Array => {
    const t = own[k];
    return t ? Float32Array.from(t.dataSync() as ArrayLike<number>) : new Float32Array(0);
  };
  const out: Record<string, Tensor> = {};
  const put = (k: string, d: Float32Array, shape: number[]) => {
    out[k] = tensor(d, { shape });
  };
  try {
    put('transformer.wte.weight', data('transformer.wte.weight'), [cfg.vocabSize, c]);
    put('transformer.wpe.weight', data('transformer.wpe.weight'), [cfg.blockSize, c]);
    const lns = model.transformer.h.flatMap((b) => [b.ln_1, b.ln_2]).concat([model.transformer.ln_f]);
    const eps = lns[0]!.eps;
    if (lns.some((l) => l.eps !== eps))
      throw new DataError(WHAT, "the model's LayerNorms have different eps, which config.json cannot say");
    for (let i = 0; i < cfg.nLayer; i++) {
      for (const [k, conv] of BLOCK_KEYS) {
        const src = `transformer.h.${i}.${k}`;
        const shape = blockShape(k, c, model.transformer.h[i]!.attn.innerDim);
        let d = data(src);
        if (d.length === 0) {
          if (!k.endsWith('.bias')) throw new DataError(WHAT, `the model has no ${src}`);
          d = new Float32Array(shape[0]!); // a model without biases: zero biases compute the same
        }
        if (conv) d = transpose2d(d, shape[1]!, shape[0]!); // mox [out, in] -> Conv1D [in, out]
        put(src, d, shape);
      }
    }
    put('transformer.ln_f.weight', data('transformer.ln_f.weight'), [c]);
    const lnfBias = data('transformer.ln_f.bias');
    put('transformer.ln_f.bias', lnfBias.length ? lnfBias : new Float32Array(c), [c]);
    if (!cfg.tiedEmbeddings) put('lm_head.weight', Float32Array.from(head.weight.dataSync() as ArrayLike<number>), [cfg.vocabSize, c]);
    const config = {
      architectures: ['GPT2LMHeadModel'],
      model_type: 'gpt2',
      vocab_size: cfg.vocabSize,
      n_positions: cfg.blockSize,
      n_ctx: cfg.blockSize,
      n_embd: c,
      n_layer: cfg.nLayer,
      n_head: cfg.nHead,
      n_inner: null,
      activation_function: cfg.geluApproximate === 'none' ? 'gelu' : 'gelu_new',
      resid_pdrop: cfg.dropout,
      embd_pdrop: cfg.dropout,
      attn_pdrop: cfg.dropout,
      layer_norm_epsilon: eps,
      initializer_range: 0.02,
      scale_attn_weights: true,
      use_cache: true,
      bos_token_id: cfg.vocabSize - 1,
      eos_token_id: cfg.vocabSize - 1,
      tie_word_embeddings: cfg.tiedEmbeddings,
      torch_dtype: 'float32',
      // transformers' config.pruned_heads: {"layer": [heads]}, written only when heads are pruned
      ...(cfg.prunedHeads ? { pruned_heads: cfg.prunedHeads } : {}),
    };
    saveSafetensorsSync(path.join(dir, 'model.safetensors'), out, { format: 'pt' });
    writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  } finally {
    for (const t of Object.values(out)) t.dispose();
  }
}
