// A GPT checkpoint folder: config.json (the model's GPTConfig under "gpt", plus whatever else the
// writer adds) and model.safetensors (the state dict under nanoGPT's names). Files are written under
// temporary names and renamed into place, so a reader sees the old file or the new one, never half.

import '../ops/tensor-methods.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError, showValue } from '../errors.js';
import { scope } from '../tensor/memory.js';
import { loadSafetensorsSync, saveSafetensors } from '../io/safetensors-tensors.js';
import { parseSafetensors } from '../io/safetensors-format.js';
import { isQuantized } from '../quant/quantize.js';
import { loadQuantizedInto, parseQuantizationBlock, saveQuantized } from '../quant/files.js';
import { readJson } from '../io/files.js';
import { GPT, type GPTConfig, normalizePrunedHeads } from './gpt.js';
import { isHuggingFaceGPT2Config, loadHuggingFaceGPT2Checkpoint } from './hf-gpt2.js';

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

/** Saves model.safetensors (with `metadata`) into dir, atomically, from a model on any device. */
export async function saveGPTWeights(dir: string, model: GPT, metadata: Record<string, string> = {}): Promise<void> {
  if (isQuantized(model)) {
    await saveQuantized(path.join(dir, 'model.safetensors'), model, { format: 'pt', model: 'gpt', ...metadata });
    return;
  }
  await saveSafetensors(path.join(dir, 'model.safetensors'), model.stateDict(), { format: 'pt', model: 'gpt', ...metadata });
}

/**
 * Loads a GPT from a checkpoint folder: config.json's "gpt" entry and model.safetensors. Returns the
 * model, the whole config.json and the weights file's metadata. A Hugging Face GPT-2 folder
 * (config.json with model_type "gpt2") is accepted too: see hf-gpt2.ts.
 */
export function loadGPT(dir: string): {
  /** The model, with the folder's weights. */
  model: GPT;
  /** The folder's config.json. */
  config: Record<string, unknown>;
  /** The weights file's metadata. */
  metadata: Record<string, string>;
} {
  if (!fs.existsSync(dir)) throw new DataError('checkpoint', `no such folder: ${dir}`);
  if (!fs.statSync(dir).isDirectory())
    throw new DataError('checkpoint', `${dir} is not a folder (a checkpoint folder holds config.json and model.safetensors)`);
  const configFile = path.join(dir, 'config.json');
  if (!fs.existsSync(configFile)) throw new DataError('checkpoint', `${dir} is not a mox GPT checkpoint: it has no config.json`);
  const config = readJson(configFile);
  if (isHuggingFaceGPT2Config(config)) return loadHuggingFaceGPT2Checkpoint(dir);
  const cfg = parseGPTConfig(config['gpt'], configFile);
  const weights = path.join(dir, 'model.safetensors');
  if (!fs.existsSync(weights)) throw new DataError('checkpoint', `${dir} has no model.safetensors`);
  if (config['quantization'] !== undefined && config['quantization'] !== null) return loadQuantizedGPT(cfg, config, configFile, weights);
  const { tensors, metadata } = loadSafetensorsSync(weights);
  let model: GPT;
  try {
    const need = gptMinWeights(cfg);
    const have = weightCount(tensors);
    if (need > have)
      throw new DataError(
        'checkpoint',
        `${weights} does not fit config.json: it holds ${have} values, but the model ${configFile} describes (vocabSize ${cfg.vocabSize}, blockSize ${cfg.blockSize}, ` +
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
        `${weights} does not fit config.json: ` +
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
      throw new DataError('checkpoint', `${weights} does not fit config.json: ${(e as Error).message}`);
    }
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
  return { model, config, metadata };
}

/**
 * A quantized GPT checkpoint (config.json has a "quantization" block, see quant/files.ts): the float
 * skeleton is built, then its quantized layers are swapped in with the file's packed weights.
 */
function loadQuantizedGPT(
  cfg: GPTConfig,
  config: Record<string, unknown>,
  configFile: string,
  weights: string,
): { model: GPT; config: Record<string, unknown>; metadata: Record<string, string> } {
  const info = parseQuantizationBlock(config['quantization'], configFile);
  const { metadata, entries } = parseSafetensors(fs.readFileSync(weights), weights);
  // a corrupt config.json must not make us build a model far bigger than the file: int4 keeps half a
  // byte per weight, the others one byte (plus scales)
  const have = [...entries.values()].reduce((n, e) => n + e.data.length, 0);
  const need = gptMinWeights(cfg) * (info.scheme === 'int4' ? 0.5 : 1);
  if (need > have)
    throw new DataError(
      'checkpoint',
      `${weights} does not fit config.json: it holds ${have} bytes, but a ${info.scheme} model of the shape ${configFile} describes needs at least ${need}`,
    );
  const model = new GPT(cfg);
  try {
    loadQuantizedInto(model, info, entries, weights);
  } catch (e) {
    for (const [, t] of model.namedBuffers()) t.dispose();
    for (const p of model.parameters()) p.dispose();
    throw e;
  }
  return { model, config, metadata };
}
