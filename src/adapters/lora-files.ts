// LoRA adapters on disk, in Hugging Face PEFT's layout (PeftModel.save_pretrained, utils/save_and_load.py,
// config.py): a folder with adapter_model.safetensors (metadata {"format": "pt"}) holding only the
// adapter tensors, under PEFT's keys with the adapter name removed:
//   base_model.model.<module>.lora_A.weight   [r, in]    base_model.model.<module>.lora_B.weight   [out, r]
//   base_model.model.<module>.lora_embedding_A [r, num]  base_model.model.<module>.lora_embedding_B [dim, r]
// and adapter_config.json with every field PEFT's LoraConfig writes (json.dumps(indent=2, sort_keys=True)).

import '../ops/tensor-methods.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError, ShapeError, ValueError, fmtShape, showValue } from '../errors.js';
import { noGrad } from '../autograd/grad-mode.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import { loadSafetensorsSync, saveSafetensors } from '../io/safetensors.js';
import { readJson, writeFileAtomic } from '../io/files.js';
import { GPT } from '../models/gpt.js';
import { LoraLinear } from './lora-layers.js';
import { applyLora, loraConfigOf, loraLayers, unloadLora, type LoraConfig } from './lora.js';

/** File name of a PEFT adapter's weights. */
export const ADAPTER_WEIGHTS_NAME = 'adapter_model.safetensors';
/** File name of a PEFT adapter's config. */
export const ADAPTER_CONFIG_NAME = 'adapter_config.json';
/** PEFT's prefix for a LoRA model's keys: PeftModel.base_model (LoraModel) .model (the wrapped model). */
export const PEFT_PREFIX = 'base_model.model.';

/** The adapter tensors (the live ones) under PEFT's key names, module by module, A before B. */
export function loraStateDict(model: Module): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, l] of loraLayers(model)) {
    if (l instanceof LoraLinear) {
      out[`${PEFT_PREFIX}${name}.lora_A.weight`] = l.lora_A.weight;
      out[`${PEFT_PREFIX}${name}.lora_B.weight`] = l.lora_B.weight;
    } else {
      out[`${PEFT_PREFIX}${name}.lora_embedding_A`] = l.lora_embedding_A;
      out[`${PEFT_PREFIX}${name}.lora_embedding_B`] = l.lora_embedding_B;
    }
  }
  return out;
}

/** The config to save: the one applyLora recorded, else one read off the wrappers (all must agree). */
function configForSave(model: Module): LoraConfig {
  const recorded = loraConfigOf(model);
  if (recorded) return recorded;
  const layers = loraLayers(model);
  const first = layers[0]?.[1];
  if (!first) throw new ValueError('saveLoraAdapter', `the model (${model.name}) has no LoRA adapters`);
  for (const [name, l] of layers) {
    if (l.r !== first.r || l.alpha !== first.alpha || l.scaling !== first.scaling)
      throw new ValueError(
        'saveLoraAdapter',
        `the adapters differ in r or alpha (${name}: r=${l.r}, alpha=${l.alpha}; first: r=${first.r}, alpha=${first.alpha})`,
      );
  }
  const p = layers.map(([, l]) => (l instanceof LoraLinear && 'p' in l.lora_dropout ? l.lora_dropout.p : 0)).find((x) => x > 0) ?? 0;
  return {
    r: first.r,
    alpha: first.alpha,
    dropout: p,
    targetModules: layers.map(([n]) => n),
    useRslora: first.scaling !== first.alpha / first.r,
  };
}

/**
 * adapter_config.json as PEFT writes it: every field of PEFT's LoraConfig (PeftConfig's
 * base_model_name_or_path, revision, peft_type, task_type, inference_mode, auto_mapping, then LoRA's),
 * with the defaults PEFT writes for what mox does not do (DoRA, LoftQ, rank patterns, Megatron).
 * inference_mode is true, as PeftModel.save_pretrained sets it while saving.
 */
export function peftAdapterConfig(
  model: Module,
  cfg: LoraConfig,
  opts: { baseModelNameOrPath?: string | null; taskType?: string | null } = {},
): Record<string, unknown> {
  const isGPT = model instanceof GPT;
  const fields: Record<string, unknown> = {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: opts.baseModelNameOrPath ?? null,
    bias: 'none',
    exclude_modules: null,
    fan_in_fan_out: cfg.fanInFanOut ?? isGPT,
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: cfg.alpha,
    lora_bias: false,
    lora_dropout: cfg.dropout,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    r: cfg.r,
    rank_pattern: {},
    revision: null,
    target_modules: cfg.targetModules,
    task_type: opts.taskType === undefined ? (isGPT ? 'CAUSAL_LM' : null) : opts.taskType,
    use_dora: false,
    use_rslora: cfg.useRslora ?? false,
  };
  return fields;
}

