// The `mox` command, run as a user runs it: a child process on the built dist/src/cli/main.js.
// Exit codes: 0 ok, 1 the command failed (message, no stack), 2 usage error.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseSafetensors } from '../src/io/safetensors.js';

const MAIN = path.resolve(process.cwd(), 'dist/src/cli/main.js');
const GOLDEN = process.env['MOX_GOLDEN_DIR'] ?? path.resolve(process.cwd(), '../shared/golden');
const pkg = JSON.parse(fs.readFileSync(path.resolve(process.cwd(), 'package.json'), 'utf8')) as { version: string };

function mox(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function noStack(text: string): void {
  assert.doesNotMatch(text, /^\s+at .+\(.*:\d+:\d+\)$/m, `output has a stack trace:\n${text}`);
}

function tempFile(name: string, bytes: Uint8Array): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-cli-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return file;
}

test('the built CLI is executable and starts with a shebang', () => {
  assert.ok(fs.readFileSync(MAIN, 'utf8').startsWith('#!/usr/bin/env node\n'));
  if (process.platform !== 'win32') assert.ok((fs.statSync(MAIN).mode & 0o111) !== 0, 'main.js is not executable');
});

test('--help prints usage listing every command', () => {
  for (const flag of ['--help', '-h']) {
    const r = mox(flag);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^usage: mox <command>/);
    for (const cmd of ['info', 'inspect', 'demo']) assert.match(r.stdout, new RegExp(`^  ${cmd}\\b`, 'm'));
  }
  const r = mox('demo', '--help');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /usage: mox demo \[--steps N\] \[--seed S\]/);
});

test('--version prints the package version', () => {
  for (const flag of ['--version', '-V']) {
    const r = mox(flag);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), pkg.version);
  }
});

test('info shows version, node, device and memory', () => {
  const r = mox('info');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^mox ${pkg.version.replace(/\./g, '\\.')}$`, 'm'));
  assert.match(r.stdout, new RegExp(`^node ${process.versions.node.replace(/\./g, '\\.')}`, 'm'));
  assert.match(r.stdout, /^device: cpu, kernels: \w+/m);
  assert.match(r.stdout, /^live memory: \d+ tensors, \d+ storages, \d+ bytes$/m);
});

test('inspect lists the metadata and every tensor of a golden file', () => {
  const file = path.join(GOLDEN, 'conv2d_0.safetensors');
  const { metadata, entries } = parseSafetensors(fs.readFileSync(file));
  const r = mox('inspect', file);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`${entries.size} tensors`));
  assert.match(r.stdout, /^\s+name\s+dtype\s+shape\s+bytes$/m);
  for (const [key, value] of Object.entries(metadata)) {
    assert.ok(r.stdout.includes(`${key}`) && r.stdout.includes(value), `metadata ${key} missing`);
  }
  let total = 0;
  for (const [name, e] of entries) {
    const row = new RegExp(`^\\s+${name.replace(/\./g, '\\.')}\\s+${e.dtype}\\s+\\[${e.shape.join(', ')}\\]\\s+${e.data.length}$`, 'm');
    assert.match(r.stdout, row, `no row for ${name}`);
    total += e.data.length;
  }
  assert.match(r.stdout, new RegExp(`total: ${total} bytes`));

  const v = mox('inspect', file, '--values');
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^out \(F32\):\ntensor\(/m);
});

test('inspect on malformed files: the SafetensorsError message, exit 1, no stack', () => {
  const huge = new Uint8Array(64);
  new DataView(huge.buffer).setBigUint64(0, 9_000_000_000_000_000n, true);
  const text = new TextEncoder().encode('{"a": nope}     ');
  const notJson = new Uint8Array(8 + text.length);
  new DataView(notJson.buffer).setBigUint64(0, BigInt(text.length), true);
  notJson.set(text, 8);
  const cases: [string, Uint8Array, RegExp][] = [
    ['huge.safetensors', huge, /header length 9000000000000000 exceeds file size 64/],
    ['notjson.safetensors', notJson, /header is not valid JSON/],
    ['short.safetensors', new Uint8Array(3), /too short/],
  ];
  for (const [name, bytes, re] of cases) {
    const file = tempFile(name, bytes);
    const r = mox('inspect', file);
    assert.equal(r.code, 1, `${name}: exit ${r.code}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^mox: safetensors: /);
    assert.ok(r.stderr.includes(file), `${name}: message does not name the file`);
    assert.match(r.stderr, re);
    noStack(r.stderr);
    fs.rmSync(path.dirname(file), { recursive: true });
  }
  const missing = mox('inspect', path.join(os.tmpdir(), 'mox-no-such-file.safetensors'));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^mox: safetensors: cannot read .*ENOENT/);
  noStack(missing.stderr);
});

