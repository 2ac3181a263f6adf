// What a new user hit in `mox train gpt` and around it (issue 11): the length of a resumed run, a
// checkpoint folder never replaced without --overwrite, one-line errors, text that is not UTF-8, a data
// path that works from any directory, downloads of named data, and a char-level model exported to a
// Hugging Face folder that generate reads. Tiny models, a few iterations each.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { firstInvalidUtf8 } from '../src/cli/commands/text-input.js';

const MAIN = path.resolve(process.cwd(), 'dist/src/cli/main.js');
const DATA_DIR = path.resolve(process.env['MOX_DATA_DIR'] ?? path.join('..', 'shared', 'data'));
const TINY = [
  '--n-layer',
  '1',
  '--n-head',
  '2',
  '--n-embd',
  '16',
  '--block-size',
  '16',
  '--batch-size',
  '2',
  '--eval-iters',
  '1',
  '--threads',
  '1',
];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function mox(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Run {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    cwd: opts.cwd,
    env: opts.env ?? process.env,
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** As mox(), without blocking this process (so a server in it can answer the child). */
function moxAsync(args: string[], env: NodeJS.ProcessEnv, input = ''): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

function noStack(text: string): void {
  assert.doesNotMatch(text, /^\s+at /m, `a stack trace:\n${text}`);
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'mox-cli-train-'));
}

function corpus(): string {
  const lines = [
    'First Citizen:',
    'Before we proceed any further, hear me speak.',
    'All:',
    'Speak, speak.',
    'You are all resolved rather to die than to famish?',
  ];
  return Array.from({ length: 40 }, (_, i) => lines[i % lines.length]).join('\n') + '\n';
}

const readJson = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const stepsOf = (dir: string) => (readJson(path.join(dir, 'trainer_state.json'))['history'] as { step: number }[]).map((h) => h.step);

/** An environment where named data is nowhere and nothing is downloaded. */
function offlineEnv(dir: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    MOX_DATA_DIR: path.join(dir, 'no-data'),
    XDG_CACHE_HOME: path.join(dir, 'no-cache'),
    MOX_DATA_OFFLINE: '1',
    MOX_DATA_MIRROR: '',
  };
}

