// The output folder of a training command (`--out DIR`, with `--resume` or `--overwrite`), checked before
// anything is trained: a folder that already holds a checkpoint is never replaced by a fresh run unless
// --overwrite says so, and a run resumed without --max-iters keeps its own length.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError, ValueError } from '../../errors.js';
import { removeDir } from '../../io/checkpoint-dir.js';

type MakeUsageError = (message: string) => Error;

export interface RunDirFlags {
  resume: boolean;
  overwrite: boolean;
}

/** The files of `files` that exist in dir (the checkpoint a fresh run would replace). */
export function existingCheckpointFiles(dir: string, files: readonly string[]): string[] {
  return files.filter((f) => fs.existsSync(path.join(dir, f)));
}

/**
 * Checks --out before a run: it must be a folder (or not exist); --resume and --overwrite exclude each
 * other; without --resume a folder holding any of the checkpoint's `files` is refused with a usage error
 * (exit 2) naming --resume and --overwrite. `cmd` names the command in messages ('train gpt').
 */
export function checkRunDir(cmd: string, out: string, files: readonly string[], flags: RunDirFlags, bad: MakeUsageError): void {
  if (flags.resume && flags.overwrite) throw bad(`${cmd}: give --resume (continue the checkpoint) or --overwrite (replace it), not both`);
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(out);
  } catch {
    return; // created by the run
  }
  if (!stat.isDirectory()) throw new DataError(cmd, `--out ${out} exists and is not a folder`);
  if (flags.resume || flags.overwrite) return;
  const found = existingCheckpointFiles(out, files);
  if (found.length > 0) {
    throw bad(
      `${cmd}: ${out} already holds a checkpoint (${found.join(', ')}); ` +
        'pass --resume to continue it, or --overwrite to start a new run that replaces it',
    );
  }
}

/**
 * Removes a previous checkpoint's files from dir before a run started with --overwrite writes its own
 * (so no file of the old run, such as another tokenizer's, is left beside the new one). `commitFile`
 * (the file whose presence makes the checkpoint resumable) goes first, so an interrupted removal
 * leaves nothing that --resume would take for a checkpoint.
 */
export function removeCheckpointFiles(dir: string, files: readonly string[], commitFile: string): void {
  const order = [commitFile, ...files.filter((f) => f !== commitFile)];
  for (const f of order) {
    const p = path.join(dir, f);
    try {
      // a folder of checkpoints is renamed away before it is deleted, so it is never seen half-removed
      if (fs.statSync(p, { throwIfNoEntry: false })?.isDirectory()) removeDir(p);
      else fs.rmSync(p, { force: true });
    } catch (e) {
      throw new DataError('checkpoint', `cannot remove ${path.join(dir, f)} (--overwrite): ${(e as Error).message}`);
    }
  }
}

/**
 * The length of a resumed run: --max-iters when given, else the run's own (from its config.json). It
 * must lie beyond the checkpoint's step: resuming a finished run, or to a step already passed, is an
 * error rather than a run that silently does nothing.
 */
export function resumedMaxIters(cmd: string, step: number, savedMaxIters: number | undefined, givenMaxIters: number | undefined): number {
  const maxIters = givenMaxIters ?? savedMaxIters;
  if (maxIters === undefined)
    throw new ValueError(cmd, `--resume: the checkpoint does not record its length; give --max-iters N (N > ${step})`);
  if (maxIters <= step) {
    throw new ValueError(
      cmd,
      givenMaxIters === undefined
        ? `--resume: the run is complete (step ${step} of ${maxIters}); give --max-iters N (N > ${step}) to extend it`
        : `--resume: --max-iters ${givenMaxIters} is not beyond the checkpoint's step ${step}; give --max-iters N (N > ${step}) to extend the run`,
    );
  }
  return maxIters;
}

/**
 * The settings of a resumed run. Those the checkpoint fixes (`keys`: the model's shape, the optimizer,
 * the schedule, the seed) come from its saved `train` block, and a flag given again must agree with
 * them, except --lr-decay-iters (a new cosine schedule may go with a longer run). The evaluation
 * settings come from the checkpoint unless given again; everything else is the command line's.
 */
export function resumedSettings<O extends object>(
  cmd: string,
  opts: O,
  saved: Readonly<Record<string, unknown>>,
  keys: readonly (keyof O & string)[],
  given: ReadonlySet<keyof O>,
): O {
  const now = opts as Record<string, unknown>;
  const merged: Record<string, unknown> = { ...now };
  for (const k of keys) {
    if (!(k in saved)) continue;
    if (k === 'lrDecayIters' && given.has(k)) continue;
    if (given.has(k) && saved[k] !== now[k]) {
      throw new ValueError(
        cmd,
        `--resume: the checkpoint was trained with ${k} = ${JSON.stringify(saved[k])}, the command line says ${JSON.stringify(now[k])}`,
      );
    }
    merged[k] = saved[k];
  }
  for (const k of ['evalInterval', 'evalIters', 'logInterval']) {
    if (!given.has(k as keyof O) && typeof saved[k] === 'number') merged[k] = saved[k];
  }
  return merged as O;
}

/** The step a checkpoint's trainer_state.json records, checked against the step stamped in its model file. */
export function resumedStep(
  cmd: string,
  stateFile: string,
  state: Readonly<Record<string, unknown>>,
  modelFile: string,
  modelStep: unknown,
): number {
  const step = state['step'];
  if (typeof step !== 'number' || !Number.isInteger(step) || step < 0)
    throw new DataError(cmd, `${stateFile}: "step" must be a non-negative integer`);
  if (modelStep !== String(step)) {
    throw new DataError(
      cmd,
      `${modelFile} is from step ${modelStep}, trainer_state.json from step ${step}: the checkpoint is torn; train again without --resume`,
    );
  }
  return step;
}
