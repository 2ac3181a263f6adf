// A test hook for crash safety: MOX_TEST_CRASH_AT=<point>:<n> makes the process kill itself with
// SIGKILL (no cleanup, no flush, as `kill -9` or a power cut) the n-th time it passes the named
// point, so a test can stop a run exactly between two files of a checkpoint and check that what is
// on disk is still whole. Unset (always, outside tests), crashPoint costs one comparison.
//
// Points: 'step' (after a training step), 'checkpoint-file' (after each file of a checkpoint),
// 'checkpoint-manifest' (manifest written, folder not yet renamed into place), 'checkpoint-commit'
// (folder in place), 'checkpoint-publish' (between the links of the latest checkpoint's files in the
// run folder), 'checkpoint-prune' (while an older checkpoint is removed).

import { ValueError } from '../errors.js';

let target: { point: string; n: number } | null | undefined;
let hits = 0;

function parse(): { point: string; n: number } | null {
  const spec = typeof process === 'undefined' ? undefined : process.env?.['MOX_TEST_CRASH_AT'];
  if (!spec) return null;
  const m = /^([a-z-]+):(\d+)$/.exec(spec);
  if (!m || Number(m[2]) < 1)
    throw new ValueError('MOX_TEST_CRASH_AT', `expected <point>:<n> with n >= 1 (e.g. checkpoint-file:3), got '${spec}'`);
  return { point: m[1]!, n: Number(m[2]) };
}

/** Kills this process with SIGKILL when MOX_TEST_CRASH_AT names `point` and this is its n-th pass. */
export function crashPoint(point: string): void {
  if (target === undefined) target = parse();
  if (target === null || target.point !== point) return;
  if (++hits === target.n) process.kill(process.pid, 'SIGKILL');
}
