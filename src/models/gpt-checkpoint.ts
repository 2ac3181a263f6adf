// A GPT checkpoint folder: config.json (the model's GPTConfig under "gpt", plus whatever else the
// writer adds) and model.safetensors (the state dict under nanoGPT's names). Files are written under
// temporary names and renamed into place, so a reader sees the old file or the new one, never half.

import '../ops/tensor-methods.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from '../errors.js';
import { loadSafetensorsSync, saveSafetensors } from '../io/safetensors-tensors.js';
import { parseSafetensors } from '../io/safetensors-format.js';
import { isQuantized } from '../quant/quantize.js';
import { loadQuantizedInto, parseQuantizationBlock, saveQuantized } from '../quant/files.js';
import { readJson } from '../io/files.js';
import { GPT, type GPTConfig } from './gpt.js';
import { gptFromTensors, gptMinWeights, parseGPTConfig } from './gpt-bytes.js';
import { isHuggingFaceGPT2Config, loadHuggingFaceGPT2Checkpoint } from './hf-gpt2.js';

export { gptMinWeights, parseGPTConfig, weightCount } from './gpt-bytes.js';

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
  return { model: gptFromTensors(cfg, tensors, { config: configFile, weights }), config, metadata };
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
