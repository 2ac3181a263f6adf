// Knowledge distillation on MNIST (Hinton, Vinyals & Dean 2015): the small CNN of mnist-cnn, trained on
// the 60,000 training images, teaches a 784-64-10 MLP that sees only the first 1,000 of them. The
// baseline is the same MLP (the same initial weights) trained alone on the same 1,000 images with the
// same budget: the same epochs, batches, data order and optimizer. The distilled student trains with
// mox.train.Distiller on alpha * T^2 * KL(teacher || student at temperature T) + (1 - alpha) * the
// cross-entropy on the labels; the one alone on the cross-entropy. Both are scored on the full 10,000-image
// test set.
//
//   teacher:  small CNN (small-cnn.ts), 60,000 images, 1 epoch, Adam 1e-3, batch 64
//   students: Flatten -> Dense(64, relu) -> Dense(10); 1,000 images, 20 epochs, Adam 1e-3, batch 32
//   distilled: T 4, alpha 0.9 (Hinton et al.'s range; Keras's example's weights), set before any run
//
// The budget is the regime distillation is for: a student with little labelled data, where the
// teacher's soft targets carry what the labels alone do not (which wrong digits look alike). The
// settings were fixed beforehand, not tuned on the test set.
//
// Target: distilled_accuracy > alone_accuracy. `npm run results` keeps the figures in docs/results.md.
//
//   npm run example:distill-mnist
//   npm run example:distill-mnist -- --student-examples 5000 --temperature 2 --alpha 0.5
//
// The files are found by mox.data.loadDataset('mnist'): --data-dir DIR, then $MOX_DATA_DIR/mnist, then
// ~/.cache/mox/mnist, and otherwise they are downloaded (unless $MOX_DATA_OFFLINE=1); see docs/data.md.
//
// Metrics: --run-dir DIR (default runs/distill-mnist) gets each training run's metrics.jsonl (one folder per run: teacher, alone, distilled),
// for `mox report` (docs/reports.md).
// Options: --teacher-epochs N (default 1), --limit N (teacher's training images, default all),
// --student-examples N (default 1000), --epochs N (student epochs, default 20), --batch-size N
// (students, default 32), --lr X (default 1e-3), --temperature T (default 4), --alpha A (default 0.9),
// --test-limit N, --seed S (default 0), --data-dir DIR, --threads N.
// The last line of output is `RESULT {json}`.

import * as mox from '../src/index.js';
import {
  exampleRunLogger,
  kerasInit,
  loadGreyImages,
  logTestSet,
  parseClassifierArgs,
  positiveInt,
  positiveNumber,
  runMain,
  UsageError,
} from './common.js';
import { smallCnn } from './small-cnn.js';

const { nn } = mox;
const NAME = 'distill-mnist';

const mlp = (): mox.nn.Sequential => new nn.Sequential(new nn.Flatten(), new nn.Linear(784, 64), new nn.ReLU(), new nn.Linear(64, 10));

