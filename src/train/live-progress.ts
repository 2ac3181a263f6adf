// The progress of long command-line work, as tqdm shows it:
//   train gpt:  37%|███████▍            | 740/2000 [00:23<00:39, 31.6 it/s] loss 1.93
// On a terminal one line is redrawn in place, at most ~10 times a second, fitted to the terminal's
// width; a line printed through the bar (`print`, `through`) goes above it and the bar is drawn again.
// Elsewhere (a pipe, a log file, CI) it writes one plain line every MOX_PROGRESS_INTERVAL seconds
// (default 30) and a final one, never a carriage return, so logs stay readable. It writes to stderr
// by default, so stdout keeps only results. MOX_PROGRESS=0 (the CLI's --quiet) turns it off.
// It uses no colour and no escape sequence: a line is erased by overwriting it with spaces, which
// every terminal understands (NO_COLOR and TERM=dumb need nothing more).
// fit()'s Keras-style bar, one line per epoch, is progress.ts; this one is for the CLI's loops.

import { ValueError } from '../errors.js';
import type { OutputStream } from './progress.js';

/** Options of a LiveProgress. */
export interface LiveProgressOptions {
  /** The count at which the work is done; undefined when not known in advance (no bar, no ETA). */
  total?: number;
  /** The count the work starts from (a resumed run's step); the rate counts only what is done here. */
  initial?: number;
  /** A label before the bar, e.g. 'train gpt'. */
  desc?: string;
  /** What is counted: 'it' (default), 'B' for bytes, 'layer', ... */
  unit?: string;
  /** Count and rate with SI prefixes (12.3M B, 9.87 MB/s), for bytes. */
  unitScale?: boolean;
  /** Where the bar goes (default process.stderr); its isTTY and columns choose the mode and the width. */
  stream?: OutputStream;
  /** Least time between two redraws on a terminal, in milliseconds (default 100). */
  redrawMs?: number;
  /** Seconds between two plain lines when the stream is not a terminal (default $MOX_PROGRESS_INTERVAL, else 30). */
  intervalS?: number;
  /** Show anything at all (default: unless MOX_PROGRESS=0). */
  enabled?: boolean;
  /** The clock, in milliseconds (default performance.now; tests pass a fake one). */
  now?: () => number;
}

/** The environment's progress settings: MOX_PROGRESS (0 off, 1 on) and MOX_PROGRESS_INTERVAL (seconds). */
export function progressSettings(env: Record<string, string | undefined> = process.env): {
  /** Whether progress is shown (false only for MOX_PROGRESS=0). */
  enabled: boolean;
  /** Seconds between progress lines (default 30). */
  intervalS: number;
} {
  const on = env['MOX_PROGRESS'];
  if (on !== undefined && on !== '' && on !== '0' && on !== '1')
    throw new ValueError('progress', `MOX_PROGRESS must be 0 (off) or 1 (on), got '${on}'`);
  const iv = env['MOX_PROGRESS_INTERVAL'];
  let intervalS = 30;
  if (iv !== undefined && iv !== '') {
    intervalS = Number(iv);
    if (iv.trim() === '' || !Number.isFinite(intervalS) || intervalS < 0)
      throw new ValueError('progress', `MOX_PROGRESS_INTERVAL must be a number of seconds >= 0, got '${iv}'`);
  }
  return { enabled: on !== '0', intervalS };
}