test('demo with a few steps prints the loss, the accuracy and flat memory; same seed, same run', () => {
  const r = mox('demo', '--steps', '20', '--seed', '3');
  assert.equal(r.code, 0, r.stderr);
  const losses = [...r.stdout.matchAll(/^step\s+(\d+)\s+loss (\d+\.\d+)\s+live tensors (\d+)$/gm)];
  assert.ok(losses.length >= 10, `expected ~10 loss lines, got ${losses.length}:\n${r.stdout}`);
  assert.equal(losses.at(-1)![1], '20');
  assert.equal(new Set(losses.map((m) => m[3])).size, 1, 'live tensor count changed during training');
  assert.match(r.stdout, /^train accuracy: \d+\.\d%$/m);
  assert.match(r.stdout, /^live after training: .*\(flat\)$/m);
  const again = mox('demo', '--steps', '20', '--seed', '3');
  const strip = (s: string) => s.replace(/^time: .*$/m, '');
  assert.equal(strip(again.stdout), strip(r.stdout));
});

test('demo with the default steps learns the spirals (> 95% train accuracy)', () => {
  const r = mox('demo');
  assert.equal(r.code, 0, r.stderr);
  const acc = Number(/^train accuracy: (\d+\.\d)%$/m.exec(r.stdout)?.[1]);
  assert.ok(acc > 95, `train accuracy ${acc}%:\n${r.stdout}`);
  const losses = [...r.stdout.matchAll(/loss (\d+\.\d+)/g)].map((m) => Number(m[1]));
  assert.ok(losses.at(-1)! < losses[0]! / 4, `loss did not fall: ${losses.join(', ')}`);
});

test('usage errors: the message and one line pointing to --help on stderr (not the whole usage), exit 2', () => {
  const cases: [string[], string][] = [
    [['frobnicate'], "mox: unknown command 'frobnicate'\nrun 'mox --help' for usage\n"],
    [['--frobnicate'], "mox: Unknown option '--frobnicate'\nrun 'mox --help' for usage\n"],
    [[], "mox: missing command\nrun 'mox --help' for usage\n"],
    [['demo', '--steps', 'many'], "mox: --steps must be an integer >= 1, got 'many'\nrun 'mox demo --help' for usage\n"],
    [['demo', '--lr', '1'], "mox: Unknown option '--lr'\nrun 'mox demo --help' for usage\n"],
    [['inspect'], "mox: inspect: missing FILE.safetensors\nrun 'mox inspect --help' for usage\n"],
    [['info', 'extra'], "mox: info: unexpected argument 'extra'\nrun 'mox info --help' for usage\n"],
    [
      ['train', 'gpt', '--lr', 'fast', '--data', 'x', '--out', 'y'],
      "mox: --lr must be a positive number, got 'fast'\nrun 'mox train --help' for usage\n",
    ],
  ];
  for (const [args, want] of cases) {
    const r = mox(...args);
    assert.equal(r.code, 2, `mox ${args.join(' ')}: exit ${r.code}`);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, want);
  }
});
