// Running the built `mox` command from a test: its exit code and output, the same call that must
// succeed, and a small text of a few words that tiny GPTs learn in seconds.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

export const MAIN = path.resolve(process.cwd(), 'dist/src/cli/main.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `mox ARGS` (dist/src/cli/main.js) to the end. */
export function runMox(args: string[]): CliRun {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `mox ARGS`, which must exit 0; its stdout. */
export function moxOk(args: string[]): string {
  const r = runMox(args);
  assert.equal(r.code, 0, `mox ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** About `length` characters of lower-case words (20 distinct characters), sentences on lines. */
export function wordText(length = 6000): string {
  const words = 'the cat sat on a mat and the dog ran to the sun while a bird sang in the tree'.split(' ');
  let text = '';
  for (let i = 0; text.length < length; i++) text += `${words[(i * 7) % words.length]}${i % 9 === 8 ? '.\n' : ' '}`;
  return text;
}
