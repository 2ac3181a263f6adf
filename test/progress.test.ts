// The CLI's live progress (train/live-progress.ts): on a fake terminal with a fake clock, the redraw
// rate, the rate and ETA, the width, lines printed through the bar, unknown totals and the final line;
// elsewhere, periodic plain lines without a carriage return; the environment's switches; tokenize's
// encoding in pieces (the same ids as one encode); and `mox train gpt` through a pipe.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LiveProgress, formatInterval, interruptProgress, progressSettings } from '../src/train/live-progress.js';
import { ValueError } from '../src/errors.js';
import { encodeInPieces } from '../src/cli/commands/tokenize.js';
import { GPT2Tokenizer } from '../src/text/gpt2.js';
import { CharTokenizer } from '../src/text/char.js';
import { quantize } from '../src/quant/quantize.js';
import * as mox from '../src/index.js';

const MAIN = path.resolve(process.cwd(), 'dist/src/cli/main.js');
const DATA_DIR = path.resolve(process.env['MOX_DATA_DIR'] ?? path.join('..', 'shared', 'data'));

/** A stream that records what is written, as a terminal (isTTY, columns) or not. */
function capture(isTTY: boolean, columns?: number): { write(s: string): boolean; isTTY: boolean; columns?: number; text: string } {
  return {
    isTTY,
    ...(columns !== undefined ? { columns } : {}),
    text: '',
    write(s: string) {
      this.text += s;
      return true;
    },
  };
}

/** What a terminal shows after `text`: '\r' returns to the line's start, '\n' starts a new line, characters overwrite. */
function screen(text: string): string[] {
  const lines: string[][] = [[]];
  let col = 0;
  for (const ch of text) {
    if (ch === '\r') col = 0;
    else if (ch === '\n') {
      lines.push([]);
      col = 0;
    } else {
      lines[lines.length - 1]![col++] = ch;
    }
  }
  return lines.map((l) =>
    Array.from(l, (c) => c ?? ' ')
      .join('')
      .trimEnd(),
  );
}

/** A clock the test moves by hand, in milliseconds. */
function fakeClock(): { now: () => number; t: number } {
  const c = { t: 0, now: () => c.t };
  return c;
}

test('terminal: redrawn at most every 100 ms, with the rate, the ETA and a bar of partial blocks', () => {
  const out = capture(true, 200);
  const clock = fakeClock();
  const bar = new LiveProgress({ desc: 'train gpt', total: 2000, stream: out, now: clock.now, enabled: true, intervalS: 30 });
  // 10 it/s for 74 s, one update per iteration (every 100 ms), and 5 updates in the same 40 ms
  for (let i = 1; i <= 740; i++) {
    clock.t = i * 100;
    bar.update(i, 'loss 1.93');
  }
  const draws = out.text.split('\r').length - 1;
  assert.equal(draws, 740, 'an update 100 ms after the last draw is drawn');
  for (let k = 1; k <= 5; k++) {
    clock.t = 74_000 + k * 8;
    bar.update(740, 'loss 1.93');
  }
  assert.equal(out.text.split('\r').length - 1, 740, 'updates within 100 ms of a draw are not');
  // 37% of 30 cells: 11 full, and 0.1 of a cell is less than 1/8: a blank
  const expectedBar = `${'█'.repeat(11)}${' '.repeat(19)}`;
  const lines = screen(out.text);
  assert.equal(lines.length, 1, 'one line, redrawn in place');
  // the rate is 10 it/s: 1260 left take 2:06
  assert.equal(lines[0], `train gpt:  37%|${expectedBar}| 740/2000 [01:14<02:06, 10.0 it/s] loss 1.93`);
});

test("terminal: the brief's example, a 20-cell bar with a partial block", () => {
  const out = capture(true, 71);
  const clock = fakeClock();
  const bar = new LiveProgress({ total: 2000, stream: out, now: clock.now, enabled: true, intervalS: 30 });
  clock.t = 23_000;
  bar.update(740, 'loss 1.93');
  const line = screen(out.text)[0]!;
  // 71 columns less one: the bar gets what the text leaves, 20 cells; 7.4 of them: 7 full and ▍ (3/8);
  // 740 in 23 s is 32.2 it/s, so the 1260 left take 39 s
  assert.equal(line, ' 37%|███████▍            | 740/2000 [00:23<00:39, 32.2 it/s] loss 1.93');
  assert.equal(line.length, 70);
});

test('terminal: the line fits the width, the bar goes first, then the text is cut', () => {
  for (const columns of [100, 40, 20, 5]) {
    const out = capture(true, columns);
    const clock = fakeClock();
    const bar = new LiveProgress({ desc: 'finetune gpt', total: 500, stream: out, now: clock.now, enabled: true, intervalS: 30 });
    for (let i = 1; i <= 50; i++) {
      clock.t = i * 1000;
      bar.update(i, 'loss 2.1234, 5123 tokens/s');
    }
    bar.close();
    for (const drawn of out.text.split(/[\r\n]/))
      assert.ok(drawn.length <= columns - 1, `${columns} columns: '${drawn}' (${drawn.length})`);
    const final = screen(out.text)[0]!;
    // 100 columns: a bar of the 26 cells left (2.6 filled: ██▌); 40: no bar, the end cut
    if (columns === 100)
      assert.match(final, /^finetune gpt: {2}10%\|██▌ {23}\| 50\/500 \[00:50, 1\.00 it\/s\] loss 2\.1234, 5123 tokens\/s$/);
    if (columns === 40) assert.equal(final, 'finetune gpt:  10% 50/500 [00:50, 1.00');
  }
});

