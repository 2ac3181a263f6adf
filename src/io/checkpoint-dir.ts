// Checkpoints that survive kill -9 at any moment. A checkpoint is a set of files (weights, optimizer
// state, trainer state, ...), and no rename replaces a set at once, so each checkpoint is its own
// folder, `<root>/step-<N>`, made whole before it gets that name:
//
//   1. its files are written into a hidden staging folder `<root>/.step-<N>.<pid>.<hex>.tmp`;
//   2. each file is flushed to disk (fsync), and `manifest.json` is written last, listing every file
//      with its size and SHA-256;
//   3. the staging folder is flushed and renamed to `step-<N>`, and `<root>` is flushed.
//
// A folder named `step-<N>` therefore only ever appears complete. Reading one, verifyCheckpoint()
// checks the manifest against the files, so a folder that is not what its writer committed (files
// of two steps, a missing or truncated file, one changed later) is told apart from a whole one and
// the newest whole one is used. Older checkpoints are removed only after a newer one is committed,
// by renaming them to a hidden name first, so no half-removed folder ever carries a step name.
// Hidden leftovers of a killed process (staging and removal folders, temporary files) are swept up
// by the next run.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { DataError } from '../errors.js';
import { crashPoint } from './crash-point.js';

export const MANIFEST = 'manifest.json';
const FORMAT = 'mox-checkpoint';

/** What manifest.json holds: the step, and each file of the checkpoint with its size and SHA-256. */
export interface CheckpointManifest {
  format: typeof FORMAT;
  version: 1;
  step: number;
  files: Record<string, { size: number; sha256: string }>;
}

export type Verified =
  | { ok: true; dir: string; step: number; manifest: CheckpointManifest }
  | { ok: false; dir: string; step: number; reason: string };

const STEP_DIR = /^step-(\d+)$/;
/** Hidden names this module and io/atomic.ts leave behind when killed: `.<name>.<pid>.<12 hex>.tmp|deleting`. */
const LEFTOVER = /^\..*\.(\d+)\.[0-9a-f]{12}\.(tmp|deleting)$/;

export const checkpointName = (step: number): string => `step-${step}`;

/** Flushes a file or folder to disk. Folders cannot be opened for fsync on every system (Windows): there it is skipped. */
export function fsyncPath(p: string, isDir = false): void {
  let fd: number;
  try {
    fd = fs.openSync(p, 'r');
  } catch (e) {
    if (isDir) return;
    throw e;
  }
  try {
    fs.fsyncSync(fd);
  } catch (e) {
    if (!isDir) throw e;
  } finally {
    fs.closeSync(fd);
  }
}

function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

const hidden = (root: string, name: string, kind: 'tmp' | 'deleting'): string =>
  path.join(root, `.${name}.${process.pid}.${randomBytes(6).toString('hex')}.${kind}`);

