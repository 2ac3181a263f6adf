// A training run's metrics as it goes: `metrics.jsonl` in the run's folder (beside its checkpoint),
// one JSON object per line, appended and flushed as each record is made, so a crashed run keeps what
// it logged and `mox report` can read a run that is still going. TensorBoard's event files and W&B's
// history play this part elsewhere; JSON lines are readable by anything (jq, pandas.read_json).
//
// Records (the "type" field):
//   run        {type, name, kind, time, config, resumedFrom?}       first line; another on each resume
//   scalars    {type, step, split, time, values, epoch?}            split: 'train' | 'val' | 'test'
//   confusion  {type, step, split, labels, matrix}                  matrix[true][predicted] counts
//   samples    {type, step, samples: [{prompt, text}]}              a language model's generations
// `step` counts optimizer steps (for `fit`, batches); `time` is seconds since the run (or its resume)
// began; a non-finite value is written as null (JSON has no NaN) and read back as NaN. A resumed run
// first drops the records of steps after the checkpoint it resumes from (they will be made again), so
// the file reads as one run that was never interrupted.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError, showValue } from '../errors.js';
import { writeFileAtomicSync } from '../io/atomic.js';

/** The file name inside a run folder. */
export const METRICS_FILE = 'metrics.jsonl';

/** What kind of training a run is, for reports to choose their charts. */
export type RunKind = 'gpt' | 'lstm' | 'classifier' | 'finetune' | 'distill' | 'other';
/** Which data a record's numbers are measured on. */
export type Split = 'train' | 'val' | 'test';

/** The first line of a run's file (and one more on each resume): its name, kind and settings. */
export interface RunRecord {
  /** Marks a run record. */
  type: 'run';
  /** A short name for legends: the folder's name unless given. */
  name: string;
  /** What kind of training it is (gpt, classifier, ...), so reports pick its charts. */
  kind: RunKind;
  /** ISO 8601 start time. */
  time: string;
  /** The run's settings: model shape, optimizer, schedule, data (anything JSON). */
  config: Record<string, unknown>;
  /** Set on a record written when a run resumes: the step of the checkpoint it continued from. */
  resumedFrom?: number;
}

/** Numbers measured at one step on one split: losses, metrics, learning rate, throughput. */
export interface ScalarsRecord {
  /** Marks a scalars record. */
  type: 'scalars';
  /** The optimizer step the numbers were taken at (for fit, batches so far). */
  step: number;
  /** Set on an epoch's summary: the epoch (from 0); absent on running train scalars. */
  epoch?: number;
  /** The data measured on: train, val or test. */
  split: Split;
  /** Seconds since the run (or its latest resume) began. */
  time: number;
  /** e.g. { loss, accuracy, lr, tokens_per_s, samples_per_s, ms_per_step }. */
  values: Record<string, number>;
}

/** A classifier's confusion matrix at one step on one split. */
export interface ConfusionRecord {
  /** Marks a confusion record. */
  type: 'confusion';
  /** The optimizer step the matrix was taken at. */
  step: number;
  /** The data the predictions were made on. */
  split: Split;
  /** The class names, in the matrix's row and column order. */
  labels: string[];
  /** matrix[i][j]: examples of true class i predicted as class j. */
  matrix: number[][];
}

/** A language model's generations at one step, from fixed prompts. */
export interface SamplesRecord {
  /** Marks a samples record. */
  type: 'samples';
  /** The optimizer step the text was generated at. */
  step: number;
  /** One generation per prompt. */
  samples: {
    /** The prompt given to the model. */
    prompt: string;
    /** What the model generated after it. */
    text: string;
  }[];
}

/** Any line of metrics.jsonl. */
export type MetricsRecord = RunRecord | ScalarsRecord | ConfusionRecord | SamplesRecord;

/** How a RunLog starts: the run record's fields, and whether it continues a resumed run's file. */
export interface RunLogOptions {
  /** The run's name in reports (default: the folder's name). */
  name?: string;
  /** What kind of training it is, so reports pick its charts. */
  kind: RunKind;
  /** The run's settings (hyperparameters, model shape, data), as JSON; default {}. */
  config?: Record<string, unknown>;
  /**
   * Continue the file of a run resumed from this step: records of later steps are dropped first. Without
   * it the file is started afresh (the caller decides whether a run folder may be reused).
   */
  resumeFrom?: number;
}

/** Appends a run's records to DIR/metrics.jsonl. */
export class RunLog {
  /** The log's path: DIR/metrics.jsonl. */
  readonly file: string;
  private readonly start = performance.now();

  /** Opens DIR/metrics.jsonl afresh (or, with resumeFrom, continues it) and writes the run record. */
  constructor(
    /** The run folder, made if missing. */
    readonly dir: string,
    opts: RunLogOptions,
  ) {
    this.file = path.join(dir, METRICS_FILE);
    fs.mkdirSync(dir, { recursive: true });
    const run: RunRecord = {
      type: 'run',
      name: opts.name ?? path.basename(path.resolve(dir)),
      kind: opts.kind,
      time: new Date().toISOString(),
      config: opts.config ?? {},
    };
    if (opts.resumeFrom !== undefined) {
      run.resumedFrom = opts.resumeFrom;
      const kept = fs.existsSync(this.file)
        ? readLines(this.file).filter((r) => {
            // a record of a later step, or the run record of a resume from one, is made again
            const at = r['type'] === 'run' ? r['resumedFrom'] : r['step'];
            return typeof at !== 'number' || at <= opts.resumeFrom!;
          })
        : [];
      writeFileAtomicSync(this.file, kept.map((r) => JSON.stringify(r) + '\n').join(''));
    } else {
      writeFileAtomicSync(this.file, '');
    }
    this.append(run);
  }