test('terminal: a line printed through the bar goes above it, and the bar is drawn again', () => {
  const term = capture(true, 100);
  const clock = fakeClock();
  const bar = new LiveProgress({ desc: 'train gpt', total: 10, stream: term, now: clock.now, enabled: true, intervalS: 30 });
  const say = bar.through((line) => term.write(`${line}\n`)); // stdout, on the same terminal
  say('training: GPT 1 layers'); // before any draw: just the line
  for (let i = 1; i <= 10; i++) {
    clock.t = i * 500;
    bar.update(i, `loss ${(3 - i / 10).toFixed(2)}`);
    if (i === 5) say('step 5: train loss 2.5000, val loss 2.6000');
  }
  bar.print('a note on the bar stream');
  bar.close();
  say('done: 10 iterations');
  assert.deepEqual(screen(term.text), [
    'training: GPT 1 layers',
    'step 5: train loss 2.5000, val loss 2.6000',
    'a note on the bar stream',
    `train gpt: 100%|${'█'.repeat(30)}| 10/10 [00:05, 2.00 it/s] loss 2.00`,
    'done: 10 iterations',
    '',
  ]);
});

test('terminal: an unknown total counts up with the rate; interruptProgress ends the line without a final one', () => {
  const out = capture(true, 100);
  const clock = fakeClock();
  const bar = new LiveProgress({ desc: 'tokenize', unit: 'B', unitScale: true, stream: out, now: clock.now, enabled: true, intervalS: 30 });
  clock.t = 2000;
  bar.update(12_345_678);
  assert.equal(screen(out.text)[0], 'tokenize: 12.3M B [00:02, 6.17 MB/s]');
  interruptProgress();
  assert.ok(out.text.endsWith('\n'));
  const before = out.text;
  bar.close();
  assert.equal(out.text, before, 'an interrupted bar writes nothing more');
  // slower than one a second: seconds per item
  const slow = capture(true, 100);
  const b2 = new LiveProgress({ total: 4, unit: 'layer', stream: slow, now: clock.now, enabled: true, intervalS: 30 });
  clock.t += 5000;
  b2.update(2);
  assert.match(screen(slow.text)[0]!, /^ 50%\|.*\| 2\/4 \[00:05<00:05, 2\.50 s\/layer\]$/);
});

test('not a terminal: a plain line every interval and a final one, never a carriage return', () => {
  const log = capture(false);
  const clock = fakeClock();
  const bar = new LiveProgress({ desc: 'train lstm', total: 100, initial: 20, stream: log, now: clock.now, enabled: true, intervalS: 30 });
  for (let i = 21; i <= 100; i++) {
    clock.t = (i - 20) * 1000;
    bar.update(i, 'loss 1.5000');
  }
  bar.close();
  assert.ok(!log.text.includes('\r'));
  assert.deepEqual(log.text.split('\n'), [
    'train lstm:  50% 50/100 [00:30<00:50, 1.00 it/s] loss 1.5000',
    'train lstm:  80% 80/100 [01:00<00:20, 1.00 it/s] loss 1.5000',
    'train lstm: 100% 100/100 [01:20, 1.00 it/s] loss 1.5000',
    '',
  ]);
  // interval 0: a line at every update
  const every = capture(false);
  const b0 = new LiveProgress({ total: 3, stream: every, now: clock.now, enabled: true, intervalS: 0 });
  for (let i = 1; i <= 3; i++) {
    clock.t += 10;
    b0.update(i);
  }
  b0.close();
  assert.equal(every.text.trim().split('\n').length, 4);
  // off: nothing at all, and a line printed through it is printed as it is
  const off = capture(false);
  const b1 = new LiveProgress({ total: 3, stream: off, now: clock.now, enabled: false, intervalS: 0 });
  b1.update(1);
  b1.print('a line');
  b1.close();
  assert.equal(off.text, 'a line\n');
});

test('the environment: MOX_PROGRESS and MOX_PROGRESS_INTERVAL, bad values named', () => {
  assert.deepEqual(progressSettings({}), { enabled: true, intervalS: 30 });
  assert.deepEqual(progressSettings({ MOX_PROGRESS: '0', MOX_PROGRESS_INTERVAL: '2.5' }), { enabled: false, intervalS: 2.5 });
  assert.throws(
    () => progressSettings({ MOX_PROGRESS: 'no' }),
    (e) => e instanceof ValueError && /MOX_PROGRESS must be 0 \(off\) or 1/.test(e.message),
  );
  assert.throws(
    () => progressSettings({ MOX_PROGRESS_INTERVAL: '-1' }),
    (e) => e instanceof ValueError && /MOX_PROGRESS_INTERVAL must be a number of seconds >= 0, got '-1'/.test(e.message),
  );
  assert.throws(() => new LiveProgress({ total: -1, enabled: true, intervalS: 1 }), /progress: total must be a number >= 0/);
  assert.equal(formatInterval(39.9), '00:39');
  assert.equal(formatInterval(3723), '1:02:03');
});

