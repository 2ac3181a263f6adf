// Knowledge distillation of a GPT (issue 15): the Tiny Shakespeare GPT of the main command (`mox train
// gpt --dataset tinyshakespeare`: 4 layers, 4 heads, 128 wide, 2,000 iterations) teaches a student of
// 2 layers, 4 heads, 64 wide; the baseline is the same student trained alone (`mox train gpt` with its
// shape), for the same iterations, from the same initial weights, on the same batches (the same seed:
// test/cli-distill.test.ts checks that alpha 0 gives exactly the baseline's weights).
//
//   teacher    mox train gpt --dataset tinyshakespeare (or --teacher DIR)
//   distilled  mox distill gpt --teacher T --dataset tinyshakespeare --n-layer 2 --n-embd 64
//              --temperature 1 --alpha 0.5 --max-iters N
//   alone      mox train gpt --dataset tinyshakespeare --n-layer 2 --n-embd 64 --max-iters N
//
// Both students use train gpt's defaults otherwise (AdamW 1e-3, warmup 100 then cosine to 1e-4, batch
// 12 x 64 characters); both are scored by the same validation batches (the last 10% of the text,
// 100 batches). T 1 and alpha 0.5 were set before the run: the student is scored on next-character
// cross-entropy, whose best target is the teacher's distribution as it is (T 1), mixed half and half
// with the true characters.
//
// Target: distilled_val_loss < alone_val_loss. It ends with a `RESULT {json}` line.
//
//   npm run example:distill-gpt
//   npm run example:distill-gpt -- --teacher DIR --iters 500
//
// Metrics: --run-dir DIR (default runs/distill-gpt) gets each training run's metrics.jsonl (one folder per run: teacher, distilled, alone),
// for `mox report` (docs/reports.md).
// Options: --teacher DIR (a Tiny Shakespeare GPT checkpoint; default: train one, ~2.5 min), --iters N
// (student iterations, default 2000), --temperature T (default 1), --alpha A (default 0.5),
// --data-dir DIR (holding tinyshakespeare/), --threads N, --keep (leave the run folders).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as mox from '../src/index.js';
import { runTrainGpt, trainGptOptions, type TrainGptOptions } from '../src/cli/commands/train-gpt.js';
import { RUN_DIR_OPTION, UsageError, positiveInt, positiveNumber, runDirOf } from './common.js';

const { values } = parseArgs({
  options: {
    teacher: { type: 'string' },
    iters: { type: 'string' },
    temperature: { type: 'string' },
    alpha: { type: 'string' },
    'data-dir': { type: 'string' },
    threads: { type: 'string' },
    keep: { type: 'boolean' },
    ...RUN_DIR_OPTION,
  },
});
// the metrics of each training run: --run-dir/teacher, /distilled, /alone (default runs/distill-gpt)
const runDir = runDirOf('distill-gpt', values);

const STUDENT = { nLayer: 2, nHead: 4, nEmbd: 64 };

async function main(): Promise<void> {
  const iters = positiveInt('iters', values.iters, 2000);
  const temperature = positiveNumber('temperature', values.temperature, 1);
  const alpha = values.alpha === undefined ? 0.5 : Number(values.alpha);
  if (!(alpha >= 0 && alpha <= 1)) throw new UsageError(`--alpha must be in [0, 1], got '${values.alpha}'`);
  const threads = positiveInt('threads', values.threads, undefined);
  if (threads !== undefined) mox.setNumThreads(threads);
  const dataDir = path.resolve(values['data-dir'] ?? process.env['MOX_DATA_DIR'] ?? path.join('..', 'shared', 'data'));
  if (!fs.existsSync(path.join(dataDir, 'tinyshakespeare', 'input.txt')))
    throw new UsageError(`${path.join(dataDir, 'tinyshakespeare', 'input.txt')} is missing (see docs/data.md)`);
  process.env['MOX_DATA_DIR'] = dataDir;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-distill-'));
  const quiet = (line: string) => {
    if (/^(step|training|distilling|teacher|done)/.test(line)) console.log(`  ${line}`);
  };
  const t0 = performance.now();

  let teacherDir = values.teacher;
  let teacherSeconds: number | null = null;
  if (teacherDir === undefined) {
    teacherDir = path.join(work, 'teacher');
    console.log('teacher: mox train gpt --dataset tinyshakespeare (4 layers, 128 wide, 2000 iterations)');
    const tt = performance.now();
    await runTrainGpt(
      trainGptOptions({ dataset: 'tinyshakespeare', out: teacherDir, runDir: path.join(runDir, 'teacher') }),
      new Set(),
      quiet,
    );
    teacherSeconds = (performance.now() - tt) / 1000;
  }
  const teacherHistory = JSON.parse(fs.readFileSync(path.join(teacherDir, 'trainer_state.json'), 'utf8')).history as { val: number }[];
  const teacherVal = teacherHistory.at(-1)!.val;

  const student = (o: Partial<TrainGptOptions> & { out: string }) =>
    trainGptOptions({ dataset: 'tinyshakespeare', ...STUDENT, maxIters: iters, evalInterval: iters, evalIters: 100, ...o });
  console.log(
    `distilled: mox distill gpt --teacher T --n-layer 2 --n-embd 64 --temperature ${temperature} --alpha ${alpha} --max-iters ${iters}`,
  );
  let ts = performance.now();
  const distilled = await runTrainGpt(
    student({
      out: path.join(work, 'distilled'),
      runDir: path.join(runDir, 'distilled'),
      distill: { teacher: path.resolve(teacherDir), temperature, alpha, unknown: { kind: 'error' } },
    }),
    new Set(),
    quiet,
  );
  const distilledSeconds = (performance.now() - ts) / 1000;
  console.log(`alone: mox train gpt --n-layer 2 --n-embd 64 --max-iters ${iters}`);
  ts = performance.now();
  const alone = await runTrainGpt(student({ out: path.join(work, 'alone'), runDir: path.join(runDir, 'alone') }), new Set(), quiet);
  const aloneSeconds = (performance.now() - ts) / 1000;

  const distilledVal = distilled.history.at(-1)!.val;
  const aloneVal = alone.history.at(-1)!.val;
  console.log(
    `validation loss: teacher ${teacherVal.toFixed(4)}, student distilled ${distilledVal.toFixed(4)}, student alone ${aloneVal.toFixed(4)} (${(aloneVal - distilledVal).toFixed(4)} better distilled)`,
  );
  if (values.keep) console.log(`run folders in ${work}`);
  else fs.rmSync(work, { recursive: true, force: true });
  const round = (v: number, k = 4): number => Number(v.toFixed(k));
  const result = {
    example: 'distill-gpt',
    teacher: '4 layers, 128 wide',
    teacher_val_loss: round(teacherVal),
    student: '2 layers, 64 wide',
    student_params: distilled.numParams,
    iters,
    temperature,
    alpha,
    distilled_val_loss: round(distilledVal),
    alone_val_loss: round(aloneVal),
    improvement: round(aloneVal - distilledVal),
    distilled_train_loss: round(distilled.history.at(-1)!.train),
    alone_train_loss: round(alone.history.at(-1)!.train),
    distilled_ms_per_iter: round(distilled.msPerIter, 1),
    alone_ms_per_iter: round(alone.msPerIter, 1),
    teacher_seconds: teacherSeconds === null ? null : round(teacherSeconds, 1),
    distilled_seconds: round(distilledSeconds, 1),
    alone_seconds: round(aloneSeconds, 1),
    seconds: round((performance.now() - t0) / 1000, 1),
    threads: mox.getNumThreads(),
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(e instanceof UsageError ? 2 : 1);
});