/**
 * Writes the model's adapters to dir (created if needed) as PEFT does: adapter_model.safetensors and
 * adapter_config.json, each written atomically. Works for a model on any device (GPU tensors are read
 * asynchronously). Merged adapters are saved as they are (A and B do not change on merge).
 */
export async function saveLoraAdapter(
  model: Module,
  dir: string,
  opts: { baseModelNameOrPath?: string | null; taskType?: string | null } = {},
): Promise<void> {
  const cfg = configForSave(model);
  const tensors = loraStateDict(model);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new DataError('saveLoraAdapter', `cannot create ${dir}: ${(e as Error).message}`);
  }
  await saveSafetensors(path.join(dir, ADAPTER_WEIGHTS_NAME), tensors, { format: 'pt' });
  // sort_keys=True, indent=2, as PeftConfigMixin.save_pretrained
  const json = peftAdapterConfig(model, cfg, opts);
  const sorted = Object.fromEntries(
    Object.keys(json)
      .sort()
      .map((k) => [k, json[k]]),
  );
  writeFileAtomic(path.join(dir, ADAPTER_CONFIG_NAME), `${JSON.stringify(sorted, null, 2)}\n`);
}

/** PEFT features a mox adapter cannot reproduce: refused when a config asks for them, naming the field. */
function refuseUnsupported(c: Record<string, unknown>, file: string): void {
  const empty = (v: unknown) =>
    v === undefined ||
    v === null ||
    v === false ||
    (Array.isArray(v) && v.length === 0) ||
    (typeof v === 'object' && Object.keys(v as object).length === 0);
  const checks: [string, (v: unknown) => boolean][] = [
    ['use_dora', empty],
    ['lora_bias', empty],
    ['modules_to_save', empty],
    ['rank_pattern', empty],
    ['alpha_pattern', empty],
    ['layers_to_transform', empty],
    ['layer_replication', empty],
    ['trainable_token_indices', empty],
    ['target_parameters', empty],
    ['bias', (v) => v === undefined || v === 'none'],
  ];
  for (const [k, ok] of checks) {
    if (!ok(c[k]))
      throw new ValueError(
        'loadLoraAdapter',
        `${file}: ${k}=${showValue(c[k])} is not supported by mox's LoRA (only plain LoRA, bias 'none')`,
      );
  }
  const init = c.init_lora_weights;
  if (init !== undefined && init !== true && init !== false && init !== 'gaussian') {
    // the tensors are loaded over the initialisation, but PiSSA/OLoRA/LoftQ also change the base weights
    throw new ValueError(
      'loadLoraAdapter',
      `${file}: init_lora_weights=${showValue(init)} changes the base weights, which mox's LoRA does not do`,
    );
  }
}

/** Reads and checks adapter_config.json into a LoraConfig. */
export function readLoraConfig(dir: string): LoraConfig {
  const file = path.join(dir, ADAPTER_CONFIG_NAME);
  const c = readJson(file, 'loadLoraAdapter');
  if (c.peft_type !== 'LORA') throw new ValueError('loadLoraAdapter', `${file}: peft_type is ${showValue(c.peft_type)}, expected "LORA"`);
  refuseUnsupported(c, file);
  const num = (k: string, dflt?: number): number => {
    const v = c[k] ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new ValueError('loadLoraAdapter', `${file}: ${k} must be a number, got ${showValue(c[k])}`);
    return v;
  };
  const t = c.target_modules;
  if (!(typeof t === 'string' || (Array.isArray(t) && t.every((x) => typeof x === 'string'))))
    throw new ValueError('loadLoraAdapter', `${file}: target_modules must be a list of names or a regular expression, got ${showValue(t)}`);
  const cfg: LoraConfig = {
    r: num('r', 8),
    alpha: num('lora_alpha', 8),
    dropout: num('lora_dropout', 0),
    targetModules: t as string[] | string,
    fanInFanOut: c.fan_in_fan_out === true,
    useRslora: c.use_rslora === true,
  };
  if (!Number.isInteger(cfg.r) || cfg.r < 1)
    throw new ValueError('loadLoraAdapter', `${file}: r must be an integer >= 1, got ${showValue(c.r)}`);
  if (!(cfg.dropout >= 0 && cfg.dropout < 1))
    throw new ValueError('loadLoraAdapter', `${file}: lora_dropout must be in [0, 1), got ${cfg.dropout}`);
  return cfg;
}