runMain(NAME, async () => {
  const str = { type: 'string' } as const;
  const args = parseClassifierArgs(
    { epochs: 20, batchSize: 32 },
    { 'teacher-epochs': str, 'student-examples': str, temperature: str, alpha: str },
  );
  const opt = (k: string): string | undefined => args.values[k] as string | undefined;
  const teacherEpochs = positiveInt('teacher-epochs', opt('teacher-epochs'), 1);
  const nStudent = positiveInt('student-examples', opt('student-examples'), 1000);
  const temperature = positiveNumber('temperature', opt('temperature'), 4);
  const alpha = opt('alpha') === undefined ? 0.9 : Number(opt('alpha'));
  if (!(alpha >= 0 && alpha <= 1)) throw new UsageError(`--alpha must be in [0, 1], got '${opt('alpha')}'`);
  const start = performance.now();
  const train = await loadGreyImages(NAME, 'mnist', 'train', args);
  const test = await loadGreyImages(NAME, 'mnist', 'test', args);
  if (nStudent > train.x.shape[0]!)
    throw new UsageError(`--student-examples ${nStudent} is more than the ${train.x.shape[0]} training images`);
  console.log(`MNIST: ${train.x.shape[0]} training and ${test.x.shape[0]} test images; ${mox.getNumThreads()} threads`);

  // the teacher
  mox.seed(args.seed);
  const teacher = smallCnn(1, 28);
  kerasInit(teacher);
  teacher.compile({ optimizer: 'adam', lr: args.lr, loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  let t0 = performance.now();
  // one run folder per training run: --run-dir/teacher, /alone, /distilled
  const logger = (sub: string) => exampleRunLogger(NAME, args, { sub, labels: test.classes, kind: 'classifier' });
  const teacherLog = logger('teacher');
  await teacher.fit(train.x, train.y, { epochs: teacherEpochs, batchSize: 64, seed: args.seed, verbose: 0, callbacks: [teacherLog] });
  const teacherSeconds = (performance.now() - t0) / 1000;
  const teacherEval = teacher.evaluate(test.x, test.y, { batchSize: 256 });
  const teacherAcc = teacherEval['accuracy']!;
  await logTestSet(teacherLog, teacherEval, test);
  console.log(
    `teacher (small CNN, ${teacherEpochs} epoch of ${train.x.shape[0]}): test accuracy ${(100 * teacherAcc).toFixed(2)}% (${teacherSeconds.toFixed(1)} s)`,
  );

  // the students: the same initial weights, the same batches
  const xs = train.x.narrow(0, 0, nStudent);
  const ys = train.y.narrow(0, 0, nStudent);
  mox.seed(args.seed + 1);
  const alone = mlp();
  kerasInit(alone);
  const student = mlp();
  student.loadStateDict(alone.stateDict());
  const fitOpts = { epochs: args.epochs, batchSize: args.batchSize, seed: args.seed + 2, verbose: 0 } as const;

  t0 = performance.now();
  alone.compile({ optimizer: 'adam', lr: args.lr, loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const aloneLog = logger('alone');
  await alone.fit(xs, ys, { ...fitOpts, callbacks: [aloneLog] });
  const aloneSeconds = (performance.now() - t0) / 1000;
  const a = alone.evaluate(test.x, test.y, { batchSize: 256 });
  await logTestSet(aloneLog, a, test);
  console.log(
    `student alone:     test accuracy ${(100 * a['accuracy']!).toFixed(2)}%, loss ${a['loss']!.toFixed(4)} (${aloneSeconds.toFixed(1)} s)`,
  );

  t0 = performance.now();
  const distiller = new mox.train.Distiller(student, teacher);
  distiller.compile({ optimizer: 'adam', lr: args.lr, metrics: ['accuracy'], alpha, temperature });
  const distilledLog = logger('distilled');
  await distiller.fit(xs, ys, { ...fitOpts, callbacks: [distilledLog] });
  const distillSeconds = (performance.now() - t0) / 1000;
  const d = distiller.evaluate(test.x, test.y, { batchSize: 256 });
  await logTestSet(distilledLog, d, test);
  console.log(
    `student distilled: test accuracy ${(100 * d['accuracy']!).toFixed(2)}%, loss ${d['loss']!.toFixed(4)} (${distillSeconds.toFixed(1)} s)`,
  );

  const round = (v: number, k = 4): number => Number(v.toFixed(k));
  const result = {
    example: NAME,
    teacher: 'small-cnn',
    teacher_epochs: teacherEpochs,
    teacher_train_examples: train.x.shape[0],
    teacher_accuracy: round(teacherAcc),
    student: '784-64-10',
    student_train_examples: nStudent,
    epochs: args.epochs,
    batch_size: args.batchSize,
    temperature,
    alpha,
    test_examples: test.x.shape[0],
    alone_accuracy: round(a['accuracy']!),
    distilled_accuracy: round(d['accuracy']!),
    improvement: round(d['accuracy']! - a['accuracy']!),
    alone_test_loss: round(a['loss']!),
    distilled_test_loss: round(d['loss']!),
    seed: args.seed,
    seconds: round((performance.now() - start) / 1000, 1),
    threads: mox.getNumThreads(),
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
});
