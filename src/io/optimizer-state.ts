// An optimizer's state on disk, as checkpoints keep it: its tensors (Adam's moments, per parameter) in
// a safetensors file named `state.<param index>.<key>`, and its numbers (step counts) with the
// parameter groups in the caller's JSON. One layout for `mox train gpt` and `train.BackupAndRestore`.

import '../ops/tensor-methods.js';
import { DataError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import type { OptimizerStateDict, ParamState } from '../optim/optimizer.js';
import { saveSafetensors } from './safetensors-tensors.js';

/** The part of an optimizer's state that goes into JSON: its numbers per parameter, and its groups. */
export interface OptimizerStateJson {
  numbers: Record<string, Record<string, number>>;
  paramGroups: OptimizerStateDict['paramGroups'];
}

/**
 * Writes the tensors of `sd` (an optimizer's stateDict(), whose tensors are copies) to `file` with
 * `metadata`, disposes them, and returns the rest for the caller's JSON.
 */
export async function saveOptimizerState(
  file: string,
  sd: OptimizerStateDict,
  metadata: Record<string, string>,
): Promise<OptimizerStateJson> {
  const tensors: Record<string, Tensor> = {};
  const numbers: Record<string, Record<string, number>> = {};
  for (const [i, st] of Object.entries(sd.state)) {
    for (const [k, v] of Object.entries(st)) {
      if (typeof v === 'number') (numbers[i] ??= {})[k] = v;
      else tensors[`state.${i}.${k}`] = v;
    }
  }
  try {
    await saveSafetensors(file, tensors, metadata);
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
  return { numbers, paramGroups: sd.paramGroups };
}

/**
 * The per-parameter state saved by saveOptimizerState: the numbers from the JSON and the tensors read
 * from `file`, each moved to `device` (`moved` collects the copies a move made, for the caller to free
 * once the optimizer holds its own). A tensor name outside the layout is a DataError naming `file`.
 */
export function optimizerStateOf(
  op: string,
  file: string,
  tensors: Record<string, Tensor>,
  numbers: Record<string, Record<string, number>>,
  device: string,
  moved: Tensor[] = [],
): Record<number, ParamState> {
  const state: Record<number, ParamState> = {};
  for (const [i, st] of Object.entries(numbers)) state[Number(i)] = { ...st };
  for (const [name, t] of Object.entries(tensors)) {
    const m = /^state\.(\d+)\.(\w+)$/.exec(name);
    if (!m) throw new DataError(op, `${file}: unexpected tensor '${name}'`);
    const here = t.to(device);
    if (here !== t) moved.push(here);
    (state[Number(m[1])] ??= {})[m[2]!] = here;
  }
  return state;
}