/** A duration as tqdm writes it: 00:23, 12:05, 1:02:03. */
export function formatInterval(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const pad = (n: number): string => String(n).padStart(2, '0');
  const h = Math.floor(s / 3600);
  const mmss = `${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
}

/** Three significant digits, without exponent: 0.123, 1.23, 12.3, 123, 1234. */
function sig3(x: number): string {
  // toPrecision rounds first (9.9996 is '10.0', not '10.00'), and writes 1234 as '1.23e+3'
  return Math.abs(x) >= 999.5 ? x.toFixed(0) : x.toPrecision(3);
}

/** A count with an SI prefix (as tqdm's unit_scale): 999, 1.23k, 45.6M. */
export function formatScaled(x: number): string {
  let v = x;
  for (const prefix of ['', 'k', 'M', 'G', 'T']) {
    if (Math.abs(v) < 999.5) return prefix === '' && Number.isInteger(v) ? String(v) : `${sig3(v)}${prefix}`;
    v /= 1000;
  }
  return `${sig3(v)}P`;
}

// tqdm's partial blocks: a cell filled to 1/8, 2/8, ... 7/8
const PARTIAL = ' ▏▎▍▌▋▊▉';
const FULL = '█';
/** The widest bar drawn; a wider terminal gets a wider line, not a longer bar. */
const MAX_BAR = 30;
/** Below this many cells the bar is left out rather than drawn uselessly short. */
const MIN_BAR = 10;

/** Bars drawn and not yet closed, so an error can end their lines (interruptProgress). */
const live = new Set<LiveProgress>();

/**
 * Ends the line of every bar still on a terminal, leaving it as it was, so what is printed next (an
 * error message) starts on its own line. The CLI calls it before reporting a failure. Elsewhere than a
 * terminal nothing is written: a failed run's log ends with its last periodic line and the error.
 */
export function interruptProgress(): void {
  for (const bar of [...live]) bar.interrupt();
}

/** A tqdm-style progress line for a loop of known or unknown length: redrawn on a terminal, periodic plain lines elsewhere. */
export class LiveProgress {
  /** Whether the bar shows anything (MOX_PROGRESS, or the `enabled` option). */
  readonly enabled: boolean;
  /** The count so far. */
  n: number;
  /** The count at which the work is done, or undefined. */
  readonly total: number | undefined;
  private postfix = '';
  private readonly initial: number;
  private readonly desc: string;
  private readonly unit: string;
  private readonly unitScale: boolean;
  private readonly stream: OutputStream;
  private readonly tty: boolean;
  private readonly redrawMs: number;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly start: number;
  /** When the bar was last drawn (terminal) or its last line written (elsewhere). */
  private lastShow: number;
  // the rate is an exponential moving average of the counts and times between two showings (tqdm's
  // smoothing 0.3): it follows a change of speed within a few redraws, yet a slow step does not swing it
  private sampleT: number;
  private sampleN: number;
  private emaDn = 0;
  private emaDt = 0;
  /** Characters of the bar now on the terminal's last line (0: none drawn). */
  private drawn = 0;
  private closed = false;

  /** A bar; nothing is shown before the first update. */
  constructor(opts: LiveProgressOptions = {}) {
    const env = opts.enabled === undefined || opts.intervalS === undefined ? progressSettings() : null;
    const { total, initial = 0 } = opts;
    if (total !== undefined && !(Number.isFinite(total) && total >= 0))
      throw new ValueError('progress', `total must be a number >= 0 or undefined, got ${total}`);
    if (!Number.isFinite(initial) || initial < 0) throw new ValueError('progress', `initial must be a number >= 0, got ${initial}`);
    const intervalS = opts.intervalS ?? env!.intervalS;
    if (!Number.isFinite(intervalS) || intervalS < 0)
      throw new ValueError('progress', `intervalS must be a number of seconds >= 0, got ${intervalS}`);
    this.enabled = opts.enabled ?? env!.enabled;
    this.total = total;
    this.initial = initial;
    this.n = initial;
    this.desc = opts.desc ?? '';
    this.unit = opts.unit ?? 'it';
    this.unitScale = opts.unitScale ?? false;
    this.stream = opts.stream ?? process.stderr;
    this.tty = this.stream.isTTY === true;
    this.redrawMs = opts.redrawMs ?? 100;
    this.intervalMs = intervalS * 1000;
    this.now = opts.now ?? (() => performance.now());
    this.start = this.now();
    this.lastShow = this.tty ? -Infinity : this.start;
    this.sampleT = this.start;
    this.sampleN = initial;
  }

  /** Sets the count to `n` (and the text after the bar, e.g. 'loss 1.93'); shows the bar if it is time to. */
  update(n: number, postfix?: string): void {
    this.n = n;
    if (postfix !== undefined) this.postfix = postfix;
    if (!this.enabled || this.closed) return;
    const t = this.now();
    if (t - this.lastShow < (this.tty ? this.redrawMs : this.intervalMs)) return;
    this.show(t);
  }

  /** Adds `dn` to the count (see update). */
  advance(dn = 1, postfix?: string): void {
    this.update(this.n + dn, postfix);
  }

  /** Writes a line (no newline needed) to `out` (default the bar's stream) above the bar, which is then drawn again. */
  print(line: string, out: OutputStream = this.stream): void {
    if (this.drawn === 0) {
      out.write(`${line}\n`);
      return;
    }
    this.erase();
    out.write(`${line}\n`);
    this.draw(this.render(this.now(), false));
  }

  /** `log` wrapped so that each line it prints goes above the bar (e.g. console.log, for a loop's messages). */
  through(log: (line: string) => void): (line: string) => void {
    return (line) => {
      if (this.drawn === 0) return log(line);
      this.erase();
      log(line);
      this.draw(this.render(this.now(), false));
    };
  }

  /** The work is done: shows the final line (count, elapsed time, average rate), always, ending with a newline. */
  close(postfix?: string): void {
    if (postfix !== undefined) this.postfix = postfix;
    if (this.closed) return;
    this.closed = true;
    live.delete(this);
    if (!this.enabled) return;
    const line = this.render(this.now(), true);
    if (this.tty) this.draw(line);
    else this.stream.write(line);
    this.stream.write('\n');
    this.drawn = 0;
  }

  /** Stops the bar without a final line (the work failed): a terminal's bar is left as it was, its line ended. */
  interrupt(): void {
    if (this.closed) return;
    this.closed = true;
    live.delete(this);
    if (this.drawn > 0) this.stream.write('\n');
    this.drawn = 0;
  }

  private show(t: number): void {
    this.lastShow = t;
    const dt = t - this.sampleT;
    if (dt > 0) {
      this.emaDn = 0.3 * (this.n - this.sampleN) + 0.7 * this.emaDn;
      this.emaDt = 0.3 * dt + 0.7 * this.emaDt;
      this.sampleT = t;
      this.sampleN = this.n;
    }
    const line = this.render(t, false);
    if (this.tty) this.draw(line);
    else this.stream.write(`${line}\n`);
  }

  private draw(line: string): void {
    if (this.drawn === 0) live.add(this);
    // spaces over what is left of a longer previous line (never past the terminal's edge)
    const pad = Math.max(0, Math.min(this.drawn, this.columns() - 1) - line.length);
    this.stream.write(`\r${line}${' '.repeat(pad)}`);
    this.drawn = line.length;
  }

  private erase(): void {
    this.stream.write(`\r${' '.repeat(this.drawn)}\r`);
  }

  private columns(): number {
    const c = this.stream.columns;
    if (typeof c === 'number' && c > 0) return c;
    const env = Number(process.env['COLUMNS']);
    return Number.isInteger(env) && env > 0 ? env : 80;
  }

  /** Items per second: the smoothed recent rate, or over the whole run for the final line. */
  private rate(t: number, final: boolean): number {
    if (final || this.emaDt === 0) {
      const elapsed = (t - this.start) / 1000;
      return elapsed > 0 ? (this.n - this.initial) / elapsed : 0;
    }
    return (this.emaDn / this.emaDt) * 1000;
  }

  private count(x: number): string {
    return this.unitScale ? formatScaled(x) : String(x);
  }

  private rateText(r: number): string {
    if (!(r > 0) || !Number.isFinite(r)) return `? ${this.unit}/s`;
    if (this.unitScale) {
      const s = formatScaled(r);
      const prefix = /[kMGTP]$/.test(s) ? s.slice(-1) : '';
      return `${prefix ? s.slice(0, -1) : sig3(r)} ${prefix}${this.unit}/s`;
    }
    return r >= 1 ? `${sig3(r)} ${this.unit}/s` : `${sig3(1 / r)} s/${this.unit}`;
  }

  /** The line for time t: on a terminal with a bar fitted to its width, elsewhere without a bar. */
  private render(t: number, final: boolean): string {
    const elapsed = (t - this.start) / 1000;
    const r = this.rate(t, final);
    const head = this.desc ? `${this.desc}: ` : '';
    const tail = this.postfix ? ` ${this.postfix}` : '';
    const total = this.total;
    if (total === undefined) {
      const line = `${head}${this.count(this.n)} ${this.unit} [${formatInterval(elapsed)}, ${this.rateText(r)}]${tail}`;
      return this.tty ? this.fit(line) : line;
    }
    const frac = total > 0 ? Math.min(1, Math.max(0, this.n / total)) : 1;
    const pct = `${String(Math.floor(frac * 100)).padStart(3)}%`;
    const counts = `${this.count(this.n)}/${this.count(total)}${this.unitScale ? ` ${this.unit}` : ''}`;
    const eta = final ? '' : `<${r > 0 ? formatInterval((total - this.n) / r) : '?'}`;
    const right = ` ${counts} [${formatInterval(elapsed)}${eta}, ${this.rateText(r)}]${tail}`;
    if (!this.tty) return head + pct + right;
    const room = this.columns() - 1 - head.length - pct.length - 2 - right.length;
    const width = Math.min(MAX_BAR, room);
    if (width < MIN_BAR) return this.fit(head + pct + right);
    return `${head}${pct}|${bar(frac, width)}|${right}`;
  }

  /** A line cut to the terminal's width less one column (writing the last column wraps on some terminals). */
  private fit(line: string): string {
    const max = this.columns() - 1;
    return line.length > max ? line.slice(0, Math.max(0, max)) : line;
  }
}

/** `width` cells filled to `frac` with full and partial blocks. */
function bar(frac: number, width: number): string {
  const cells = frac * width;
  const full = Math.floor(cells);
  if (full >= width) return FULL.repeat(width);
  const part = Math.floor((cells - full) * 8);
  return FULL.repeat(full) + PARTIAL[part] + ' '.repeat(width - full - 1);
}
