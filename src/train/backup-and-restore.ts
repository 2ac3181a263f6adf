// BackupAndRestore: model.fit that survives kill -9, as Keras's callback of that name. It backs the
// run up every epoch (or every N batches) into backupDir, as a checkpoint folder that is never seen
// half-written (io/checkpoint-dir.ts: staging folder, fsync, manifest.json with SHA-256s, rename);
// a fit started again with the same callback restores the newest whole backup and goes on from the
// batch after it, ending with weights, optimizer state and History byte-identical to a fit never
// interrupted (same machine and thread count).
//
// A backup holds model.safetensors (the state dict), optimizer.safetensors (the optimizer's state
// tensors) and fit_state.json: fit's FitSnapshot (epoch, batch, batches trained, the global
// generator's state now and when the epoch's order was drawn, the data loader's state, the epoch's
// running loss and metric sums, the History so far) and the optimizer's numbers and hyperparameters.
//
// Not restored: other callbacks' own state (an EarlyStopping's patience count, a scheduler callback's
// position; a learning rate they set is in the optimizer's hyperparameters and is restored), and
// the order of an iterable that is not a DataLoader, which must give the same batches each epoch.

import '../ops/tensor-methods.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError, MoxError, ValueError } from '../errors.js';
import { keep } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/grad-mode.js';
import type { OptimizerStateDict } from '../optim/optimizer.js';
import { optimizerStateOf, saveOptimizerState } from '../io/optimizer-state.js';
import { loadSafetensorsSync, saveSafetensors } from '../io/safetensors-tensors.js';
import { readJson } from '../io/files.js';
import { crashPoint } from '../io/crash-point.js';
import { commitCheckpoint, listCheckpoints, removeDir, sweepLeftovers, verifyCheckpoint } from '../io/checkpoint-dir.js';
import { Callback, type FitSnapshot, type Logs } from './callback.js';

/** Options of BackupAndRestore: the folder, how often, deletion at the end, how many to keep, verbosity. */
export interface BackupAndRestoreOptions {
  /** The folder of the backups (created if needed); one run's, not shared by two fits at once. */
  backupDir: string;
  /** 'epoch' (default): back up at the end of each epoch; N: after every N-th batch of an epoch. */
  saveFreq?: 'epoch' | number;
  /** Remove the backups when fit ends (default true, as Keras): a fit started again then starts over. */
  deleteCheckpoint?: boolean;
  /** Backups kept (default 2): the newest, and one to fall back on should it be damaged later. */
  keep?: number;
  /** 1 (default): a line when a fit resumes or passes over a damaged backup; 0: silent. */
  verbose?: 0 | 1;
}

const OP = 'BackupAndRestore';

/** Backs up the model, optimizer and fit position so an interrupted fit resumes where it stopped (Keras's BackupAndRestore). */
export class BackupAndRestore extends Callback {
  /** The folder of the backups. */
  readonly backupDir: string;
  /** 'epoch', or back up after every N-th batch. */
  readonly saveFreq: 'epoch' | number;
  /** Whether the backups are removed when fit ends. */
  readonly deleteCheckpoint: boolean;
  /** Backups kept. */
  readonly keep: number;
  /** 1: a line when a fit resumes; 0: silent. */
  readonly verbose: 0 | 1;
  /** The backup the last fit resumed from, or null when it started from the beginning. */
  restoredFrom: string | null = null;

  /** Backups in opts.backupDir. */
  constructor(opts: BackupAndRestoreOptions) {
    super();
    if (typeof opts?.backupDir !== 'string' || opts.backupDir === '') throw new ValueError(OP, 'backupDir must be a folder name');
    const freq = opts.saveFreq ?? 'epoch';
    if (freq !== 'epoch' && !(Number.isInteger(freq) && freq >= 1))
      throw new ValueError(OP, `saveFreq must be 'epoch' or a positive integer, got ${JSON.stringify(freq)}`);
    const keepN = opts.keep ?? 2;
    if (!Number.isInteger(keepN) || keepN < 1) throw new ValueError(OP, `keep must be a positive integer, got ${keepN}`);
    this.backupDir = opts.backupDir;
    this.saveFreq = freq;
    this.deleteCheckpoint = opts.deleteCheckpoint ?? true;
    this.keep = keepN;
    this.verbose = opts.verbose ?? 1;
  }

  private say(line: string): void {
    if (this.verbose) console.log(`${OP}: ${line}`);
  }

  override onTrainBegin(_logs: Logs): void {
    if (!this.fit) throw new ValueError(OP, 'this callback works inside model.fit');
    this.restoredFrom = null;
    sweepLeftovers(this.backupDir);
    for (const c of listCheckpoints(this.backupDir)) {
      const v = verifyCheckpoint(c.dir);
      let reason = v.ok ? '' : v.reason;
      if (v.ok) {
        try {
          const snap = this.restore(c.dir);
          this.fit.resumeFrom(snap);
          this.restoredFrom = c.dir;
          this.say(`resuming from ${c.dir}: epoch ${snap.epoch + 1}, after batch ${snap.batch}`);
          return;
        } catch (e) {
          if (!(e instanceof MoxError)) throw e;
          reason = e.message;
        }
      }
      this.say(`backup ${c.dir} is torn (${reason}): not used`);
    }
  }

