// What makes `train gpt`'s loop a fine-tuning run (`mox finetune gpt --from DIR`): the base model and
// its tokenizer (a mox checkpoint or a Hugging Face GPT-2 folder), the corpus encoded with that
// tokenizer under an explicit policy for what it cannot encode, parameters frozen by name, and LoRA
// adapters. The run itself (optimizer, schedule, checkpoints, --resume) is train-gpt.ts's.

import '../../ops/tensor-methods.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError, ValueError } from '../../errors.js';
import { CharTokenizer } from '../../text/char.js';
import type { GPT } from '../../models/gpt.js';
import { loadGPT } from '../../models/gpt-checkpoint.js';
import { freezeParameters } from '../../nn/freeze.js';
import { applyLora, type LoraConfig, loadLoraAdapter } from '../../adapters/index.js';
import { readJson } from '../../io/files.js';
import { loadModelTokenizer, type GptTokenizer } from './gpt-tokenizer.js';

/** What to do with text the base tokenizer cannot encode: refuse (the default), drop it, or replace it. */
export type UnknownPolicy = { kind: 'error' } | { kind: 'drop' } | { kind: 'replace'; with: string };

/** A fine-tuning run's own settings, kept in its config.json under "finetune" for --resume. */
export interface FinetuneSpec {
  /** The base model's folder (absolute). */
  from: string;
  /** Glob patterns over parameter names to freeze (`transformer.h.0.*`). */
  freeze: string[];
  /** LoRA adapters instead of full fine-tuning (only the adapters train). */
  lora: LoraConfig | null;
  unknown: UnknownPolicy;
}

type MakeUsageError = (message: string) => Error;

const LORA_KEYS = ['r', 'alpha', 'dropout', 'targets'];

/**
 * Parses --lora 'r=8,alpha=16,dropout=0.05,targets=c_attn,c_proj' (PEFT's defaults for what is left
 * out: alpha 8, dropout 0; targets c_attn, GPT-2's attention projection, as PEFT's default mapping).
 * Items after targets= without a '=' are more targets.
 */
export function parseLoraSpec(spec: string, bad: MakeUsageError): LoraConfig {
  const cfg: LoraConfig = { r: 8, alpha: 8, dropout: 0, targetModules: ['c_attn'], fanInFanOut: true };
  let targets: string[] | null = null;
  for (const raw of spec.split(',')) {
    const item = raw.trim();
    if (item === '') throw bad(`--lora: empty item in '${spec}'`);
    const eq = item.indexOf('=');
    if (eq < 0) {
      if (!targets) throw bad(`--lora: '${item}' is not key=value (keys: ${LORA_KEYS.join(', ')}), in '${spec}'`);
      targets.push(item);
      continue;
    }
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    const num = Number(value);
    switch (key) {
      case 'r':
        if (!/^\d+$/.test(value) || num < 1) throw bad(`--lora: r must be an integer >= 1, got '${value}'`);
        cfg.r = num;
        targets = null;
        break;
      case 'alpha':
        if (value === '' || !Number.isFinite(num) || num <= 0) throw bad(`--lora: alpha must be a positive number, got '${value}'`);
        cfg.alpha = num;
        targets = null;
        break;
      case 'dropout':
        if (value === '' || !(num >= 0 && num < 1)) throw bad(`--lora: dropout must be in [0, 1), got '${value}'`);
        cfg.dropout = num;
        targets = null;
        break;
      case 'targets':
        if (value === '') throw bad('--lora: targets= needs at least one module name (e.g. targets=c_attn,c_proj)');
        targets = [value];
        cfg.targetModules = targets;
        break;
      default:
        throw bad(`--lora: unknown key '${key}' (keys: ${LORA_KEYS.join(', ')})`);
    }
  }
  return cfg;
}

/** Parses --unknown: error, drop, or replace:TEXT (TEXT must itself be encodable). */
export function parseUnknownPolicy(v: string | undefined, bad: MakeUsageError): UnknownPolicy {
  if (v === undefined || v === 'error') return { kind: 'error' };
  if (v === 'drop') return { kind: 'drop' };
  if (v.startsWith('replace:')) return { kind: 'replace', with: v.slice('replace:'.length) };
  throw bad(`--unknown must be error, drop or replace:TEXT, got '${v}'`);
}

const showChar = (ch: string) => `${JSON.stringify(ch)} (U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')})`;

/**
 * Encodes the fine-tuning text with the base model's tokenizer. A byte-level BPE encodes any text; a
 * character tokenizer cannot encode characters the base corpus never had: by default that is a
 * DataError naming them (with their counts) and the two ways on; with drop they are removed, with
 * replace:TEXT each becomes TEXT. Returns the ids and, when something was dropped or replaced, a line
 * saying how much.
 */
