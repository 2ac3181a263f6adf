// `mox train lstm` and `mox generate` on its checkpoints, run as a user runs them (child processes on
// dist/src/cli/main.js), on a short generated text. Tiny configurations only.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as mox from '../src/index.js';

const MAIN = path.resolve(process.cwd(), 'dist/src/cli/main.js');

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A few hundred lines of seeded pseudo-English. */
function corpus(): string {
  const words = 'the king and queen of rome shall speak to thee my lord good night sweet prince'.split(' ');
  const g = new mox.Generator(11);
  const lines: string[] = [];
  for (let i = 0; i < 120; i++) lines.push(Array.from({ length: g.int(3, 9) }, () => words[g.int(0, words.length)]!).join(' ') + '.');
  return lines.join('\n') + '\n';
}

type Record_ = { step: number; train: number; val: number };
const history = (dir: string): Record_[] =>
  (JSON.parse(fs.readFileSync(path.join(dir, 'trainer_state.json'), 'utf8')) as { history: Record_[] }).history;

test('CLI: train lstm writes a checkpoint, --resume reproduces the uninterrupted run, generate samples from it', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-lstm-cli-'));
  try {
    const data = path.join(dir, 'text.txt');
    fs.writeFileSync(data, corpus());
    const common = [
      '--data',
      data,
      '--hidden-size',
      '24',
      '--embed-dim',
      '8',
      '--seq-len',
      '12',
      '--batch-size',
      '4',
      '--eval-interval',
      '6',
      '--eval-iters',
      '2',
      '--warmup-iters',
      '2',
      '--dropout',
      '0.1',
      '--threads',
      '1',
    ];
    const full = path.join(dir, 'full');
    const r = run('train', 'lstm', ...common, '--max-iters', '12', '--out', full);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^training: LSTM 2 layers, hidden 24, embedding 8, vocab \d+ \(char\)/m);
    assert.match(r.stdout, /^step 0: train loss \d\.\d{4}, val loss \d\.\d{4}/m);
    assert.match(r.stdout, /^step 12: train loss .* ms\/iter, \d+ tokens\/s/m);
    for (const f of ['config.json', 'model.safetensors', 'optimizer.safetensors', 'trainer_state.json', 'tokenizer.json'])
      assert.ok(fs.existsSync(path.join(full, f)), f);
    assert.deepEqual(
      fs.readdirSync(full).filter((f) => f.startsWith('.')),
      [],
      'no temporary files left',
    );
    const config = JSON.parse(fs.readFileSync(path.join(full, 'config.json'), 'utf8')) as {
      model: string;
      lstm: { hiddenSize: number };
      train: { data: { data: string } };
    };
    assert.equal(config.model, 'lstm');
    assert.equal(config.lstm.hiddenSize, 24);
    assert.equal(config.train.data.data, path.resolve(data), 'the data file by its absolute path');
    const h = history(full);
    assert.deepEqual(
      h.map((e) => e.step),
      [0, 6, 12],
    );
    assert.ok(h[2]!.val < h[0]!.val, `the validation loss goes down: ${h.map((e) => e.val)}`);

    // an existing checkpoint is not replaced without --overwrite
    const again = run('train', 'lstm', ...common, '--max-iters', '12', '--out', full);
    assert.equal(again.code, 2);
    assert.match(
      again.stderr,
      /^mox: train lstm: .* already holds a checkpoint \(.*trainer_state\.json.*\); pass --resume to continue it, or --overwrite/,
    );

    // the same run in two parts: 6 iterations (with the full run's schedule), then --resume
    const part = path.join(dir, 'part');
    assert.equal(run('train', 'lstm', ...common, '--max-iters', '6', '--lr-decay-iters', '12', '--out', part).code, 0);
    const res = run('train', 'lstm', '--out', part, '--resume', '--max-iters', '12', '--threads', '1');
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /resuming from .* at step 6/);
    assert.deepEqual(history(part), h, 'the same losses, bit for bit');
    assert.deepEqual(fs.readFileSync(path.join(part, 'model.safetensors')), fs.readFileSync(path.join(full, 'model.safetensors')));
    // without --max-iters a resumed run keeps its own length: a finished run is an error, not a silent exit 0
    const done = run('train', 'lstm', '--out', full, '--resume', '--threads', '1');
    assert.equal(done.code, 1, done.stderr);
    assert.match(done.stderr, /^mox: train lstm: --resume: the run is complete \(step 12 of 12\)/);
    const back = run('train', 'lstm', '--out', full, '--resume', '--max-iters', '12');
    assert.equal(back.code, 1, back.stderr);
    assert.match(back.stderr, /--max-iters 12 is not beyond the checkpoint's step 12/);
    const clash = run('train', 'lstm', '--out', part, '--resume', '--hidden-size', '32');
    assert.equal(clash.code, 1);
    assert.match(clash.stderr, /^mox: train lstm: --resume: the checkpoint was trained with hiddenSize = 24/);

    // generate detects the LSTM checkpoint: text, ids, greedy is deterministic, top-k/top-p sampling with a seed too
    const g = run('generate', '--model', full, '--prompt', 'the king', '--max-new-tokens', '30', '--seed', '3');
    assert.equal(g.code, 0, g.stderr);
    assert.ok(g.stdout.startsWith('the king'));
    assert.equal([...g.stdout.replace(/\n$/, '')].length, 8 + 30);
    assert.match(g.stderr, /30 tokens in .* tokens\/s \(LSTM\)/);
    const j = (...extra: string[]) =>
      run('generate', '--model', full, '--prompt-ids', '1,2,3', '--max-new-tokens', '10', '--json', ...extra);
    const j1 = j('--temperature', '0');
    assert.equal(j1.code, 0, j1.stderr);
    const ids = JSON.parse(j1.stdout) as number[];
    assert.equal(ids.length, 13);
    assert.deepEqual(ids.slice(0, 3), [1, 2, 3]);
    assert.deepEqual(JSON.parse(j('--temperature', '0').stdout), ids);
    const s1 = j('--top-k', '5', '--top-p', '0.9', '--seed', '5');
    assert.equal(s1.code, 0, s1.stderr);
    assert.equal(j('--top-k', '5', '--top-p', '0.9', '--seed', '5').stdout, s1.stdout);
    // the checkpoint loads with the library, and its greedy continuation is the CLI's
    const { model } = mox.models.loadLSTM(full);
    assert.deepEqual(model.generate([1, 2, 3], { maxNewTokens: 10, temperature: 0 })[0], ids.slice(3));
    const big = run('generate', '--model', full, '--prompt-ids', '999', '--max-new-tokens', '2');
    assert.equal(big.code, 1);
    assert.match(big.stderr, /token id 999 is outside the model's vocabulary/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('CLI: train lstm usage errors (exit 2) and bad data (exit 1, no stack)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-lstm-cli-'));
  try {
    const help = run('train', 'lstm', '--help');
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^usage: mox train lstm/m);
    assert.match(run('--help').stdout, /^ {2}train gpt\|lstm\b/m);
    for (const args of [
      ['train', 'lstm', '--data', 'x.txt'], // no --out
      ['train', 'lstm', '--out', dir], // no data
      ['train', 'lstm', '--data', 'x', '--out', dir, '--hidden-size', '0'],
      ['train', 'lstm', '--data', 'x', '--out', dir, '--tie-weights', '--hidden-size', '32', '--embed-dim', '16'],
      ['train', 'lstm', '--data', 'x', '--out', dir, '--n-layer', '2'], // a GPT flag
      ['train', 'gpt', '--data', 'x', '--out', dir, '--hidden-size', '2'], // an LSTM flag
      ['train', 'lstm', '--out', dir, '--resume', '--overwrite'],
    ]) {
      const r = run(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^mox: /);
    }
    const fail = (args: string[], re: RegExp) => {
      const r = run(...args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.doesNotMatch(r.stderr, /^\s+at /m);
    };
    fail(
      ['train', 'lstm', '--data', path.join(dir, 'missing.txt'), '--out', path.join(dir, 'o')],
      /^mox: train lstm: cannot read the data file .*missing\.txt: no such file/,
    );
    fs.writeFileSync(path.join(dir, 'short.txt'), 'too short');
    fail(['train', 'lstm', '--data', path.join(dir, 'short.txt'), '--out', path.join(dir, 'o')], /^mox: train lstm: .*validation split/);
    fail(['train', 'lstm', '--out', path.join(dir, 'nothing'), '--resume'], /^mox: train lstm: --resume: there is no checkpoint/);
    // bytes that are not UTF-8 (here a binary's) are refused, not trained on as U+FFFD
    fs.writeFileSync(path.join(dir, 'binary.txt'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0xff, 0xfe, 0x80]));
    fail(
      ['train', 'lstm', '--data', path.join(dir, 'binary.txt'), '--out', path.join(dir, 'o2')],
      /^mox: train lstm: .*not valid UTF-8|^mox: train lstm: .*binary/,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