test('tokenize encodes in pieces: the same ids as one encode', (t) => {
  const cases = ['a  \nb', 'x\n\ny', 'word\nWord\n', ' \n\n  lead', 'é\n😀\nz\u0085\nq', 'ab\ncd\nef\r\ngh\n'];
  const chars = [...new Set(cases.join(''))];
  const char = new CharTokenizer(chars);
  for (const text of cases)
    for (const n of [1, 2, 3])
      assert.deepEqual(
        encodeInPieces(text, (s) => char.encode(s), undefined, n),
        char.encode(text),
      );
  const shakespeare = path.join(DATA_DIR, 'tinyshakespeare', 'input.txt');
  const bpe = path.join(DATA_DIR, 'gpt2-bpe');
  if (!fs.existsSync(shakespeare) || !fs.existsSync(path.join(bpe, 'encoder.json'))) {
    t.skip(`needs ${shakespeare} and ${bpe}/encoder.json`);
    return;
  }
  const tok = GPT2Tokenizer.fromDir(bpe);
  // a third of Tiny Shakespeare (the whole takes long on 2 busy cores), with the tricky cases
  const text = fs.readFileSync(shakespeare, 'utf8').slice(0, 300_000) + cases.join('');
  let bytes = 0;
  const ids = encodeInPieces(
    text,
    (s) => tok.encode(s),
    (b) => (bytes += b),
    4096,
  );
  assert.equal(bytes, Buffer.byteLength(text));
  assert.deepEqual(ids, tok.encode(text));
  for (const s of cases)
    for (const n of [1, 2])
      assert.deepEqual(
        encodeInPieces(s, (x) => tok.encode(x), undefined, n),
        tok.encode(s),
      );
});

test('quantize reports each layer (the CLI draws its bar from it)', () => {
  const model = new mox.nn.Sequential(new mox.nn.Linear(4, 8), new mox.nn.ReLU(), new mox.nn.Linear(8, 2));
  const calls: [number, number, string][] = [];
  quantize(model, { scheme: 'int8', onLayer: (done, total, name) => calls.push([done, total, name]) });
  assert.deepEqual(calls, [
    [0, 2, ''],
    [1, 2, '0'],
    [2, 2, '2'],
  ]);
});

test('mox train gpt through a pipe: plain progress lines on stderr, stdout as before; --quiet and MOX_PROGRESS=0 turn them off', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-progress-'));
  const data = path.join(dir, 'text.txt');
  fs.writeFileSync(data, 'First Citizen:\nBefore we proceed any further, hear me speak.\n'.repeat(30));
  const args = (out: string) => [
    MAIN,
    'train',
    'gpt',
    '--data',
    data,
    '--out',
    path.join(dir, out),
    ...['--n-layer', '1', '--n-head', '2', '--n-embd', '16', '--block-size', '16', '--batch-size', '2'],
    ...['--eval-iters', '1', '--threads', '1', '--max-iters', '4', '--eval-interval', '2'],
  ];
  const run = (out: string, env: NodeJS.ProcessEnv, extra: string[] = []) => {
    const r = spawnSync(process.execPath, [...args(out), ...extra], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, ...env },
    });
    assert.equal(r.status, 0, r.stderr);
    return r;
  };
  const r = run('a', { MOX_PROGRESS_INTERVAL: '0' });
  assert.ok(!r.stderr.includes('\r'), 'no carriage return in a pipe');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 5, r.stderr); // one per iteration, and the final line
  for (const [i, line] of lines.slice(0, 4).entries())
    assert.match(
      line,
      new RegExp(
        `^train gpt: +${(i + 1) * 25}% ${i + 1}/4 \\[\\d\\d:\\d\\d<\\d\\d:\\d\\d, [\\d.]+ (it/s|s/it)\\] loss \\d\\.\\d{4}, \\d+ tokens/s$`,
      ),
    );
  assert.match(lines[4]!, /^train gpt: 100% 4\/4 \[\d\d:\d\d, [\d.]+ (it\/s|s\/it)\] loss \d\.\d{4}, \d+ tokens\/s$/);
  assert.match(r.stdout, /^step 0: train loss/m);
  assert.match(r.stdout, /^step 4: train loss/m);
  assert.match(r.stdout, /^done: 4 iterations/m);
  assert.doesNotMatch(r.stdout, /train gpt:|%/, 'no progress on stdout');
  assert.equal(run('b', { MOX_PROGRESS: '0', MOX_PROGRESS_INTERVAL: '0' }).stderr, '');
  assert.equal(run('c', { MOX_PROGRESS_INTERVAL: '0' }, ['--quiet']).stderr, '');
  fs.rmSync(dir, { recursive: true, force: true });
});