/**
 * A PEFT key as saved (no adapter name), whatever it was written with: PEFT's own files have none,
 * but a state dict taken from a live PeftModel carries the adapter's name ('...lora_A.default.weight',
 * '...lora_embedding_A.default'). Returns [key without it, adapter name or null].
 */
function normaliseKey(key: string): [string, string | null] {
  let m = /^(.*\.lora_[AB])\.([^.]+)\.weight$/.exec(key);
  if (m) return [`${m[1]}.weight`, m[2]!];
  m = /^(.*\.lora_embedding_[AB])\.([^.]+)$/.exec(key);
  if (m) return [m[1]!, m[2]!];
  return [key, null];
}

/**
 * Loads a PEFT LoRA adapter folder onto a base model: applyLora with the saved config, then the
 * tensors into the adapters. Every key and shape is checked against the model: a missing or unexpected
 * key, a shape that differs (a different base model) or a config mox cannot follow is a typed error
 * naming the file, the key and the shapes, and leaves the model as it was. Returns the config.
 */
export function loadLoraAdapter(model: Module, dir: string): LoraConfig {
  const cfg = readLoraConfig(dir);
  const file = path.join(dir, ADAPTER_WEIGHTS_NAME);
  if (!fs.existsSync(file)) throw new DataError('loadLoraAdapter', `cannot read ${file}: no such file`);
  const loaded = loadSafetensorsSync(file).tensors;
  try {
    const tensors: Record<string, Tensor> = {};
    const names = new Set<string>();
    for (const [k, t] of Object.entries(loaded)) {
      const [key, adapter] = normaliseKey(k);
      if (adapter !== null) names.add(adapter);
      if (key in tensors) throw new DataError('loadLoraAdapter', `${file}: key ${key} appears twice (under two adapter names)`);
      tensors[key] = t;
    }
    if (names.size > 1) throw new DataError('loadLoraAdapter', `${file}: holds several adapters (${[...names].join(', ')}); mox loads one`);
    const existing = loraLayers(model);
    if (existing.length > 0)
      throw new ValueError(
        'loadLoraAdapter',
        `the model already has LoRA adapters (on ${existing[0]![0]}, ...); unloadLora or mergeAndUnload it first`,
      );
    try {
      applyLora(model, cfg);
    } catch (e) {
      if (e instanceof ValueError) throw new ValueError('loadLoraAdapter', `${dir} does not fit this model: ${e.message}`);
      throw e;
    }
    try {
      const own = loraStateDict(model);
      const missing = Object.keys(own).filter((k) => !(k in tensors));
      if (missing.length > 0)
        throw new DataError(
          'loadLoraAdapter',
          `${file}: missing ${missing.length === 1 ? 'key' : 'keys'} ${missing.slice(0, 4).join(', ')}${missing.length > 4 ? ', ...' : ''}`,
        );
      const unexpected = Object.keys(tensors).filter((k) => !(k in own));
      if (unexpected.length > 0)
        throw new DataError(
          'loadLoraAdapter',
          `${file}: unexpected ${unexpected.length === 1 ? 'key' : 'keys'} ${unexpected.slice(0, 4).join(', ')}${unexpected.length > 4 ? ', ...' : ''} (not in this model's adapters; a different base model or target_modules?)`,
        );
      for (const [k, p] of Object.entries(own)) {
        const t = tensors[k]!;
        if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i]))
          throw new ShapeError(
            'loadLoraAdapter',
            `${file}: ${k} is ${fmtShape(t.shape)} in the file, the model needs ${fmtShape(p.shape)} (a different base model?)`,
          );
        if (t.dtype !== 'float32' && t.dtype !== 'float64')
          throw new DataError('loadLoraAdapter', `${file}: ${k} is ${t.dtype}, expected a floating-point tensor`);
      }
      noGrad(() => {
        for (const [k, p] of Object.entries(own)) {
          const src = tensors[k]!;
          let moved = src.dtype === p.dtype ? src : src.to(p.dtype);
          if (moved.device !== p.device) {
            const onDevice = moved.to(p.device);
            if (moved !== src) moved.dispose();
            moved = onDevice;
          }
          p.copy_(moved);
          if (moved !== src) moved.dispose();
        }
      });
    } catch (e) {
      unloadLora(model);
      throw e;
    }
  } finally {
    for (const t of Object.values(loaded)) t.dispose();
  }
  return cfg;
}