test('train gpt --resume: the run keeps its own length, a larger --max-iters extends it, one not beyond the step is an error', () => {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'text.txt'), corpus());
  const run = path.join(dir, 'run');
  // the data named relative to the working directory; the resumes below run from elsewhere
  // a run of 6 killed (kill -9) after step 4, its checkpoint at step 3: resuming without --max-iters goes to 6, not 2000
  const first = mox(['train', 'gpt', '--data', 'text.txt', '--out', run, ...TINY, '--max-iters', '6', '--eval-interval', '3'], {
    cwd: dir,
    env: { ...process.env, MOX_TEST_CRASH_AT: 'step:5' },
  });
  assert.equal(first.code, null, first.stderr);
  const config = readJson(path.join(run, 'config.json'));
  assert.equal(config['train']['data']['data'], path.join(dir, 'text.txt'), 'the data path is stored absolute');
  assert.deepEqual(stepsOf(run), [0, 3]);
  const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-cli-elsewhere-'));
  const resumed = mox(['train', 'gpt', '--out', run, '--resume', '--threads', '1'], { cwd: elsewhere });
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /6 iterations/);
  assert.deepEqual(stepsOf(run), [0, 3, 6]);

  // extend to 9 with a new cosine schedule
  const extended = mox(['train', 'gpt', '--out', run, '--resume', '--max-iters', '9', '--lr-decay-iters', '9', '--threads', '1'], {
    cwd: elsewhere,
  });
  assert.equal(extended.code, 0, extended.stderr);
  assert.deepEqual(stepsOf(run), [0, 3, 6, 9]);
  assert.equal(readJson(path.join(run, 'config.json'))['train']['lrDecayIters'], 9);
  assert.equal(readJson(path.join(run, 'config.json'))['train']['maxIters'], 9);

  const before = fs.readFileSync(path.join(run, 'model.safetensors'));
  for (const [args, re] of [
    [['--max-iters', '9'], /--max-iters 9 is not beyond the checkpoint's step 9; give --max-iters N \(N > 9\)/],
    [['--max-iters', '4'], /--max-iters 4 is not beyond the checkpoint's step 9/],
    [[], /the run is complete \(step 9 of 9\); give --max-iters N \(N > 9\) to extend it/],
  ] as [string[], RegExp][]) {
    const r = mox(['train', 'gpt', '--out', run, '--resume', '--threads', '1', ...args], { cwd: elsewhere });
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
  assert.deepEqual(fs.readFileSync(path.join(run, 'model.safetensors')), before, 'a refused resume leaves the checkpoint as it was');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(elsewhere, { recursive: true, force: true });
});

test('train gpt into a folder holding a checkpoint: refused without --resume (exit 2), replaced with --overwrite', () => {
  const dir = tmpDir();
  const data = path.join(dir, 'text.txt');
  fs.writeFileSync(data, corpus());
  const run = path.join(dir, 'run');
  const base = ['train', 'gpt', '--data', data, '--out', run, ...TINY];
  const args = [...base, '--max-iters', '2', '--eval-interval', '2'];
  assert.equal(mox(args).code, 0);
  const before = fs.readFileSync(path.join(run, 'model.safetensors'));
  const refused = mox(args);
  assert.equal(refused.code, 2);
  assert.equal(
    refused.stderr,
    `mox: train gpt: ${run} already holds a checkpoint (trainer_state.json, checkpoints, config.json, model.safetensors, optimizer.safetensors, tokenizer.json); ` +
      "pass --resume to continue it, or --overwrite to start a new run that replaces it\nrun 'mox train --help' for usage\n",
  );
  assert.deepEqual(fs.readFileSync(path.join(run, 'model.safetensors')), before, 'the checkpoint is untouched');

  // --overwrite: a new run, and no file of the old one left (here a stale GPT-2 vocabulary)
  fs.writeFileSync(path.join(run, 'encoder.json'), '{}');
  const over = mox([...base, '--max-iters', '4', '--eval-interval', '4', '--overwrite']);
  assert.equal(over.code, 0, over.stderr);
  assert.deepEqual(stepsOf(run), [0, 4]);
  assert.ok(!fs.existsSync(path.join(run, 'encoder.json')), '--overwrite removes the old checkpoint files');
  assert.equal(mox([...args, '--resume', '--overwrite']).code, 2);

  // --out naming a file, or a folder under a file: one line, exit 1, the stack only with MOX_DEBUG=1
  const file = path.join(dir, 'file.txt');
  fs.writeFileSync(file, 'x');
  const onFile = mox(['train', 'gpt', '--data', data, '--out', file, ...TINY]);
  assert.equal(onFile.code, 1);
  assert.equal(onFile.stderr, `mox: train gpt: --out ${file} exists and is not a folder\n`);
  const under = mox(['train', 'gpt', '--data', data, '--out', path.join(file, 'run'), ...TINY, '--max-iters', '1']);
  assert.equal(under.code, 1);
  assert.equal(under.stderr.trim().split('\n').length, 1, under.stderr);
  assert.match(under.stderr, /^mox: .*ENOTDIR.*\(MOX_DEBUG=1 shows where\)$/m);
  noStack(under.stderr);
  const debug = mox(['train', 'gpt', '--data', data, '--out', path.join(file, 'run'), ...TINY, '--max-iters', '1'], {
    env: { ...process.env, MOX_DEBUG: '1' },
  });
  assert.equal(debug.code, 1);
  assert.match(debug.stderr, /^\s+at /m);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('firstInvalidUtf8 agrees with a fatal TextDecoder on random and edge-case bytes', () => {
  const cases: number[][] = [
    [0x61],
    [0xc3, 0xa9],
    [0xe9],
    [0xc0, 0x80],
    [0xed, 0xa0, 0x80],
    [0xf4, 0x90, 0x80, 0x80],
    [0xe2, 0x82],
    [0xf0, 0x9f, 0x98, 0x80],
    [0xef, 0xbb, 0xbf, 0x41],
    [0x41, 0xe2, 0x82, 0xac, 0x80],
  ];
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (let i = 0; i < 3000; i++) {
    // mostly valid UTF-8 with a few random bytes mixed in
    const s = Array.from({ length: 1 + Math.floor(rand() * 6) }, () =>
      String.fromCodePoint(Math.floor(rand() ** 3 * 0x10ffff) & ~0x800),
    ).join('');
    const b = [...Buffer.from(s, 'utf8')];
    if (rand() < 0.5) b.splice(Math.floor(rand() * (b.length + 1)), 0, Math.floor(rand() * 256));
    cases.push(b);
  }
  for (const c of cases) {
    const bytes = Uint8Array.from(c);
    let valid = true;
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      valid = false;
    }
    const bad = firstInvalidUtf8(bytes);
    assert.equal(bad === -1, valid, `bytes ${c.map((x) => x.toString(16)).join(' ')}: first invalid ${bad}`);
    if (bad >= 0) {
      // everything before the offset decodes
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, bad));
    }
  }
});