  override async onBatchEnd(batch: number, _logs: Logs): Promise<void> {
    if (this.saveFreq !== 'epoch' && (batch + 1) % this.saveFreq === 0) await this.save();
  }

  override async onEpochEnd(_epoch: number, _logs: Logs): Promise<void> {
    if (this.saveFreq === 'epoch') await this.save();
  }

  override onTrainEnd(_logs: Logs): void {
    if (!this.deleteCheckpoint) return;
    for (const c of listCheckpoints(this.backupDir)) removeDir(c.dir);
    sweepLeftovers(this.backupDir);
    try {
      fs.rmdirSync(this.backupDir); // only if nothing else is in it
    } catch {
      /* not empty, or gone: leave it */
    }
  }

  /** Writes a backup of the model, the optimizer and fit's position as one checkpoint folder. */
  private async save(): Promise<void> {
    const snap = this.fit!.snapshot();
    const opt = this.model.optimizer;
    if (!opt) throw new ValueError(OP, 'the model has no optimizer: call model.compile() first');
    const meta = { step: String(snap.step) };
    await commitCheckpoint(
      this.backupDir,
      snap.step,
      async (dir) => {
        await saveSafetensors(path.join(dir, 'model.safetensors'), this.model.stateDict(), meta);
        crashPoint('checkpoint-file');
        const optimizer = await saveOptimizerState(path.join(dir, 'optimizer.safetensors'), opt.stateDict(), meta);
        crashPoint('checkpoint-file');
        const state = { fit: snap, optimizer };
        fs.writeFileSync(path.join(dir, 'fit_state.json'), JSON.stringify(state) + '\n');
        crashPoint('checkpoint-file');
      },
      { keep: this.keep },
    );
  }

  /**
   * Puts a backup's weights and optimizer state into the model and returns fit's position. Everything
   * is read and checked before anything is changed, and the weights are put back if the optimizer's
   * state does not fit, so a backup that fails leaves the model as it was.
   */
  private restore(dir: string): FitSnapshot {
    const stateFile = path.join(dir, 'fit_state.json');
    const state = readJson(stateFile, OP) as { fit?: FitSnapshot; optimizer?: { numbers?: unknown; paramGroups?: unknown } };
    const snap = state.fit;
    if (!snap || !Number.isInteger(snap.step) || !Number.isInteger(snap.epoch) || !Number.isInteger(snap.batch) || !Array.isArray(snap.rng))
      throw new DataError(OP, `${stateFile}: no fit position`);
    const groups = state.optimizer?.paramGroups as OptimizerStateDict['paramGroups'] | undefined;
    if (!Array.isArray(groups)) throw new DataError(OP, `${stateFile}: no optimizer parameter groups`);
    const opt = this.model.optimizer;
    if (!opt) throw new ValueError(OP, 'the model has no optimizer: call model.compile() first');
    const device = this.model.device;
    const weights = loadSafetensorsSync(path.join(dir, 'model.safetensors'));
    const optFile = path.join(dir, 'optimizer.safetensors');
    const optTensors = loadSafetensorsSync(optFile);
    const copies: Tensor[] = [];
    const before = noGrad(() => Object.fromEntries(Object.entries(this.model.stateDict()).map(([k, t]) => [k, keep(t.clone())])));
    try {
      for (const [what, meta] of [
        ['model.safetensors', weights.metadata],
        ['optimizer.safetensors', optTensors.metadata],
      ] as const) {
        if (meta['step'] !== String(snap.step))
          throw new DataError(OP, `${path.join(dir, what)} is from step ${meta['step']}, fit_state.json from step ${snap.step}`);
      }
      const numbers = (state.optimizer?.numbers ?? {}) as Record<string, Record<string, number>>;
      const st = optimizerStateOf(OP, optFile, optTensors.tensors, numbers, device, copies);
      try {
        this.model.loadStateDict(weights.tensors);
      } catch (e) {
        throw new DataError(OP, `${path.join(dir, 'model.safetensors')} does not fit the model: ${(e as Error).message}`);
      }
      try {
        opt.loadStateDict({ state: st, paramGroups: groups });
      } catch (e) {
        this.model.loadStateDict(before);
        throw new DataError(OP, `${optFile} does not fit the optimizer: ${(e as Error).message}`);
      }
      return snap;
    } finally {
      for (const t of [...Object.values(weights.tensors), ...Object.values(optTensors.tensors), ...Object.values(before), ...copies])
        t.dispose();
    }
  }
}
