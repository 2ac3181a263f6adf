// The trainers' (`mox train gpt`, `mox train lstm`) stop on a NaN or infinite loss: one line naming
// the step and the checkpoint that is still good, and a non-zero exit (main.ts maps a MoxError to 1).

import { NonFiniteError } from '../../errors.js';

/**
 * Throws a NonFiniteError when `loss` is not finite. `what` is 'loss' for a training step, 'evaluation
 * loss' before a checkpoint is written (a non-finite one is not written: the last one stays good).
 */
export function stopOnNonFinite(op: string, what: string, loss: number, step: number, out: string, lastCheckpoint: number | null): void {
  if (Number.isFinite(loss)) return;
  const good =
    lastCheckpoint === null
      ? 'no checkpoint was written yet'
      : `the checkpoint in ${out} (step ${lastCheckpoint}) is still good: continue it with --resume and a lower --lr`;
  throw new NonFiniteError(op, `the ${what} became ${loss} at step ${step}; ${good}`, { step, loss });
}
