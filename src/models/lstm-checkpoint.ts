// An LSTM language model checkpoint folder: config.json ({ "model": "lstm", "lstm": the
// LSTMLanguageModelConfig, plus whatever else the writer adds }) and model.safetensors (the state dict
// under PyTorch's names: encoder.weight, rnn.weight_ih_l0, ..., decoder.weight). Written atomically,
// as the GPT's (gpt-checkpoint.ts), whose JSON helpers it shares.

import '../ops/tensor-methods.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError, showValue } from '../errors.js';
import { scope } from '../tensor/memory.js';
import { loadSafetensorsSync, saveSafetensors } from '../io/safetensors-tensors.js';
import { LSTMLanguageModel, type LSTMLanguageModelConfig } from './lstm-lm.js';
import { readJson, writeFileAtomic } from '../io/files.js';

/** The "model" value of an LSTM checkpoint's config.json. */
export const LSTM_MODEL_TYPE = 'lstm';

/** Whether dir holds a config.json that says it is an LSTM language model checkpoint. */
export function isLSTMCheckpointDir(dir: string): boolean {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) return false;
  try {
    return readJson(file)['model'] === LSTM_MODEL_TYPE;
  } catch {
    return false;
  }
}

/** Checks a config.json's "lstm" entry and returns it as an LSTMLanguageModelConfig. */
export function parseLSTMConfig(v: unknown, source: string): LSTMLanguageModelConfig {
  if (typeof v !== 'object' || v === null) throw new DataError('checkpoint', `${source} has no "lstm" model configuration`);
  const o = v as Record<string, unknown>;
  for (const k of ['vocabSize', 'embedDim', 'hiddenSize', 'numLayers'] as const) {
    if (!Number.isInteger(o[k]) || (o[k] as number) < 1)
      throw new DataError('checkpoint', `${source}: lstm.${k} must be a positive integer, got ${showValue(o[k])}`);
  }
  const dropout = o['dropout'] ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1))
    throw new DataError('checkpoint', `${source}: lstm.dropout must be in [0, 1), got ${showValue(dropout)}`);
  const tie = o['tieWeights'] ?? false;
  if (typeof tie !== 'boolean')
    throw new DataError('checkpoint', `${source}: lstm.tieWeights must be true or false, got ${showValue(tie)}`);
  if (tie && o['hiddenSize'] !== o['embedDim'])
    throw new DataError(
      'checkpoint',
      `${source}: lstm.tieWeights needs hiddenSize (${o['hiddenSize']}) equal to embedDim (${o['embedDim']})`,
    );
  return {
    vocabSize: o['vocabSize'] as number,
    embedDim: o['embedDim'] as number,
    hiddenSize: o['hiddenSize'] as number,
    numLayers: o['numLayers'] as number,
    dropout,
    tieWeights: tie,
  };
}

/**
 * Writes config.json ({ model: 'lstm', lstm: config, ...extra }) and model.safetensors (with
 * `metadata`) into dir, each atomically; the folder is created if needed.
 */
export async function saveLSTM(
  dir: string,
  model: LSTMLanguageModel,
  extra: Record<string, unknown> = {},
  metadata: Record<string, string> = {},
): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify({ model: LSTM_MODEL_TYPE, lstm: model.config, ...extra }, null, 2) + '\n');
  await saveSafetensors(path.join(dir, 'model.safetensors'), model.stateDict(), { format: 'pt', model: LSTM_MODEL_TYPE, ...metadata });
}

/** Loads an LSTM language model from a checkpoint folder; returns it, the whole config.json and the weights' metadata. */
export function loadLSTM(dir: string): {
  /** The model, with the folder's weights. */
  model: LSTMLanguageModel;
  /** The folder's config.json. */
  config: Record<string, unknown>;
  /** The weights file's metadata. */
  metadata: Record<string, string>;
} {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new DataError('checkpoint', `no such folder: ${dir}`);
  const configFile = path.join(dir, 'config.json');
  const config = readJson(configFile);
  if (config['model'] !== LSTM_MODEL_TYPE)
    throw new DataError('checkpoint', `${configFile}: "model" is ${showValue(config['model'])}, not "${LSTM_MODEL_TYPE}"`);
  const cfg = parseLSTMConfig(config['lstm'], configFile);
  const weights = path.join(dir, 'model.safetensors');
  if (!fs.existsSync(weights)) throw new DataError('checkpoint', `${dir} has no model.safetensors`);
  const { tensors, metadata } = loadSafetensorsSync(weights);
  let model: LSTMLanguageModel;
  try {
    // the fewest weights this model has (embedding, the first layer's and the others' recurrent
    // matrices), checked before it is built: a config.json claiming hiddenSize 2^30 must not allocate it
    const { vocabSize: v, embedDim: e, hiddenSize: h, numLayers: l } = cfg;
    const need = v * e + 4 * h * (e + h) + (l - 1) * 8 * h * h;
    const have = Object.values(tensors).reduce((n, t) => n + t.size, 0);
    if (need > have)
      throw new DataError(
        'checkpoint',
        `${weights} does not fit config.json: it holds ${have} values, but the model ${configFile} describes (vocabSize ${v}, embedDim ${e}, hiddenSize ${h}, numLayers ${l}) has at least ${need}`,
      );
    model = new LSTMLanguageModel(cfg);
  } catch (err) {
    for (const t of Object.values(tensors)) t.dispose();
    throw err;
  }
  try {
    const own = Object.keys(model.stateDict());
    const missing = own.filter((k) => !(k in tensors));
    const unexpected = Object.keys(tensors).filter((k) => !own.includes(k));
    if (missing.length || unexpected.length) {
      throw new DataError(
        'checkpoint',
        `${weights} does not fit config.json: ` +
          [
            missing.length ? `missing ${missing.slice(0, 5).join(', ')}` : '',
            unexpected.length ? `unexpected ${unexpected.slice(0, 5).join(', ')}` : '',
          ]
            .filter(Boolean)
            .join('; '),
      );
    }
    try {
      scope(() => model.loadStateDict(tensors));
    } catch (e) {
      throw new DataError('checkpoint', `${weights} does not fit config.json: ${(e as Error).message}`);
    }
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
  return { model, config, metadata };
}
