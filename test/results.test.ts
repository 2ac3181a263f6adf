// The pure half of `npm run results` (scripts/results-format.mjs): reading the figures from a program's
// output, judging them against the targets, rendering docs/results.md and merging a partial run. Fixed
// lines only; no program is run here.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

interface Check {
  field?: string;
  op?: '>=' | '<=';
  value?: number;
  wall?: number;
}
interface Row {
  name: string;
  command: string;
  status: string;
  target?: Check[];
  figures?: string[];
  result?: Record<string, unknown>;
  wall_s?: number;
  note?: string;
  run?: { commit: string; date: string };
}
interface Format {
  parseResultLine(output: string): Record<string, unknown> | null;
  parseGptEval(output: string): Record<string, unknown> | null;
  judge(target: Check[] | undefined, result: Record<string, unknown> | null, wall?: number): 'pass' | 'miss' | null;
  formatSeconds(s: number): string;
  renderResults(saved: { run: Record<string, unknown>; rows: Row[] }): string;
  mergeRows(previous: Row[], fresh: Row[], programs: { name: string; command: string }[]): Row[];
}

// a script of the repository, not part of the compiled tree: found from the root, as npm runs tests
const fmt = (await import(pathToFileURL(join(process.cwd(), 'scripts/results-format.mjs')).href)) as Format;

test('the RESULT line is the last one starting with RESULT, parsed; none or broken JSON is null', () => {
  const out =
    'Epoch 1/1\r938/938 [===] - loss: 0.5\nRESULT {"example":"a","test_accuracy":0.5}\nRESULT {"example":"a","test_accuracy":0.9}\n';
  assert.deepEqual(fmt.parseResultLine(out), { example: 'a', test_accuracy: 0.9 });
  assert.equal(fmt.parseResultLine('no result here\n'), null);
  assert.equal(fmt.parseResultLine('RESULT {"example":'), null);
  assert.equal(fmt.parseResultLine('RESULT [1,2]'), null);
});

test('the GPT figures are those of the last evaluation line that mox train gpt prints', () => {
  const out = [
    'training: GPT 4 layers, 4 heads, width 128',
    'step 0: train loss 4.2870, val loss 4.2823, 0.0 ms/iter (eval 1.2 s)',
    'iter 10: loss 3.1000, lr 1.00e-4, 80.1 ms',
    'step 2000: train loss 1.7612, val loss 1.9001, 85.3 ms/iter, 9000 tokens/s (eval 1.0 s)',
    'done: 2000 iterations, 85.3 ms/iter, 9003 tokens/s; checkpoint in /tmp/x',
  ].join('\n');
  assert.deepEqual(fmt.parseGptEval(out), {
    example: 'gpt',
    step: 2000,
    train_loss: 1.7612,
    val_loss: 1.9001,
    ms_per_iter: 85.3,
    tokens_per_s: 9003,
  });
  assert.equal(fmt.parseGptEval('iter 10: loss 3.1'), null);
});

test('a target passes when every check holds, misses otherwise (a missing field misses, the wall time counts)', () => {
  const acc = [{ field: 'test_accuracy', op: '>=' as const, value: 0.885 }];
  assert.equal(fmt.judge(acc, { test_accuracy: 0.8851 }), 'pass');
  assert.equal(fmt.judge(acc, { test_accuracy: 0.8849 }), 'miss');
  assert.equal(fmt.judge(acc, { test_loss: 0.3 }), 'miss');
  const lstm = [{ field: 'val_loss', op: '<=' as const, value: 1.7 }, { wall: 600 }];
  assert.equal(fmt.judge(lstm, { val_loss: 1.65 }, 599), 'pass');
  assert.equal(fmt.judge(lstm, { val_loss: 1.65 }, 601), 'miss');
  assert.equal(fmt.judge(lstm, { val_loss: 1.71 }, 100), 'miss');
  assert.equal(fmt.judge(undefined, { val_loss: 1 }), null);
  assert.equal(fmt.formatSeconds(0.346), '0.35 s');
  assert.equal(fmt.formatSeconds(312.4), '5 min 12 s');
});