  /** Seconds since this log was opened. */
  elapsed(): number {
    return (performance.now() - this.start) / 1000;
  }

  /** Appends the numbers of one step on one split (`epoch` marks an epoch's summary). */
  scalars(step: number, split: Split, values: Record<string, number>, epoch?: number): void {
    const r: ScalarsRecord = { type: 'scalars', step, split, time: round(this.elapsed()), values };
    if (epoch !== undefined) r.epoch = epoch;
    this.append(r);
  }

  /** Appends a confusion matrix, matrix[true][predicted]. */
  confusion(step: number, split: Split, labels: string[], matrix: number[][]): void {
    this.append({ type: 'confusion', step, split, labels, matrix });
  }

  /** Appends a language model's generations. */
  samples(step: number, samples: { prompt: string; text: string }[]): void {
    this.append({ type: 'samples', step, samples });
  }

  private append(r: MetricsRecord): void {
    fs.appendFileSync(this.file, JSON.stringify(r) + '\n');
  }
}

const round = (s: number): number => Math.round(s * 1000) / 1000;

/** A run folder's records, checked. */
export interface RunData {
  /** The run folder read. */
  dir: string;
  /** The first run record; `resumes` holds the later ones. */
  run: RunRecord;
  /** The run records written on each resume, in order. */
  resumes: RunRecord[];
  /** Every scalars record, in file order. */
  scalars: ScalarsRecord[];
  /** Every confusion matrix, in file order. */
  confusion: ConfusionRecord[];
  /** Every set of generations, in file order. */
  samples: SamplesRecord[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | undefined => (v === null ? NaN : typeof v === 'number' ? v : undefined);

function readLines(file: string): Record<string, unknown>[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const out: Record<string, unknown>[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      // the last line of a run killed mid-write is torn: what came before it stands
      if (lines.slice(i + 1).every((l) => l.trim() === '')) return;
      throw new DataError('metrics', `${file}: line ${i + 1} is not JSON: ${showValue(line.slice(0, 80))}`);
    }
    if (!isObject(v) || typeof v['type'] !== 'string')
      throw new DataError('metrics', `${file}: line ${i + 1} is not a record with a "type": ${showValue(line.slice(0, 80))}`);
    out.push(v);
  });
  return out;
}

/** Reads DIR/metrics.jsonl; a DataError names the file, the line and the field at fault. */
export function readRunLog(dir: string): RunData {
  const file = path.join(dir, METRICS_FILE);
  if (!fs.existsSync(file))
    throw new DataError('metrics', `${dir} holds no ${METRICS_FILE}: not a run folder, or a run that logged nothing`);
  const data: Omit<RunData, 'run'> & { run?: RunRecord } = { dir, resumes: [], scalars: [], confusion: [], samples: [] };
  readLines(file).forEach((r, i) => {
    const bad = (msg: string) => new DataError('metrics', `${file}: record ${i + 1} (${String(r['type'])}): ${msg}`);
    const step = r['step'];
    if (r['type'] !== 'run' && (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0))
      throw bad(`"step" must be a non-negative integer, got ${showValue(step)}`);
    switch (r['type']) {
      case 'run': {
        if (typeof r['name'] !== 'string' || typeof r['kind'] !== 'string' || !isObject(r['config']))
          throw bad('needs "name" and "kind" strings and a "config" object');
        const rec = r as unknown as RunRecord;
        if (data.run === undefined) data.run = rec;
        else data.resumes.push(rec);
        break;
      }
      case 'scalars': {
        if (!['train', 'val', 'test'].includes(r['split'] as string))
          throw bad(`"split" must be train, val or test, got ${showValue(r['split'])}`);
        if (!isObject(r['values'])) throw bad('"values" must be an object of numbers');
        const values: Record<string, number> = {};
        for (const [k, v] of Object.entries(r['values'])) {
          const n = num(v);
          if (n === undefined) throw bad(`value "${k}" must be a number, got ${showValue(v)}`);
          values[k] = n;
        }
        data.scalars.push({ ...(r as unknown as ScalarsRecord), time: num(r['time']) ?? NaN, values });
        break;
      }
      case 'confusion': {
        const labels = r['labels'];
        const m = r['matrix'];
        if (!Array.isArray(labels) || !Array.isArray(m) || m.length !== labels.length)
          throw bad('"labels" and "matrix" must be arrays of the same length');
        if (!m.every((row) => Array.isArray(row) && row.length === labels.length && row.every((c) => Number.isInteger(c) && c >= 0)))
          throw bad(`"matrix" must be ${labels.length}x${labels.length} non-negative integer counts`);
        data.confusion.push(r as unknown as ConfusionRecord);
        break;
      }
      case 'samples': {
        const s = r['samples'];
        if (!Array.isArray(s) || !s.every((x) => isObject(x) && typeof x['prompt'] === 'string' && typeof x['text'] === 'string'))
          throw bad('"samples" must be an array of {prompt, text} strings');
        data.samples.push(r as unknown as SamplesRecord);
        break;
      }
      default:
        // a newer writer's record type: skipped, so old readers still draw what they know
        break;
    }
  });
  if (data.run === undefined) throw new DataError('metrics', `${file}: no "run" record`);
  return data as RunData;
}