/** Removes a folder without a moment where it is half there under its own name: rename away, then delete. */
export function removeDir(dir: string): void {
  if (!fs.existsSync(dir)) return;
  const away = hidden(path.dirname(dir), path.basename(dir), 'deleting');
  fs.renameSync(dir, away);
  fsyncPath(path.dirname(dir), true);
  crashPoint('checkpoint-prune');
  fs.rmSync(away, { recursive: true, force: true });
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Deletes what killed processes left in `dir`: hidden staging/removal folders and temporary files whose process is gone. */
export function sweepLeftovers(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = LEFTOVER.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/**
 * Writes one checkpoint: `write(dir)` puts its files into a staging folder, then they are flushed,
 * listed in manifest.json and the folder renamed to `<root>/step-<step>` (replacing a folder of that
 * name, e.g. a torn one). Then only the `keep` newest checkpoints are kept (default 2). Returns the
 * new folder and its manifest.
 */
export async function commitCheckpoint(
  root: string,
  step: number,
  write: (dir: string) => void | Promise<void>,
  opts: { keep?: number } = {},
): Promise<{ dir: string; manifest: CheckpointManifest }> {
  const keep = opts.keep ?? 2;
  fs.mkdirSync(root, { recursive: true });
  const name = checkpointName(step);
  const staging = hidden(root, name, 'tmp');
  fs.mkdirSync(staging);
  try {
    await write(staging);
    const files: CheckpointManifest['files'] = {};
    for (const f of fs.readdirSync(staging).sort()) {
      const p = path.join(staging, f);
      const st = fs.statSync(p);
      if (!st.isFile()) throw new DataError('checkpoint', `${p}: a checkpoint holds files only, found a folder`);
      if (f === MANIFEST) throw new DataError('checkpoint', `${p}: ${MANIFEST} is the checkpoint's own list of files`);
      fsyncPath(p);
      files[f] = { size: st.size, sha256: sha256File(p) };
    }
    const manifest: CheckpointManifest = { format: FORMAT, version: 1, step, files };
    const mf = path.join(staging, MANIFEST);
    const fd = fs.openSync(mf, 'wx');
    try {
      fs.writeFileSync(fd, JSON.stringify(manifest, null, 1) + '\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fsyncPath(staging, true);
    crashPoint('checkpoint-manifest');
    const final = path.join(root, name);
    removeDir(final);
    fs.renameSync(staging, final);
    fsyncPath(root, true);
    crashPoint('checkpoint-commit');
    const older = listCheckpoints(root).filter((c) => c.step < step);
    for (const c of older.slice(Math.max(0, keep - 1))) removeDir(c.dir);
    return { dir: final, manifest };
  } catch (e) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw e;
  }
}

/** The checkpoint folders (`step-<N>`) in root, newest first; none when root does not exist. */
export function listCheckpoints(root: string): { dir: string; step: number }[] {
  let names: string[];
  try {
    names = fs.readdirSync(root);
  } catch {
    return [];
  }
  return names
    .map((n) => ({ n, m: STEP_DIR.exec(n) }))
    .filter((e) => e.m !== null)
    .map((e) => ({ dir: path.join(root, e.n), step: Number(e.m![1]) }))
    .sort((a, b) => b.step - a.step);
}

/**
 * Checks a checkpoint folder against its manifest: present and well-formed, the step that of the
 * folder's name, and every file listed there with the recorded size and SHA-256. Never throws.
 */
export function verifyCheckpoint(dir: string): Verified {
  const m = STEP_DIR.exec(path.basename(dir));
  const step = m ? Number(m[1]) : -1;
  const bad = (reason: string): Verified => ({ ok: false, dir, step, reason });
  const mf = path.join(dir, MANIFEST);
  let manifest: CheckpointManifest;
  try {
    manifest = JSON.parse(fs.readFileSync(mf, 'utf8')) as CheckpointManifest;
  } catch (e) {
    return bad((e as NodeJS.ErrnoException).code === 'ENOENT' ? `no ${MANIFEST}` : `${MANIFEST} is unreadable (${(e as Error).message})`);
  }
  if (
    typeof manifest !== 'object' ||
    manifest === null ||
    manifest.format !== FORMAT ||
    typeof manifest.files !== 'object' ||
    manifest.files === null
  )
    return bad(`${MANIFEST} is not a mox checkpoint manifest`);
  if (manifest.step !== step) return bad(`${MANIFEST} is from step ${JSON.stringify(manifest.step)}, the folder is named for step ${step}`);
  for (const [f, want] of Object.entries(manifest.files)) {
    const p = path.join(dir, f);
    if (f.includes('/') || f.includes('\\') || f.startsWith('.'))
      return bad(`${MANIFEST} lists a file outside the folder: ${JSON.stringify(f)}`);
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      return bad(`${f} is missing`);
    }
    if (!st.isFile()) return bad(`${f} is not a file`);
    if (st.size !== want?.size) return bad(`${f} has ${st.size} bytes, the manifest says ${want?.size}`);
    if (sha256File(p) !== want.sha256) return bad(`${f} differs from the file the manifest lists (SHA-256)`);
  }
  return { ok: true, dir, step, manifest };
}

/**
 * Makes `outDir/<file>` the files of checkpoint `dir` (hard links, else copies; each put in place by
 * a rename), so tools that read a plain model folder (`mox generate --model OUT`) see the latest
 * checkpoint. Each file is whole at every moment; the set is the latest checkpoint's once this returns.
 */
export function publishCheckpoint(dir: string, manifest: CheckpointManifest, outDir: string): void {
  for (const f of Object.keys(manifest.files)) {
    const tmp = hidden(outDir, f, 'tmp');
    try {
      fs.linkSync(path.join(dir, f), tmp);
    } catch {
      fs.copyFileSync(path.join(dir, f), tmp);
      fsyncPath(tmp);
    }
    fs.renameSync(tmp, path.join(outDir, f));
    crashPoint('checkpoint-publish');
  }
  fsyncPath(outDir, true);
}
