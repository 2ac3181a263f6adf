// Runs a fuzz target: each input is a pure function of (seed, reader, index), one to three stacked
// mutations of a seed file, written into a fresh folder and read through the reader's entry point.
// Every input must end in success or a MoxError whose message names the file; anything else is a
// finding: another exception, a MoxError that does not say which file, an input that takes over a
// second of CPU time, or heap growth (JS heap plus external memory: ArrayBuffers and the WebAssembly heap)
// beyond a small multiple of the input's size.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { MoxError } from '../../src/errors.js';
import { inputSeed, Rng } from './mutate.js';
import { TARGETS, type FuzzInput, type FuzzTarget } from './targets.js';

export type FindingKind = 'exception' | 'unnamed-file' | 'slow' | 'memory';

export interface Finding {
  reader: string;
  /** The input's index: `--reader R --seed S --input I` replays it. */
  index: number;
  kind: FindingKind;
  message: string;
}

export interface ReaderStats {
  reader: string;
  inputs: number;
  successes: number;
  /** Inputs that ended in a MoxError naming the file. */
  typedErrors: number;
  findings: Finding[];
  /** The slowest input's wall time, in milliseconds (reported; the check uses CPU time). */
  slowestWallMs: number;
  /** The slowest input, in milliseconds of CPU time, and its index. */
  slowestMs: number;
  slowestIndex: number;
  /** The largest heap growth of one input, in bytes, and that input's size. */
  maxGrowth: number;
  maxGrowthInputBytes: number;
  /** The largest input, in bytes. */
  maxInputBytes: number;
  /** Typed errors by class (DataError, SafetensorsError, ...). */
  errorClasses: Record<string, number>;
}

export interface FuzzOptions {
  iterations: number;
  seed: number;
  /** Run only this input index (replay a finding). */
  only?: number;
  /** Folder for the inputs' files (default: a fresh one under the OS temp folder). */
  dir?: string;
  /** Called every `progressEvery` inputs. */
  onProgress?: (s: ReaderStats, i: number) => void;
  progressEvery?: number;
  /** Keep the failing inputs' files in this folder. */
  saveFindings?: string;
}

/** An input takes at most this long. */
export const TIME_LIMIT_MS = 1000;
/** Heap growth allowed per input: this many times its size, plus a fixed slack for the reader's own tables. */
export const MEMORY_FACTOR = 16;
export const MEMORY_SLACK = 32 * 2 ** 20;

/** The input of one index: a seed picked and mutated one to three times. */
export function makeInput(target: FuzzTarget, seeds: readonly FuzzInput[], seed: number, index: number): FuzzInput {
  const rng = new Rng(inputSeed(seed, target.name, index));
  const donors = seeds.flatMap((s) => Object.values(s));
  let input = rng.pick(seeds);
  for (let k = rng.int(1, 4); k > 0; k--) {
    try {
      input = target.mutate(input, rng, donors);
    } catch {
      // a mutation that cannot rebuild what an earlier one made (JSON nested past the stack): keep the input
    }
  }
  return input;
}

function writeInput(dir: string, input: FuzzInput): number {
  for (const f of fs.readdirSync(dir)) if (!(f in input)) fs.rmSync(path.join(dir, f), { force: true, recursive: true });
  let bytes = 0;
  for (const [name, b] of Object.entries(input)) {
    fs.writeFileSync(path.join(dir, name), b);
    bytes += b.length;
  }
  return bytes;
}

const used = (): number => {
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
};

export async function fuzzReader(target: FuzzTarget, opts: FuzzOptions): Promise<ReaderStats> {
  const seeds = await target.seeds();
  const base = opts.dir ?? fs.mkdtempSync(path.join(fs.realpathSync(process.env['TMPDIR'] ?? '/tmp'), 'mox-fuzz-'));
  const dir = path.join(base, target.name);
  fs.mkdirSync(dir, { recursive: true });
  const stats: ReaderStats = {
    reader: target.name,
    inputs: 0,
    successes: 0,
    typedErrors: 0,
    findings: [],
    slowestMs: 0,
    slowestWallMs: 0,
    slowestIndex: -1,
    maxGrowth: 0,
    maxGrowthInputBytes: 0,
    maxInputBytes: 0,
    errorClasses: {},
  };
  const first = opts.only ?? 0;
  const last = opts.only !== undefined ? opts.only + 1 : opts.iterations;
  try {
    for (let i = first; i < last; i++) {
      const input = makeInput(target, seeds, opts.seed, i);
      const bytes = writeInput(dir, input);
      const finding = (kind: FindingKind, message: string) => {
        stats.findings.push({ reader: target.name, index: i, kind, message });
        if (opts.saveFindings) {
          const keep = path.join(opts.saveFindings, `${target.name}-${opts.seed}-${i}`);
          fs.mkdirSync(keep, { recursive: true });
          for (const [name, b] of Object.entries(input)) fs.writeFileSync(path.join(keep, name), b);
        }
      };
      const before = used();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      let error: unknown = null;
      let ok = false;
      try {
        target.read(dir);
        ok = true;
      } catch (e) {
        error = e;
      }
      const wallMs = performance.now() - t0;
      // CPU time, not wall time: on a shared machine the wall clock of an input measures the neighbours
      const c = process.cpuUsage(cpu0);
      const ms = (c.user + c.system) / 1000;
      stats.slowestWallMs = Math.max(stats.slowestWallMs, wallMs);
      const growth = used() - before;
      stats.inputs++;
      stats.maxInputBytes = Math.max(stats.maxInputBytes, bytes);
      if (ms > stats.slowestMs) {
        stats.slowestMs = ms;
        stats.slowestIndex = i;
      }
      if (growth > stats.maxGrowth) {
        stats.maxGrowth = growth;
        stats.maxGrowthInputBytes = bytes;
      }
      if (ok) stats.successes++;
      else if (error instanceof MoxError) {
        // the message must say which file: its path, or its folder's for a folder reader
        if (error.message.includes(dir)) {
          stats.typedErrors++;
          stats.errorClasses[error.name] = (stats.errorClasses[error.name] ?? 0) + 1;
        } else finding('unnamed-file', `${error.name}: ${error.message.slice(0, 300)}`);
      } else {
        const e = error as Error;
        finding(
          'exception',
          `${e?.name ?? typeof e}: ${String(e?.message ?? e).slice(0, 300)}\n${(e?.stack ?? '').split('\n').slice(1, 4).join('\n')}`,
        );
      }
      if (ms > TIME_LIMIT_MS) finding('slow', `${ms.toFixed(0)} ms of CPU time for ${bytes} bytes`);
      if (growth > MEMORY_FACTOR * bytes + MEMORY_SLACK)
        finding('memory', `heap grew ${(growth / 2 ** 20).toFixed(1)} MiB for ${bytes} bytes`);
      if (opts.onProgress && opts.progressEvery && (i + 1) % opts.progressEvery === 0) opts.onProgress(stats, i + 1);
    }
  } finally {
    if (opts.dir === undefined) fs.rmSync(base, { recursive: true, force: true });
    else fs.rmSync(dir, { recursive: true, force: true });
  }
  return stats;
}

export function targetNamed(name: string): FuzzTarget {
  const t = TARGETS.find((x) => x.name === name);
  if (!t) throw new Error(`no fuzz target '${name}' (have: ${TARGETS.map((x) => x.name).join(', ')})`);
  return t;
}

export { TARGETS };
