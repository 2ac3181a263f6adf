// Per-epoch logs to files: CSVLogger (Keras's format: a header 'epoch,<keys sorted>', one row per
// epoch, epochs counted from 0) and JSONLLogger (one JSON object per line). Each row is appended and
// flushed when its epoch ends, so a crashed or interrupted run keeps the epochs it finished.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Callback, type Logs } from './callback.js';

/** Options of CSVLogger and JSONLLogger: whether to append. */
export interface FileLoggerOptions {
  /** Add to an existing file instead of starting it afresh (default false). */
  append?: boolean;
}

function prepare(file: string, append: boolean): boolean {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const hasContent = append && fs.existsSync(file) && fs.statSync(file).size > 0;
  if (!append) fs.writeFileSync(file, '');
  return hasContent;
}

/** Writes each epoch's logs as a CSV row, flushed as it ends, like Keras's CSVLogger. */
export class CSVLogger extends Callback {
  private readonly separator: string;
  private keys: string[] | null = null;
  private needHeader = true;

  /** Logs to the CSV file at `path` (opts.separator: the field separator, default ','). */
  constructor(
    /** The CSV file. */
    readonly path: string,
    private readonly opts: FileLoggerOptions & { separator?: string } = {},
  ) {
    super();
    this.separator = opts.separator ?? ',';
  }

  override onTrainBegin(): void {
    const existing = prepare(this.path, this.opts.append ?? false);
    this.needHeader = !existing;
    this.keys = null;
    if (existing) {
      // continue the columns of the file being appended to
      const first = fs.readFileSync(this.path, 'utf8').split('\n', 1)[0]!;
      this.keys = first.split(this.separator).slice(1);
    }
  }

  private cell(v: number | undefined): string {
    return v === undefined ? 'NA' : String(v);
  }

  override onEpochEnd(epoch: number, logs: Logs): void {
    this.keys ??= Object.keys(logs).sort();
    let out = '';
    if (this.needHeader) {
      out += ['epoch', ...this.keys].join(this.separator) + '\n';
      this.needHeader = false;
    }
    out += [String(epoch), ...this.keys.map((k) => this.cell(logs[k]))].join(this.separator) + '\n';
    fs.appendFileSync(this.path, out);
  }
}

/** Writes each epoch's logs as one JSON object per line, flushed as it ends. */
export class JSONLLogger extends Callback {
  /** Logs to the JSON lines file at `path`. */
  constructor(
    /** The JSON lines file. */
    readonly path: string,
    private readonly opts: FileLoggerOptions = {},
  ) {
    super();
  }

  override onTrainBegin(): void {
    prepare(this.path, this.opts.append ?? false);
  }

  override onEpochEnd(epoch: number, logs: Logs): void {
    // JSON has no NaN or Infinity: write those as null rather than an unparsable line
    const row: Record<string, number | null> = { epoch };
    for (const [k, v] of Object.entries(logs)) row[k] = Number.isFinite(v) ? v : null;
    fs.appendFileSync(this.path, JSON.stringify(row) + '\n');
  }
}
