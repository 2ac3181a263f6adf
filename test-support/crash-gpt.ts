// `mox train gpt` under kill -9: a tiny GPT run (1 layer, width 16, 60 steps, a checkpoint every 5),
// its uninterrupted reference, the checks made after each kill and the comparison at the end. Used
// by test/crash-gpt.test.ts (20 kills) and scripts/crash-kills.mjs (as many as asked).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { listCheckpoints, verifyCheckpoint } from '../src/io/checkpoint-dir.js';
import { loadSafetensorsSync } from '../src/io/safetensors-tensors.js';
import { loadGPT } from '../src/models/gpt-checkpoint.js';
import type { KillChainSpec } from './kill-chain.js';

export const MAIN = path.resolve(process.cwd(), 'dist/src/cli/main.js');
export const TINY = ['--n-layer', '1', '--n-head', '2', '--n-embd', '16', '--block-size', '16', '--batch-size', '2', '--eval-iters', '1'];
/** The files of a finished run that must equal the uninterrupted run's, byte for byte. */
export const COMPARED = ['model.safetensors', 'optimizer.safetensors', 'trainer_state.json', 'config.json', 'tokenizer.json'];

export function corpus(): string {
  const lines = [
    'First Citizen:',
    'Before we proceed any further, hear me speak.',
    'All:',
    'Speak, speak.',
    'You are all resolved rather to die than to famish?',
  ];
  return Array.from({ length: 40 }, (_, i) => lines[i % lines.length]).join('\n') + '\n';
}

export interface GptRun {
  data: string;
  /** The uninterrupted run's folder. */
  ref: string;
  /** Arguments of a fresh run into `out` (node MAIN train gpt ...). */
  fresh(out: string): string[];
  /** Arguments resuming `out`. */
  resume(out: string): string[];
  maxIters: number;
}

/** Writes the corpus into dir and trains the uninterrupted reference run. */
export function gptReference(dir: string, maxIters = 60, evalInterval = 5): GptRun {
  const data = path.join(dir, 'text.txt');
  fs.writeFileSync(data, corpus());
  const common = [...TINY, '--threads', '1', '--max-iters', String(maxIters), '--eval-interval', String(evalInterval), '--dropout', '0.1'];
  const fresh = (out: string) => [MAIN, 'train', 'gpt', '--data', data, '--out', out, '--overwrite', ...common];
  const resume = (out: string) => [MAIN, 'train', 'gpt', '--out', out, '--resume', '--threads', '1'];
  const ref = path.join(dir, 'reference');
  const r = spawnSync(process.execPath, fresh(ref), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`the reference run failed: ${r.stderr}`);
  return { data, ref, fresh, resume, maxIters };
}

/** Reads every file of a checkpoint folder as the resume would; throws if one is unreadable. */
export function readWholeCheckpoint(dir: string): void {
  const v = verifyCheckpoint(dir);
  if (!v.ok) throw new Error(`checkpoint ${dir} is not whole: ${v.reason}`);
  const { model } = loadGPT(dir);
  for (const p of model.parameters()) p.dispose();
  const opt = loadSafetensorsSync(path.join(dir, 'optimizer.safetensors'));
  for (const t of Object.values(opt.tensors)) t.dispose();
  const state = JSON.parse(fs.readFileSync(path.join(dir, 'trainer_state.json'), 'utf8')) as { step: number };
  if (state.step !== v.step) throw new Error(`${dir}: trainer_state.json is from step ${state.step}`);
}

/** Every checkpoint in out/checkpoints whole and readable, and each file in out readable; returns the steps found. */
export function checkRunFolder(out: string): string {
  const list = listCheckpoints(path.join(out, 'checkpoints'));
  for (const c of list) readWholeCheckpoint(c.dir);
  for (const f of ['model.safetensors', 'optimizer.safetensors']) {
    const file = path.join(out, f);
    if (fs.existsSync(file)) for (const t of Object.values(loadSafetensorsSync(file).tensors)) t.dispose();
  }
  for (const f of ['trainer_state.json', 'config.json', 'tokenizer.json']) {
    const file = path.join(out, f);
    if (fs.existsSync(file)) JSON.parse(fs.readFileSync(file, 'utf8'));
  }
  return list.length ? `checkpoints at steps ${list.map((c) => c.step).join(', ')}` : 'no checkpoint yet';
}

/**
 * Throws unless the finished run in `out` holds the reference's files, byte for byte: its final
 * checkpoint folder, and the files linked into `out` (after a kill between the final commit and
 * those links, the --resume a user would try puts them in place, then says the run is complete).
 */
export function compareWithReference(out: string, ref: string, run: GptRun): void {
  const last = listCheckpoints(path.join(ref, 'checkpoints'))[0]!;
  const mine = path.join(out, 'checkpoints', path.basename(last.dir));
  const same = (dir: string, f: string) =>
    fs.existsSync(path.join(dir, f)) && fs.readFileSync(path.join(dir, f)).equals(fs.readFileSync(path.join(last.dir, f)));
  if (!COMPARED.every((f) => same(out, f))) {
    const r = spawnSync(process.execPath, run.resume(out), { encoding: 'utf8' });
    if (r.status !== 1 || !/the run is complete/.test(r.stderr))
      throw new Error(`--resume of a complete run: exit ${r.status}, ${r.stderr}`);
  }
  for (const f of [...COMPARED, 'manifest.json']) {
    if (!same(mine, f)) throw new Error(`${path.join(mine, f)} differs from the uninterrupted run's`);
  }
  for (const f of COMPARED) if (!same(out, f)) throw new Error(`${path.join(out, f)} differs from the uninterrupted run's`);
}

/** The kill chain of `mox train gpt` into dir/run. */
export function gptKillChainSpec(dir: string, run: GptRun): KillChainSpec {
  const maxIters = run.maxIters;
  const out = path.join(dir, 'run');
  const hasCheckpoint = () => listCheckpoints(path.join(out, 'checkpoints')).length > 0;
  return {
    args: () => {
      if (!hasCheckpoint()) return run.fresh(out);
      return listCheckpoints(path.join(out, 'checkpoints'))[0]!.step === maxIters ? null : run.resume(out);
    },
    check: () => checkRunFolder(out),
    compare: () => compareWithReference(out, run.ref, run),
    reset: () => fs.rmSync(out, { recursive: true, force: true }),
    // a start makes ~2-4 checkpoints before most kills: each checkpoint passes 5 file points, one
    // manifest, one commit, 5 links and one removal of an older checkpoint
    points: [
      { point: 'step', max: 14 },
      { point: 'checkpoint-file', max: 15 },
      { point: 'checkpoint-manifest', max: 3 },
      { point: 'checkpoint-commit', max: 3 },
      { point: 'checkpoint-publish', max: 15 },
      { point: 'checkpoint-prune', max: 2 },
    ],
    timerMs: [400, 2000],
  };
}
