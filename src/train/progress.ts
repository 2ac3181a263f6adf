// Keras's progress bar (tf.keras.utils.Progbar, Keras 2 format):
//   verbose 1:  1875/1875 [==============================] - 11s 6ms/step - loss: 0.1691 - accuracy: 0.9607
//   verbose 2:  1875/1875 - 11s - loss: 0.1691 - accuracy: 0.9607 - 11s/epoch - 6ms/step
// On a terminal, verbose 1 redraws one line in place ('\r', at most ~10 times a second) with an ETA
// while the epoch runs; elsewhere (a log file, a pipe, CI) it prints only the finished line, so logs
// hold one plain line per epoch and no carriage returns.

import type { Logs } from './callback.js';

/** Where progress goes: process.stdout by default; anything with write() (and isTTY) for tests. */
export interface OutputStream {
  /** Writes text. */
  write(s: string): unknown;
  /** Whether it is a terminal (then the bar redraws in place). */
  isTTY?: boolean;
  /** A terminal's width in characters (tty.WriteStream has it); live-progress.ts fits its line to it. */
  columns?: number;
}

/** Options of fit()'s ProgressBar: Keras's verbose mode, the stream, the bar's width, the redraw interval, the unit. */
export interface ProgressBarOptions {
  /** 1: a bar redrawn as batches end; 2: one line per epoch. */
  verbose?: 1 | 2;
  /** Where the bar goes (default process.stdout). */
  stream?: OutputStream;
  /** Width of the bar in characters (default 30). */
  width?: number;
  /** Least time between two redraws on a terminal, in milliseconds. */
  intervalMs?: number;
  /** What a step is called in the bar (e.g. 'step'). */
  unitName?: string;
}

/** A number as Keras prints a metric: 4 decimals, or 4-digit scientific notation for tiny values. */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v).toLowerCase();
  if (Math.abs(v) > 1e-3) return v.toFixed(4);
  // Python's %.4e writes a signed exponent of at least two digits: 1.2340e-05
  return v.toExponential(4).replace(/e([+-])(\d)$/, 'e$10$2');
}

/** A duration per unit as Keras formats it: ' 11s/epoch', ' 6ms/step', ' 250us/step'. */
export function formatTimePerUnit(seconds: number, unit: string): string {
  if (seconds >= 1 || seconds === 0) return ` ${seconds.toFixed(0)}s/${unit}`;
  if (seconds >= 1e-3) return ` ${(seconds * 1e3).toFixed(0)}ms/${unit}`;
  return ` ${(seconds * 1e6).toFixed(0)}us/${unit}`;
}

function formatEta(eta: number): string {
  const s = Math.floor(eta);
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (eta > 3600) return `${Math.floor(s / 3600)}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
  if (eta > 60) return `${Math.floor(s / 60)}:${pad(s % 60)}`;
  return `${s}s`;
}

function formatLogs(logs: Logs, skip: ReadonlySet<string>): string {
  let out = '';
  for (const [k, v] of Object.entries(logs)) {
    if (skip.has(k) || typeof v !== 'number') continue;
    out += ` - ${k}: ${formatValue(v)}`;
  }
  return out;
}

const SKIP = new Set(['batch', 'size']);

/** Keras's Progbar: one epoch's progress, redrawn on a terminal (verbose 1), one finished line elsewhere or with verbose 2. */
export class ProgressBar {
  private readonly verbose: 1 | 2;
  private readonly stream: OutputStream;
  private readonly width: number;
  private readonly intervalMs: number;
  private readonly unit: string;
  private readonly start = performance.now();
  private lastDraw = -Infinity;
  private lastWidth = 0;

  /** `target` is the number of steps in the epoch, or undefined when not known in advance. */
  constructor(
    private target: number | undefined,
    opts: ProgressBarOptions = {},
  ) {
    this.verbose = opts.verbose ?? 1;
    this.stream = opts.stream ?? process.stdout;
    this.width = opts.width ?? 30;
    this.intervalMs = opts.intervalMs ?? 100;
    this.unit = opts.unitName ?? 'step';
  }

  private get dynamic(): boolean {
    return this.verbose === 1 && this.stream.isTTY === true;
  }

  /** Called after each step with the running logs; redraws on a terminal, prints nothing elsewhere. */
  update(current: number, logs: Logs): void {
    if (!this.dynamic) return;
    const now = performance.now();
    if (now - this.lastDraw < this.intervalMs) return;
    this.lastDraw = now;
    this.draw(this.line(current, logs, false, now));
  }

  /** Ends the epoch's line with the final logs (validation included). */
  finish(current: number, logs: Logs): void {
    if (this.target === undefined) this.target = current;
    const now = performance.now();
    const line = this.verbose === 2 ? this.line2(current, logs, now) : this.line(current, logs, true, now);
    if (this.dynamic) this.draw(line);
    else this.stream.write(line);
    this.stream.write('\n');
  }

  private draw(line: string): void {
    const pad = Math.max(0, this.lastWidth - line.length);
    this.lastWidth = line.length;
    this.stream.write(`\r${line}${' '.repeat(pad)}`);
  }

  private counter(current: number): string {
    const t = this.target!;
    return `${String(current).padStart(String(t).length)}/${t}`;
  }

  private line(current: number, logs: Logs, final: boolean, now: number): string {
    const elapsed = (now - this.start) / 1e3;
    const perStep = current > 0 ? elapsed / current : 0;
    let bar: string;
    if (this.target !== undefined) {
      const t = this.target;
      const filled = t > 0 ? Math.floor((this.width * Math.min(current, t)) / t) : this.width;
      bar = `${this.counter(current)} [`;
      if (filled > 0) bar += '='.repeat(filled - 1) + (current < t ? '>' : '=');
      bar += `${'.'.repeat(this.width - filled)}]`;
    } else {
      bar = `${String(current).padStart(7)}/Unknown`;
    }
    let info: string;
    if (final || this.target === undefined) info = ` - ${elapsed.toFixed(0)}s${formatTimePerUnit(perStep, this.unit)}`;
    else info = ` - ETA: ${formatEta(perStep * (this.target - current))}`;
    return bar + info + formatLogs(logs, SKIP);
  }

  private line2(current: number, logs: Logs, now: number): string {
    const elapsed = (now - this.start) / 1e3;
    const perStep = current > 0 ? elapsed / current : 0;
    return `${this.counter(current)} - ${elapsed.toFixed(0)}s${formatLogs(logs, SKIP)} -${formatTimePerUnit(elapsed, 'epoch')} -${formatTimePerUnit(perStep, this.unit)}`;
  }
}
