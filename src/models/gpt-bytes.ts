// A GPT from a checkpoint's contents rather than its folder: config.json's "gpt" entry and the tensors of
// model.safetensors. loadGPT (gpt-checkpoint.ts) reads the two files and calls gptFromTensors; a web
// page fetches the same two files and calls loadGPTFromBytes: one set of checks, one way to build the
// model. No file system here, so mox/browser can carry it.

import '../ops/tensor-methods.js';
import { DataError, showValue } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { scope } from '../tensor/memory.js';
import { tensorsFromSafetensors } from '../io/safetensors-bytes.js';
import { GPT, type GPTConfig, normalizePrunedHeads } from './gpt.js';

/** The config entries that must be positive integers. */
const INT_KEYS = ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd'] as const;

/** Checks a config.json's "gpt" entry and returns it as a GPTConfig. */
export function parseGPTConfig(v: unknown, source: string): GPTConfig {
  if (typeof v !== 'object' || v === null) throw new DataError('checkpoint', `${source} has no "gpt" model configuration`);
  const o = v as Record<string, unknown>;
  for (const k of INT_KEYS) {
    if (!Number.isInteger(o[k]) || (o[k] as number) < 1)
      throw new DataError('checkpoint', `${source}: gpt.${k} must be a positive integer, got ${showValue(o[k])}`);
  }
  if ((o['nEmbd'] as number) % (o['nHead'] as number) !== 0)
    throw new DataError('checkpoint', `${source}: gpt.nEmbd (${o['nEmbd']}) must be a multiple of gpt.nHead (${o['nHead']})`);
  const dropout = o['dropout'] ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1))
    throw new DataError('checkpoint', `${source}: gpt.dropout must be in [0, 1)`);
  const gelu = o['geluApproximate'] ?? 'tanh';
  if (gelu !== 'tanh' && gelu !== 'none')
    throw new DataError('checkpoint', `${source}: gpt.geluApproximate must be "tanh" or "none", got ${showValue(gelu)}`);
  let prunedHeads: Record<number, number[]> | undefined;
  try {
    prunedHeads = normalizePrunedHeads(
      'GPT',
      o['prunedHeads'] as Record<number, number[]> | undefined,
      o['nLayer'] as number,
      o['nHead'] as number,
    );
  } catch (e) {
    throw new DataError('checkpoint', `${source}: gpt.prunedHeads: ${(e as Error).message}`);
  }
  return {
    vocabSize: o['vocabSize'] as number,
    blockSize: o['blockSize'] as number,
    nLayer: o['nLayer'] as number,
    nHead: o['nHead'] as number,
    nEmbd: o['nEmbd'] as number,
    dropout,
    bias: o['bias'] !== false,
    tiedEmbeddings: o['tiedEmbeddings'] !== false,
    geluApproximate: gelu,
    ...(prunedHeads ? { prunedHeads } : {}),
  };
}

/**
 * The fewest weights a GPT of this configuration has: the token and position embeddings and, per block,
 * attention (4 c^2, or 4 c * inner where heads are pruned: inner = the kept heads * head size) and the
 * MLP (8 c^2). A loader compares it with the values the weights file holds before it builds the model,
 * so a config.json that claims a huge model (nEmbd 2^30) fails at once instead of allocating what the
 * file never had.
 */
export function gptMinWeights(
  cfg: Pick<GPTConfig, 'vocabSize' | 'blockSize' | 'nLayer' | 'nEmbd'> & Partial<Pick<GPTConfig, 'nHead' | 'prunedHeads'>>,
): number {
  const c = cfg.nEmbd;
  let removed = 0; // attention columns of the pruned heads, over all layers
  if (cfg.prunedHeads && cfg.nHead) for (const heads of Object.values(cfg.prunedHeads)) removed += heads.length * (c / cfg.nHead);
  return (cfg.vocabSize + cfg.blockSize) * c + cfg.nLayer * 12 * c * c - 4 * c * removed;
}