export function encodeCorpus(
  cmd: string,
  tok: GptTokenizer,
  text: string,
  policy: UnknownPolicy,
  source: string,
): { ids: Int32Array; note: string | null } {
  if (!(tok instanceof CharTokenizer)) return { ids: Int32Array.from(tok.encode(text)), note: null };
  const known = new Set(tok.chars);
  const counts = new Map<string, number>();
  for (const ch of text) if (!known.has(ch)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  if (counts.size === 0) return { ids: Int32Array.from(tok.encode(text)), note: null };
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const listed = [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([ch, n]) => `${showChar(ch)} x${n}`)
    .join(', ');
  const what = `${counts.size} distinct characters (${total} in all) that the base model's character vocabulary of ${tok.vocabSize} does not have: ${listed}${counts.size > 12 ? ', ...' : ''}`;
  if (policy.kind === 'error') {
    throw new DataError(
      cmd,
      `${source} has ${what}. The base model cannot learn new characters (its shape is fixed); pass --unknown drop to remove them, or --unknown replace:TEXT to put TEXT (e.g. replace:' ') in their place`,
    );
  }
  if (policy.kind === 'replace') {
    for (const ch of policy.with) {
      if (!known.has(ch))
        throw new DataError(cmd, `--unknown replace:${policy.with}: ${showChar(ch)} is not in the base model's vocabulary either`);
    }
  }
  let kept = '';
  for (const ch of text) kept += known.has(ch) ? ch : policy.kind === 'replace' ? policy.with : '';
  return {
    ids: Int32Array.from(tok.encode(kept)),
    note: `${policy.kind === 'drop' ? 'dropped' : `replaced with ${JSON.stringify(policy.with)}`}: ${what}`,
  };
}

/** The base model and its tokenizer, from a mox checkpoint folder or a Hugging Face GPT-2 folder. */
export function loadBase(cmd: string, from: string): { model: GPT; tok: GptTokenizer } {
  const { model } = loadGPT(from);
  const tok = loadModelTokenizer(from);
  if (!tok) {
    for (const p of model.parameters()) p.dispose();
    throw new DataError(
      cmd,
      `--from ${from} has no tokenizer (tokenizer.json, or vocab.json + merges.txt for a Hugging Face folder), so the text cannot be encoded as the base model was trained`,
    );
  }
  if (tok.vocabSize > model.config.vocabSize) {
    for (const p of model.parameters()) p.dispose();
    throw new DataError(cmd, `--from ${from}: its tokenizer has ${tok.vocabSize} tokens, the model only ${model.config.vocabSize}`);
  }
  return { model, tok };
}

/**
 * Freezes and adapts the model as the spec says: LoRA adapters (which freeze everything else), then
 * the --freeze patterns. Returns the names of what was adapted and frozen, for the log.
 */
export function prepareModel(model: GPT, spec: FinetuneSpec): { adapted: string[]; frozen: string[] } {
  const adapted = spec.lora ? applyLora(model, spec.lora) : [];
  const frozen = spec.freeze.length > 0 ? freezeParameters(model, spec.freeze) : [];
  return { adapted, frozen };
}

/** A checkpoint folder's "finetune" entry (null for a pretraining run), checked. */
export function readFinetuneSpec(dir: string): FinetuneSpec | null {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) return null;
  const v = readJson(file)['finetune'];
  if (v === undefined || v === null) return null;
  const o = v as Record<string, unknown>;
  if (typeof o !== 'object' || typeof o['from'] !== 'string' || !Array.isArray(o['freeze']) || typeof o['unknown'] !== 'object')
    throw new DataError('finetune gpt', `${file}: "finetune" must hold from, freeze, lora and unknown`);
  return o as unknown as FinetuneSpec;
}

/**
 * The model of a LoRA run's checkpoint: the base model from spec.from with the adapters saved in dir.
 * The base must be the one the run started from: a different shape is a DataError from the loader.
 */
export function loadLoraRun(dir: string, spec: FinetuneSpec): GPT {
  if (!fs.existsSync(spec.from))
    throw new DataError('finetune gpt', `${dir} holds LoRA adapters for the base model ${spec.from}, which no longer exists`);
  const { model } = loadGPT(spec.from);
  try {
    loadLoraAdapter(model, dir);
  } catch (e) {
    for (const p of model.parameters()) p.dispose();
    throw e;
  }
  return model;
}

/** Checks the fine-tuning flags that make no sense together or alone. */
export function checkFinetuneSpec(spec: FinetuneSpec, bad: MakeUsageError): void {
  if (!fs.existsSync(spec.from)) throw bad(`finetune gpt: --from ${spec.from} does not exist`);
  if (spec.lora && spec.freeze.length > 0)
    throw new ValueError('finetune gpt', '--freeze and --lora together: LoRA already freezes every weight of the base model');
}
