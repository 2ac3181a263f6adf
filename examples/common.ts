// What the classifier examples share: the command line, Keras's initialisation, and the
// compile -> fit -> evaluate -> `RESULT {json}` sequence. Each example file keeps only its data and model.

import * as path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import * as mox from '../src/index.js';

/** A bad command line: exit code 2. */
export class UsageError extends Error {}

export function positiveInt(name: string, v: string | undefined, dflt: number): number;
export function positiveInt(name: string, v: string | undefined, dflt: undefined): number | undefined;
export function positiveInt(name: string, v: string | undefined, dflt: number | undefined): number | undefined {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got '${v}'`);
  return n;
}

export function positiveNumber(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!(n > 0 && Number.isFinite(n))) throw new UsageError(`--${name} must be a positive number, got '${v}'`);
  return n;
}

export function integer(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new UsageError(`--${name} must be an integer, got '${v}'`);
  return n;
}

/**
 * The --run-dir option every training example takes: where its runs' metrics.jsonl go (one folder per
 * training run), for `mox report`. Spread it into a parseArgs `options`.
 */
export const RUN_DIR_OPTION = { 'run-dir': { type: 'string' } } as const satisfies ParseArgsConfig['options'];

/** The folder of an example's runs: --run-dir, else runs/<example> under the current folder. */
export function runDirOf(example: string, values: Record<string, unknown>): string {
  const v = values['run-dir'];
  if (v === undefined) return path.join('runs', example);
  if (typeof v !== 'string' || v === '') throw new UsageError(`--run-dir must be a folder, got '${String(v)}'`);
  return v;
}

export interface ClassifierArgs {
  epochs: number;
  batchSize: number;
  limit?: number;
  testLimit?: number;
  lr: number;
  seed: number;
  dataDir?: string;
  /** --run-dir, or runs/<example>: see runDirOf (the example's name is not known here). */
  runDir: string | undefined;
  /** Every parsed flag, for options an example adds. */
  values: Record<string, string | boolean | undefined>;
}

/**
 * Parses --epochs --batch-size --limit --test-limit --lr --seed --data-dir --threads --run-dir (and `extra`)
 * and applies --threads.
 */
export function parseClassifierArgs(
  defaults: { epochs: number; batchSize: number },
  extra: ParseArgsConfig['options'] = {},
): ClassifierArgs {
  const { values } = parseArgs({
    options: {
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      limit: { type: 'string' },
      'test-limit': { type: 'string' },
      lr: { type: 'string' },
      seed: { type: 'string' },
      'data-dir': { type: 'string' },
      threads: { type: 'string' },
      ...RUN_DIR_OPTION,
      ...extra,
    },
    strict: true,
  });
  const v = values as Record<string, string | boolean | undefined>;
  const str = (k: string): string | undefined => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
  if (str('threads') !== undefined) mox.setNumThreads(positiveInt('threads', str('threads'), 1));
  return {
    epochs: positiveInt('epochs', str('epochs'), defaults.epochs),
    batchSize: positiveInt('batch-size', str('batch-size'), defaults.batchSize),
    limit: positiveInt('limit', str('limit'), undefined),
    testLimit: positiveInt('test-limit', str('test-limit'), undefined),
    lr: positiveNumber('lr', str('lr'), 1e-3),
    seed: integer('seed', str('seed'), 0),
    dataDir: str('data-dir'),
    runDir: str('run-dir'),
    values: v,
  };
}

/** Keras's Dense/Conv2D defaults: Glorot-uniform kernels, zero biases (the tutorials' numbers assume them). */
export function kerasInit(model: mox.nn.Module): void {
  for (const m of model.modules()) {
    if (m instanceof mox.nn.Linear || m instanceof mox.nn.Conv2d) {
      mox.nn.init.xavierUniform_(m.weight);
      if (m.bias) mox.nn.init.zeros_(m.bias);
    }
  }
}

export interface TrainAndReport {
  name: string;
  model: mox.nn.Module;
  /** Input shape without the batch, for the summary; null lists the layers only (no forward pass on zeros). */
  inputShape: number[] | null;
  /** Training data: tensors, or a DataLoader (which brings its own batching and shuffling). */
  train: { x: mox.Tensor; y: mox.Tensor } | mox.data.DataLoader<readonly mox.Tensor[], mox.Tensor[]>;
  test: { x: mox.Tensor; y: mox.Tensor };
  args: ClassifierArgs;
  /** The accuracy the example should reach with its defaults, for the closing line. */
  target: string;
  /** Extra fields for the RESULT line. */
  extra?: Record<string, unknown>;
  /** Callbacks for fit (a weight constraint, early stopping, ...). */
  callbacks?: mox.train.Callback[];
  /** Held-out data evaluated after each epoch (fit's validationData; carved from the training data, never the test set). */
  validation?: { x: mox.Tensor; y: mox.Tensor };
  /** The class names, for the confusion matrices in the run log (default '0' to 'C-1'). */
  labels?: readonly string[];
  start: number;
}

/**
 * A RunLogger for one of an example's training runs: into runDirOf(example)/`sub` (or the run folder
 * itself without `sub`), with the example's settings in the run record.
 */
export function exampleRunLogger(
  example: string,
  args: { values: Record<string, unknown> },
  opts: { sub?: string; labels?: readonly string[]; config?: Record<string, unknown>; kind?: mox.train.RunKind } = {},
): mox.train.RunLogger {
  const root = runDirOf(example, args.values);
  const dir = opts.sub ? path.join(root, opts.sub) : root;
  const flags = Object.fromEntries(Object.entries(args.values).filter(([k, v]) => v !== undefined && k !== 'run-dir'));
  return new mox.train.RunLogger(dir, {
    name: opts.sub ? `${example}/${opts.sub}` : example,
    kind: opts.kind,
    labels: opts.labels ? [...opts.labels] : undefined,
    config: { example, flags, ...opts.config },
  });
}

/** Adam + sparse categorical cross-entropy on logits, fit, evaluate, and the RESULT line. */
export async function trainAndReport(o: TrainAndReport): Promise<void> {
  const { model, args } = o;
  kerasInit(model);
  model.summary(o.inputShape);
  model.compile({ optimizer: 'adam', lr: args.lr, loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const runLogger = exampleRunLogger(o.name, args, { labels: o.labels, config: { ...o.extra, seed: args.seed } });
  const callbacks = [...(o.callbacks ?? []), runLogger];
  const fitStart = performance.now();
  const history =
    'x' in o.train
      ? await model.fit(o.train.x, o.train.y, {
          epochs: args.epochs,
          batchSize: args.batchSize,
          seed: args.seed,
          callbacks,
          validationData: o.validation ? [o.validation.x, o.validation.y] : undefined,
        })
      : await model.fit(o.train, {
          epochs: args.epochs,
          callbacks,
          validationData: o.validation ? [o.validation.x, o.validation.y] : undefined,
        });
  const fitSeconds = (performance.now() - fitStart) / 1000;

  console.log('Evaluating on the test set');
  const { loss, accuracy } = model.evaluate(o.test.x, o.test.y, { batchSize: 256, verbose: 1 });
  console.log(`test accuracy ${(100 * accuracy!).toFixed(2)}% (target ${o.target}), test loss ${loss!.toFixed(4)}`);
  await logTestSet(runLogger, { loss: loss!, accuracy: accuracy! }, o.test);
  console.log(`metrics: ${runLogger.dir}/metrics.jsonl (mox report ${runLogger.dir})`);

  const round = (v: number, d = 4): number => Number(v.toFixed(d));
  const last = (k: string): number => history.history[k]!.at(-1)!;
  const result = {
    example: o.name,
    epochs: args.epochs,
    batch_size: args.batchSize,
    train_examples: 'x' in o.train ? o.train.x.shape[0] : undefined,
    validation_examples: o.validation?.x.shape[0],
    epochs_run: history.epoch.length,
    test_examples: o.test.x.shape[0],
    seed: args.seed,
    ...o.extra,
    train_loss: round(last('loss')),
    train_accuracy: round(last('accuracy')),
    test_loss: round(loss!),
    test_accuracy: round(accuracy!),
    fit_seconds: round(fitSeconds, 1),
    seconds: round((performance.now() - o.start) / 1000, 1),
    threads: mox.getNumThreads(),
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
}

/** What each dataset's folder must hold, for the message when it is missing (docs/data.md has the layouts). */
const EXPECTED_FILES: Record<mox.data.DatasetName, string> = {
  mnist:
    'train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (or unpacked, without .gz)',
  'fashion-mnist':
    'train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (or unpacked, without .gz)',
  cifar10: 'data_batch_1.bin (up to data_batch_5.bin) and test_batch.bin, or the archive cifar-10-binary.tar.gz',
  tinyshakespeare: 'input.txt (Tiny Shakespeare, 1,115,394 bytes)',
  'rt-polarity': 'rt-polarity.pos, rt-polarity.neg (sentence polarity v1.0, as published: Windows-1252)',
};

/**
 * The message for a dataset an example cannot find: the loader's own message says which files of one
 * split are missing, but not how this program is told where they are, nor what else it will need.
 */
export function missingDataMessage(example: string, e: mox.DatasetNotFoundError): string {
  const name = e.op as mox.data.DatasetName;
  const folder = mox.data.DATASET_SOURCES[name]?.folders[0] ?? name;
  return [
    `${e.missing.join(' and ')} not found, and ${e.reason}`,
    // the loader calls its option dataDir; here it is the flag
    `  looked in: ${e.searched.map((w) => w.replace(/^dataDir \(/, '--data-dir (')).join(', then ')}`,
    `  expected in one folder: ${EXPECTED_FILES[name] ?? e.missing.join(', ')}`,
    `  tell ${example} where they are: npm run example:${example} -- --data-dir DIR (DIR holds the files, or a ${folder}/ ` +
      `folder with them), or set MOX_DATA_DIR=DIR with DIR holding ${folder}/ (see docs/data.md)`,
  ].join('\n');
}

/** Runs a dataset load whose not-found error then also says how to point this example at the files. */
export async function withDataHelp<T>(example: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (e) {
    if (!(e instanceof mox.DatasetNotFoundError)) throw e;
    throw new mox.DatasetNotFoundError(e.op, missingDataMessage(example, e), e.missing, e.searched, e.reason);
  }
}

/** mox.data.loadDataset for an image dataset, through withDataHelp. */
export function loadExampleDataset(
  example: string,
  name: mox.data.ImageDatasetName,
  opts: mox.data.LoadDatasetOptions,
): Promise<mox.data.ImageDataset> {
  return withDataHelp(example, () => mox.data.loadDataset(name, opts));
}

/** One split of a 28x28 grey dataset with pixels scaled from 0..255 to [0, 1]: x [N, 1, 28, 28] float32, y [N] int32, and the class names. */
export async function loadGreyImages(
  example: string,
  dataset: 'mnist' | 'fashion-mnist',
  split: 'train' | 'test',
  args: ClassifierArgs,
): Promise<{ x: mox.Tensor; y: mox.Tensor; classes: readonly string[] }> {
  const limit = split === 'train' ? args.limit : args.testLimit;
  const ds = await loadExampleDataset(example, dataset, { split, dataDir: args.dataDir, limit, scale: 'raw' });
  const x = ds.x.div(255);
  ds.x.dispose();
  return { x, y: ds.y, classes: ds.classes };
}

/** Logs a test set's loss and metrics and its confusion matrix into a run that has ended. */
export async function logTestSet(logger: mox.train.RunLogger, logs: mox.train.Logs, test: { x: mox.Tensor; y: mox.Tensor }): Promise<void> {
  logger.logScalars('test', logs);
  await logger.logConfusion([test.x, test.y], 'test');
}

/** Runs main: usage errors exit 2, mox's own errors (a missing dataset, ...) exit 1 with the message only. */
export function runMain(name: string, main: () => Promise<void>): void {
  main().catch((e: unknown) => {
    const usage = e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    if (usage || e instanceof mox.MoxError) {
      console.error(`${name}: ${(e as Error).message}`);
      process.exit(usage ? 2 : 1);
    }
    console.error(e);
    process.exit(1);
  });
}
