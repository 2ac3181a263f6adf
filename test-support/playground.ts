// What the playground tests share: a tiny GPT checkpoint folder written in-process (as `mox train gpt`
// lays one out: config.json, model.safetensors, tokenizer.json), and the real `mox playground` server
// started as a child process on a free port.

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as mox from '../src/index.js';
import { saveGPTWeights } from '../src/models/gpt-checkpoint.js';
import { MAIN, wordText } from './cli.js';

/** Writes a small GPT (random weights) with a character tokenizer of wordText() into dir. */
export async function writeTinyGPT(dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const tok = mox.text.CharTokenizer.fromCorpus(wordText(2000));
  const gpt = { vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 32 };
  mox.seed(7);
  const model = new mox.models.GPT(gpt);
  await saveGPTWeights(dir, model);
  tok.save(dir);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ gpt }));
}

/** A running `mox playground`. */
export interface RunningPlayground {
  /** http://127.0.0.1:PORT (no trailing slash). */
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `mox playground ARGS --port 0 --quiet` and resolves once it prints its address. */
export function startPlayground(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<RunningPlayground> {
  const proc = spawn(process.execPath, [MAIN, 'playground', ...args, '--port', '0', '--quiet'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mox playground did not start in 60 s: ${err}`)), 60_000);
    proc.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      const m = /mox playground: (http:\/\/[^\s/]+)\//.exec(err);
      if (m) {
        clearTimeout(timer);
        const exited = new Promise<void>((r) => proc.once('exit', () => r()));
        resolve({
          url: m[1]!,
          proc,
          stop: async () => {
            if (proc.exitCode === null) proc.kill('SIGTERM');
            await exited;
          },
        });
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`mox playground exited with ${code}: ${err}`));
    });
  });
}

/** The folder holding MNIST's IDX files for the tests, or null. */
export function mnistDir(): string | null {
  const dir = path.join(process.env['MOX_DATA_DIR'] ?? path.resolve(process.cwd(), '..', 'shared', 'data'), 'mnist');
  return fs.existsSync(path.join(dir, 'train-images-idx3-ubyte.gz')) || fs.existsSync(path.join(dir, 'train-images-idx3-ubyte'))
    ? dir
    : null;
}
