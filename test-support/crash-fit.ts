// model.fit with train.BackupAndRestore under kill -9: the uninterrupted reference fit, the checks
// made after each kill and the comparison at the end (test/backup-restore.test.ts,
// scripts/crash-kills.mjs). The child is test-support/fit-child.ts.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { listCheckpoints, verifyCheckpoint } from '../src/io/checkpoint-dir.js';
import { loadSafetensorsSync } from '../src/io/safetensors-tensors.js';
import type { KillChainSpec } from './kill-chain.js';

export const FIT_CHILD = path.resolve(process.cwd(), 'dist/test-support/fit-child.js');
const RESULT = ['model.safetensors', 'optimizer.safetensors', 'history.json'];

/** Runs the fit uninterrupted into dir/reference; returns that folder. */
export function fitReference(dir: string, saveFreq: string, mode = 'tensors'): string {
  const ref = path.join(dir, 'reference');
  const r = spawnSync(process.execPath, [FIT_CHILD, ref, saveFreq, mode], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`the reference fit failed: ${r.stderr}`);
  return ref;
}

/** Every backup in backupDir whole, and its three files readable. */
export function checkBackups(backupDir: string): string {
  const list = listCheckpoints(backupDir);
  for (const c of list) {
    const v = verifyCheckpoint(c.dir);
    if (!v.ok) throw new Error(`backup ${c.dir} is not whole: ${v.reason}`);
    for (const f of ['model.safetensors', 'optimizer.safetensors']) {
      for (const t of Object.values(loadSafetensorsSync(path.join(c.dir, f)).tensors)) t.dispose();
    }
    const s = JSON.parse(fs.readFileSync(path.join(c.dir, 'fit_state.json'), 'utf8')) as { fit: { step: number } };
    if (s.fit.step !== c.step) throw new Error(`${c.dir}: fit_state.json is from step ${s.fit.step}`);
  }
  return list.length ? `backups after batches ${list.map((c) => c.step).join(', ')}` : 'no backup';
}

export function compareFit(out: string, ref: string): void {
  for (const f of RESULT) {
    const a = fs.readFileSync(path.join(out, 'result', f));
    if (!a.equals(fs.readFileSync(path.join(ref, 'result', f))))
      throw new Error(`${path.join(out, 'result', f)} differs from the uninterrupted fit's`);
  }
}

export function fitKillChainSpec(dir: string, ref: string, saveFreq: string, mode = 'tensors'): KillChainSpec {
  const out = path.join(dir, 'run');
  return {
    args: () => [FIT_CHILD, out, saveFreq, mode],
    check: () => checkBackups(path.join(out, 'backup')),
    compare: () => compareFit(out, ref),
    reset: () => fs.rmSync(out, { recursive: true, force: true }),
    points: [
      { point: 'step', max: 30 },
      { point: 'checkpoint-file', max: 15 },
      { point: 'checkpoint-manifest', max: 5 },
      { point: 'checkpoint-commit', max: 5 },
      { point: 'checkpoint-prune', max: 4 },
    ],
    timerMs: [300, 1200],
  };
}