test('train gpt refuses data that is not UTF-8 (a binary, latin1 text) and reads it with --encoding', () => {
  const dir = tmpDir();
  const bin = path.join(dir, 'program');
  const elf = Buffer.alloc(4096);
  elf.set([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00]);
  for (let i = 64; i < elf.length; i++) elf[i] = (i * 131) & 0xff;
  fs.writeFileSync(bin, elf);
  const out = path.join(dir, 'run');
  const r = mox(['train', 'gpt', '--data', bin, '--out', out, ...TINY, '--max-iters', '1']);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /^mox: train gpt: .*program is not UTF-8 text: the bytes at offset \d+ \([0-9a-f ]+\) are not valid UTF-8; with its NUL bytes it looks like a binary file; if it is text in another encoding, give --encoding/,
  );
  assert.ok(!fs.existsSync(out), 'nothing written');

  const latin1 = path.join(dir, 'latin1.txt');
  fs.writeFileSync(latin1, Buffer.from(corpus().replace(/speak/g, 'café'), 'latin1'));
  const refused = mox(['train', 'gpt', '--data', latin1, '--out', out, ...TINY, '--max-iters', '1']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /latin1\.txt is not UTF-8 text: the bytes at offset \d+ \(e9 /);
  const read = mox(['train', 'gpt', '--data', latin1, '--encoding', 'latin1', '--out', out, ...TINY, '--max-iters', '1']);
  assert.equal(read.code, 0, read.stderr);
  assert.ok((readJson(path.join(out, 'tokenizer.json'))['chars'] as string[]).includes('é'));
  assert.equal(readJson(path.join(out, 'config.json'))['train']['data']['encoding'], 'windows-1252', 'latin1 is WHATWG windows-1252');
  // the resume reads the same file with the same encoding
  const resumed = mox(['train', 'gpt', '--out', out, '--resume', '--max-iters', '2', '--threads', '1']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(mox(['train', 'gpt', '--data', latin1, '--encoding', 'klingon', '--out', path.join(dir, 'o2'), ...TINY]).code, 2);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('train gpt --dataset tinyshakespeare offline: the error says where it looked and why nothing was downloaded', () => {
  const dir = tmpDir();
  const r = mox(['train', 'gpt', '--dataset', 'tinyshakespeare', '--out', path.join(dir, 'o'), ...TINY], { env: offlineEnv(dir) });
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    `mox: train gpt: tinyshakespeare: input.txt not found in MOX_DATA_DIR (${path.join(dir, 'no-data', 'tinyshakespeare')}) or ` +
      `${path.join(dir, 'no-cache', 'mox', 'tinyshakespeare')}, and downloading is off: put the files in one of those folders, or use --data FILE\n`,
  );
  fs.rmSync(dir, { recursive: true, force: true });
});

const SHAKESPEARE = path.join(DATA_DIR, 'tinyshakespeare', 'input.txt');
const GPT2_FILES = ['encoder.json', 'vocab.bpe'].map((f) => path.join(DATA_DIR, 'gpt2-bpe', f));
const missingDownloads = [SHAKESPEARE, ...GPT2_FILES].filter((f) => !fs.existsSync(f));

test("named data downloads into the cache, sha256-checked (tinyshakespeare for train gpt, GPT-2's BPE for tokenize)", {
  skip: missingDownloads.length ? `missing ${missingDownloads.join(', ')}` : false,
}, async () => {
  // a loopback server stands in for the canonical URLs (MOX_DATA_MIRROR), serving the real files, so the known sha256 hold
  const served = new Map([
    ['/input.txt', SHAKESPEARE],
    ['/encoder.json', GPT2_FILES[0]!],
    ['/vocab.bpe', GPT2_FILES[1]!],
  ]);
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url!);
    const file = served.get(req.url!);
    if (!file) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200);
    res.end(fs.readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const dir = tmpDir();
  try {
    const env = { ...offlineEnv(dir), MOX_DATA_OFFLINE: '', MOX_DATA_MIRROR: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
    const cache = path.join(dir, 'no-cache', 'mox');
    const r = await moxAsync(
      ['train', 'gpt', '--dataset', 'tinyshakespeare', '--out', path.join(dir, 'run'), ...TINY, '--max-iters', '1'],
      env,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /downloading http:\/\/127\.0\.0\.1:\d+\/input\.txt/);
    assert.match(r.stdout, /1115394 tokens/);
    assert.deepEqual(fs.readFileSync(path.join(cache, 'tinyshakespeare', 'input.txt')), fs.readFileSync(SHAKESPEARE));
    const t = await moxAsync(['tokenize', '--tokenizer', 'gpt2'], env, 'Hello world');
    assert.equal(t.code, 0, t.stderr);
    assert.equal(t.stdout, '[15496,995]\n'); // GPT-2's ids for 'Hello', ' world'
    assert.deepEqual(fs.readdirSync(path.join(cache, 'gpt2-bpe')).sort(), ['encoder.json', 'vocab.bpe']);
    assert.deepEqual(requests, ['/input.txt', '/encoder.json', '/vocab.bpe']);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('export-hf of a char-level model writes its tokenizer, and generate --prompt reads the export', () => {
  const dir = tmpDir();
  const data = path.join(dir, 'text.txt');
  fs.writeFileSync(data, corpus());
  const run = path.join(dir, 'run');
  assert.equal(mox(['train', 'gpt', '--data', data, '--out', run, ...TINY, '--max-iters', '2', '--eval-interval', '2']).code, 0);
  const hf = path.join(dir, 'hf');
  const e = mox(['export-hf', '--model', run, '--out', hf]);
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stdout, /tokenizer\.json \(character level\)/);
  const tj = readJson(path.join(hf, 'tokenizer.json'));
  assert.equal(tj['model']['type'], 'WordLevel');
  const chars = readJson(path.join(run, 'tokenizer.json'))['chars'] as string[];
  assert.deepEqual(
    Object.entries(tj['model']['vocab'] as Record<string, number>)
      .sort((a, b) => a[1] - b[1])
      .map(([c]) => c),
    chars,
  );
  const args = ['--prompt', 'First', '--max-new-tokens', '12', '--temperature', '0'];
  const fromExport = mox(['generate', '--model', hf, ...args]);
  const fromRun = mox(['generate', '--model', run, ...args]);
  assert.equal(fromExport.code, 0, fromExport.stderr);
  assert.ok(fromExport.stdout.startsWith('First'));
  assert.equal(fromExport.stdout, fromRun.stdout, 'the export generates the same text as the checkpoint');
  fs.rmSync(dir, { recursive: true, force: true });
});
