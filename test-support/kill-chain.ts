// kill -9 at seeded moments, then resume, until the run completes: the driver behind
// test/crash-gpt.test.ts, test/backup-restore.test.ts and scripts/crash-kills.mjs.
//
// Each start of the child is killed once, either by the child itself at a named point
// (MOX_TEST_CRASH_AT=<point>:<n>, src/io/crash-point.ts: between two files of a checkpoint, after
// its commit, ...) or by this process with SIGKILL after a random delay (anywhere: inside a step, in
// the middle of writing a file). After every kill `check()` looks at what is on disk (every
// checkpoint must be whole and readable); the next start resumes. A start that completes ends the
// chain, and `compare()` holds its result against the uninterrupted run's; then a new chain begins,
// until `kills` kills have happened.

import { spawn } from 'node:child_process';
import { Generator } from '../src/tensor/random.js';

export interface KillPoint {
  /** A MOX_TEST_CRASH_AT point name. */
  point: string;
  /** n is drawn from 1..max. */
  max: number;
}

export interface KillChainSpec {
  /** The child's arguments to node for its next start (fresh or resumed: the spec knows from the disk); null when the run is complete. */
  args(): string[] | null;
  /** Checks what is on disk after a kill; throws when a checkpoint is unreadable. Returns a short description. */
  check(): string;
  /** Checks a completed run against the uninterrupted one; throws when they differ. */
  compare(): void;
  /** Removes the run, for the next chain. */
  reset(): void;
  points: KillPoint[];
  /** Delays for the kills from outside, in ms. */
  timerMs: [number, number];
  /** Share of the kills that come from outside at a random time (default 0.4). */
  timerShare?: number;
  env?: NodeJS.ProcessEnv;
}

export interface KillRecord {
  how: string;
  onDisk: string;
}

export interface KillChainReport {
  kills: KillRecord[];
  /** Starts that ran to the end (each compared with the uninterrupted run). */
  completed: number;
  /** Starts that a kill from outside missed because the run ended first, or whose named point never came. */
  missed: number;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function start(args: string[], env: NodeJS.ProcessEnv, killAfterMs: number | null): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
    });
    const timer = killAfterMs === null ? null : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

/** Runs chains of kill-and-resume until `kills` kills have happened; every completed run is compared. */
export async function runKillChain(spec: KillChainSpec, kills: number, seed: number): Promise<KillChainReport> {
  const gen = new Generator(seed);
  const report: KillChainReport = { kills: [], completed: 0, missed: 0 };
  const timerShare = spec.timerShare ?? 0.4;
  let guard = 0;
  while (report.kills.length < kills) {
    if (++guard > kills * 6) throw new Error(`kill chain: ${report.kills.length} kills after ${guard} starts; the kills keep missing`);
    let how: string;
    let env: NodeJS.ProcessEnv = { ...process.env, ...spec.env };
    let afterMs: number | null = null;
    if (gen.random() < timerShare) {
      afterMs = spec.timerMs[0] + Math.floor(gen.random() * (spec.timerMs[1] - spec.timerMs[0]));
      how = `SIGKILL after ${afterMs} ms`;
    } else {
      const p = spec.points[gen.int(0, spec.points.length)]!;
      const n = gen.int(1, p.max + 1);
      how = `MOX_TEST_CRASH_AT=${p.point}:${n}`;
      env = { ...env, MOX_TEST_CRASH_AT: `${p.point}:${n}` };
    }
    const args = spec.args();
    if (args === null) {
      // the last kill came after the final checkpoint was committed
      spec.compare();
      report.completed++;
      spec.reset();
      continue;
    }
    const r = await start(args, env, afterMs);
    if (r.signal === 'SIGKILL') {
      report.kills.push({ how, onDisk: spec.check() });
      continue;
    }
    if (r.code !== 0) throw new Error(`kill chain: the run failed (exit ${r.code}, ${how}):\n${r.stderr}`);
    // the run ended before the kill: it must equal the uninterrupted run
    spec.compare();
    report.completed++;
    report.missed++;
    spec.reset();
  }
  // the last chain: resume to the end without a kill
  const args = spec.args();
  if (args !== null) {
    const r = await start(args, { ...process.env, ...spec.env }, null);
    if (r.code !== 0) throw new Error(`kill chain: the final resume failed (exit ${r.code}):\n${r.stderr}`);
  }
  spec.compare();
  report.completed++;
  return report;
}