/** The number of values in a set of loaded tensors. */
export function weightCount(tensors: Record<string, { size: number }>): number {
  return Object.values(tensors).reduce((n, t) => n + t.size, 0);
}

/** How error messages name the two files of a checkpoint. */
export interface GPTCheckpointNames {
  /** The config.json (a path, or a URL in a web page). */
  config: string;
  /** The model.safetensors. */
  weights: string;
}

/**
 * Builds a GPT of configuration cfg and loads the tensors of model.safetensors into it, after checking
 * that they fit: the file must hold at least the values such a model has (so a config.json that claims
 * a huge model fails before allocating it), and exactly its parameter names. The tensors are disposed.
 */
export function gptFromTensors(cfg: GPTConfig, tensors: Record<string, Tensor>, names: GPTCheckpointNames): GPT {
  let model: GPT;
  try {
    const need = gptMinWeights(cfg);
    const have = weightCount(tensors);
    if (need > have)
      throw new DataError(
        'checkpoint',
        `${names.weights} does not fit config.json: it holds ${have} values, but the model ${names.config} describes (vocabSize ${cfg.vocabSize}, blockSize ${cfg.blockSize}, ` +
          `nLayer ${cfg.nLayer}, nEmbd ${cfg.nEmbd}) has at least ${need}`,
      );
    model = new GPT(cfg);
  } catch (e) {
    for (const t of Object.values(tensors)) t.dispose();
    throw e;
  }
  try {
    const sd = { ...tensors };
    // a file written with an untied copy of the head (PyTorch's state_dict lists both names)
    if (cfg.tiedEmbeddings && 'lm_head.weight' in sd) delete sd['lm_head.weight'];
    const own = Object.keys(model.stateDict());
    const missing = own.filter((k) => !(k in sd));
    const unexpected = Object.keys(sd).filter((k) => !own.includes(k));
    if (missing.length || unexpected.length) {
      throw new DataError(
        'checkpoint',
        `${names.weights} does not fit config.json: ` +
          [
            missing.length ? `missing ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}` : '',
            unexpected.length ? `unexpected ${unexpected.slice(0, 5).join(', ')}${unexpected.length > 5 ? ', ...' : ''}` : '',
          ]
            .filter(Boolean)
            .join('; '),
      );
    }
    try {
      scope(() => model.loadStateDict(sd));
    } catch (e) {
      throw new DataError('checkpoint', `${names.weights} does not fit config.json: ${(e as Error).message}`);
    }
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
  return model;
}

/**
 * Loads a GPT from a mox checkpoint's two files as values (a web page fetches them): config.json
 * parsed, and model.safetensors' bytes. Quantized and Hugging Face GPT-2 checkpoints load only in
 * Node (loadGPT): a DataError says so.
 */
export function loadGPTFromBytes(
  config: unknown,
  weights: Uint8Array,
  names: GPTCheckpointNames = { config: 'config.json', weights: 'model.safetensors' },
): {
  /** The GPT, with the checkpoint's weights. */
  model: GPT;
  /** The checkpoint's config.json as read. */
  config: Record<string, unknown>;
  /** The safetensors file's string metadata. */
  metadata: Record<string, string>;
} {
  if (typeof config !== 'object' || config === null || Array.isArray(config))
    throw new DataError('checkpoint', `${names.config} must hold a JSON object, got ${showValue(config)}`);
  const c = config as Record<string, unknown>;
  if (c['model_type'] === 'gpt2')
    throw new DataError(
      'checkpoint',
      `${names.config} describes a Hugging Face GPT-2 model: loadGPTFromBytes reads mox checkpoints (loadGPT in Node reads both)`,
    );
  if (c['quantization'] !== undefined && c['quantization'] !== null)
    throw new DataError(
      'checkpoint',
      `${names.config} describes a quantized model: loadGPTFromBytes reads float checkpoints (loadGPT in Node reads both)`,
    );
  const cfg = parseGPTConfig(c['gpt'], names.config);
  const { tensors, metadata } = tensorsFromSafetensors(weights, names.weights);
  return { model: gptFromTensors(cfg, tensors, names), config: c, metadata };
}