test('docs/results.md: the run, the machine, one table row per program, the RESULT lines', () => {
  const run = {
    commit: 'abc123',
    dirty: true,
    date: '2026-12-07T10:00:00Z',
    dataDir: '/data',
    machine: { cpu: 'AMD EPYC', cores: 2, node: 'v20.20.2', device: 'cpu', kernels: 'wasm-relaxed-simd', threads: 2 },
  };
  const rows: Row[] = [
    {
      name: 'fashion-mnist-cnn',
      command: 'npm run example:fashion-mnist-cnn',
      status: 'ok',
      target: [{ field: 'test_accuracy', op: '>=', value: 0.885 }],
      result: { example: 'fashion-mnist-cnn', test_accuracy: 0.8912 },
      wall_s: 301.5,
      run,
    },
    {
      name: 'mnist-cnn',
      command: 'npm run example:mnist-cnn',
      status: 'ok',
      target: [{ field: 'test_accuracy', op: '>=', value: 0.99 }],
      result: { example: 'mnist-cnn', test_accuracy: 0.987 },
      wall_s: 290,
      run: { commit: 'old', date: '2026-12-01T00:00:00Z' },
    },
    {
      name: 'cifar10-cnn',
      command: 'npm run example:cifar10-cnn',
      status: 'skipped',
      target: [{ field: 'test_accuracy', op: '>=', value: 0.5 }],
      note: 'not run: its figure needs `data_batch_1.bin` / `test_batch.bin` in /data/cifar10/',
      run,
    },
  ];
  const md = fmt.renderResults({ run, rows });
  assert.match(md, /^- commit: `abc123` \(with uncommitted changes\)$/m);
  assert.match(md, /^- machine: AMD EPYC, 2 cores; Node\.js v20\.20\.2; mox cpu backend, `wasm-relaxed-simd` kernels, 2 threads$/m);
  assert.match(
    md,
    /^\| fashion-mnist-cnn \| `npm run example:fashion-mnist-cnn` \| test_accuracy \*\*0\.8912\*\* \| test_accuracy >= 0\.885 \| pass \| 5 min 2 s \|$/m,
  );
  assert.match(
    md,
    /^\| mnist-cnn \| .* \(from an earlier run: commit `old`, 2026-12-01T00:00:00Z\) \| test_accuracy >= 0\.99 \| \*\*miss\*\* \| 4 min 50 s \|$/m,
  );
  assert.match(
    md,
    /^\| cifar10-cnn \| .* \| not run: its figure needs `data_batch_1\.bin` \/ `test_batch\.bin` in \/data\/cifar10\/ \| test_accuracy >= 0\.5 \| skipped \| - \|$/m,
  );
  assert.match(md, /^RESULT \{"example":"fashion-mnist-cnn","test_accuracy":0\.8912\}$/m);
  assert.doesNotMatch(md, /^RESULT .*cifar10/m);
});

test("a partial run replaces its rows and keeps the others, in the programs' order; one never run says so", () => {
  const row = (name: string, v: number): Row => ({ name, command: name, status: 'ok', result: { v } });
  const programs = ['a', 'b', 'c', 'd'].map((name) => ({ name, command: `run ${name}` }));
  const merged = fmt.mergeRows([row('a', 1), row('b', 1), row('c', 1)], [row('b', 2)], programs);
  assert.deepEqual(
    merged.map((r) => [r.name, r.result?.v ?? r.status]),
    [
      ['a', 1],
      ['b', 2],
      ['c', 1],
      ['d', 'not run'],
    ],
  );
  assert.equal(merged[3]!.note, 'not run yet: npm run results -- --only d');
  assert.deepEqual(
    fmt.mergeRows([], [row('d', 3), row('a', 3)], programs).map((r) => r.status),
    ['ok', 'not run', 'not run', 'ok'],
  );
});
