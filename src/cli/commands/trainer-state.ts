// trainer_state.json, the last file of a training checkpoint (`mox train gpt|lstm --out DIR`): the
// step, the evaluation history, the optimizer's scalar state and parameter groups, and the RNG states.
// A resumed run trusts nothing in it: readTrainerState checks every field it uses and names the file
// and the field at fault, so a hand-edited or corrupt file stops the run at once with a DataError
// rather than as a TypeError many steps later (a history that is not an array) or, worse, silently
// (an RNG state of strings that xoshiro reads as zeros).

import { DataError, showValue } from '../../errors.js';
import { readJson } from '../../io/files.js';

export interface TrainerStateRecord {
  step: number;
  train: number;
  val: number;
}

export interface TrainerState {
  step: number;
  history: TrainerStateRecord[];
  /** What saveOptimizer returned: the optimizer's scalars per parameter ({ "0": { "step": 12 } }) and its groups. */
  optimizer: { numbers: Record<string, Record<string, number>>; paramGroups: Record<string, unknown>[] };
  /** The generators' states (Generator.getState(): four uint32 words, then the spare normal or NaN). */
  rng: { global: number[]; batch: number[] };
  /** The training loss of every step so far (absent in checkpoints written before it was recorded). */
  losses?: number[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks a parsed trainer_state.json; `file` and `cmd` go into every error. */
export function parseTrainerState(v: unknown, file: string, cmd: string): TrainerState {
  const bad = (msg: string) => new DataError(cmd, `${file}: ${msg}`);
  if (!isObject(v)) throw bad('must hold a JSON object');
  const step = v['step'];
  if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0)
    throw bad(`"step" must be a non-negative integer, got ${showValue(step)}`);

  const history = v['history'] ?? [];
  if (!Array.isArray(history)) throw bad(`"history" must be an array of {step, train, val}, got ${showValue(history)}`);
  // a loss that went to NaN or Infinity is written by JSON.stringify as null
  const loss = (x: unknown) => (x === null ? NaN : x);
  const records = history.map((r: unknown, i): TrainerStateRecord => {
    if (
      !isObject(r) ||
      typeof r['step'] !== 'number' ||
      !Number.isSafeInteger(r['step']) ||
      typeof loss(r['train']) !== 'number' ||
      typeof loss(r['val']) !== 'number'
    )
      throw bad(`"history" entry ${i} must be {step: integer, train: number, val: number}, got ${showValue(r)}`);
    return { step: r['step'], train: loss(r['train']) as number, val: loss(r['val']) as number };
  });

  const opt = v['optimizer'] ?? {};
  if (!isObject(opt)) throw bad(`"optimizer" must be an object, got ${showValue(opt)}`);
  const numbers = opt['numbers'] ?? {};
  if (!isObject(numbers)) throw bad(`"optimizer.numbers" must be an object, got ${showValue(numbers)}`);
  const checkedNumbers: Record<string, Record<string, number>> = {};
  for (const [i, st] of Object.entries(numbers)) {
    if (!/^\d+$/.test(i)) throw bad(`"optimizer.numbers" has key ${showValue(i)}, expected a parameter index`);
    if (!isObject(st) || !Object.values(st).every((x) => typeof x === 'number'))
      throw bad(`"optimizer.numbers.${i}" must be an object of numbers, got ${showValue(st)}`);
    checkedNumbers[i] = st as Record<string, number>;
  }
  const groups = opt['paramGroups'];
  if (!Array.isArray(groups) || !groups.every(isObject))
    throw bad(`"optimizer.paramGroups" must be an array of objects (the optimizer's parameter groups), got ${showValue(groups)}`);

  const rng = v['rng'];
  if (!isObject(rng)) throw bad(`"rng" must be {global, batch}, the generators' states, got ${showValue(rng)}`);
  const gen = (key: 'global' | 'batch'): number[] => {
    const s = rng[key];
    const word = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < 2 ** 32;
    // Generator.getState(): four uint32 words (not all zero: xoshiro would then draw only zeros) and the spare normal
    if (
      !Array.isArray(s) ||
      s.length < 4 ||
      s.length > 5 ||
      !s.slice(0, 4).every(word) ||
      s.slice(0, 4).every((x) => x === 0) ||
      (s.length === 5 && s[4] !== null && typeof s[4] !== 'number')
    )
      throw bad(`"rng.${key}" must be a generator state (four uint32 words, not all zero, and a number or null), got ${showValue(s)}`);
    return [s[0], s[1], s[2], s[3], s[4] === null || s[4] === undefined ? NaN : s[4]] as number[];
  };
  const losses = v['losses'];
  if (losses !== undefined && (!Array.isArray(losses) || !losses.every((l) => typeof l === 'number')))
    throw bad(`"losses" must be an array of numbers (the loss of each step), got ${showValue(losses)}`);
  return {
    ...(losses !== undefined ? { losses: losses as number[] } : {}),
    step,
    history: records,
    optimizer: { numbers: checkedNumbers, paramGroups: groups as Record<string, unknown>[] },
    rng: { global: gen('global'), batch: gen('batch') },
  };
}

/** Reads and checks DIR/trainer_state.json (see parseTrainerState). */
export function readTrainerState(file: string, cmd: string): TrainerState {
  return parseTrainerState(readJson(file, cmd), file, cmd);
}
