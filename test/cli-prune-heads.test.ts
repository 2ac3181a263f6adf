// `mox prune-heads`: a tiny GPT trained by `mox train gpt` loses half its attention heads (scored on the
// text, and by the weight norms), and the pruned folder works with `mox generate`, `mox finetune gpt`,
// `mox compress-report` and `mox export-hf`; a Hugging Face folder is pruned into a Hugging Face folder;
// bad input fails with one clear line.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadGPT } from '../src/models/gpt-checkpoint.js';
import type { CompressReport } from '../src/cli/commands/compress-report.js';
import { moxOk, runMox, wordText } from '../test-support/cli.js';

const RUN = ['--batch-size', '2', '--eval-iters', '1', '--threads', '1', '--max-iters', '10', '--eval-interval', '10'];

function fails(args: string[], code: number, pattern: RegExp): void {
  const r = runMox(args);
  assert.equal(r.code, code, `mox ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, code === 2 ? 2 : 1, r.stderr);
  assert.match(lines[0]!, pattern);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-prune-heads-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const textFile = path.join(tmp, 'text.txt');
fs.writeFileSync(textFile, wordText());
const base = path.join(tmp, 'base');
const pruned = path.join(tmp, 'pruned');
const cfgOf = (dir: string) =>
  JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, Record<string, unknown>>;

test('setup: a tiny GPT of 2 layers x 4 heads', () => {
  moxOk([
    'train',
    'gpt',
    '--data',
    textFile,
    '--out',
    base,
    '--n-layer',
    '2',
    '--n-head',
    '4',
    '--n-embd',
    '16',
    '--block-size',
    '16',
    ...RUN,
  ]);
});

test('prune-heads --amount with a text: scored by the loss, written as a mox checkpoint that the other commands take', () => {
  const out = moxOk([
    'prune-heads',
    '--model',
    base,
    '--out',
    pruned,
    '--amount',
    '0.5',
    '--data',
    textFile,
    '--batches',
    '2',
    '--threads',
    '1',
  ]);
  assert.match(out, /scored the heads by the loss increase of removing each alone: 2 batches of 12 x 16/);
  assert.match(out, /removed 4 of 8 attention heads .*; 4 remain, parameters [\d,]+ -> [\d,]+/);
  const cfg = cfgOf(pruned);
  const heads = cfg['gpt']!['prunedHeads'] as Record<string, number[]>;
  assert.equal(Object.values(heads).flat().length, 4);
  assert.deepEqual(cfg['prune']!['heads'], heads);
  assert.equal(cfg['train'], undefined);
  assert.ok(fs.existsSync(path.join(pruned, 'tokenizer.json')));
  const { model } = loadGPT(pruned);
  assert.equal(
    model.transformer.h.reduce((n, b) => n + b.attn.nHead, 0),
    4,
  );
  assert.ok(model.transformer.h.every((b) => b.attn.nHead >= 1));

  assert.match(moxOk(['generate', '--model', pruned, '--prompt', 'the ', '--max-new-tokens', '12', '--seed', '1']), /^the /);
  const r = JSON.parse(
    moxOk([
      'compress-report',
      '--model',
      base,
      '--compressed',
      pruned,
      '--data',
      textFile,
      '--eval-iters',
      '2',
      '--tokens',
      '4',
      '--threads',
      '1',
      '--json',
    ]),
  ) as CompressReport;
  assert.equal(r.original.attentionHeads, 8);
  assert.equal(r.compressed.attentionHeads, 4);
  assert.ok(r.compressed.params < r.original.params);

  const ft = path.join(tmp, 'ft');
  moxOk([
    'finetune',
    'gpt',
    '--from',
    pruned,
    '--data',
    textFile,
    '--out',
    ft,
    ...RUN.slice(0, 6),
    '--max-iters',
    '2',
    '--eval-interval',
    '2',
  ]);
  assert.deepEqual(cfgOf(ft)['gpt']!['prunedHeads'], heads);
  assert.equal(
    loadGPT(ft).model.transformer.h.reduce((n, b) => n + b.attn.nHead, 0),
    4,
  );

  const hf = path.join(tmp, 'hf');
  moxOk(['export-hf', '--model', pruned, '--out', hf]);
  assert.deepEqual(cfgOf(hf)['pruned_heads'], heads);
});

test('prune-heads without a text (weight norms, per layer) and on a Hugging Face folder', () => {
  const out = path.join(tmp, 'norm');
  const log = moxOk(['prune-heads', '--model', base, '--out', out, '--count', '1']);
  assert.match(log, /scored the heads by \|\|W_V,h\|\| \* \|\|W_O,h\|\|/);
  assert.deepEqual(
    loadGPT(out).model.transformer.h.map((b) => b.attn.nHead),
    [3, 3],
  );
  const hf = path.join(tmp, 'hf-base');
  moxOk(['export-hf', '--model', base, '--out', hf]);
  const hf2 = path.join(tmp, 'hf-pruned');
  assert.match(
    moxOk(['prune-heads', '--model', hf, '--out', hf2, '--heads', '{"1": [0, 3]}']),
    /a Hugging Face GPT-2 folder, pruned_heads \{"1":\[0,3\]\}/,
  );
  assert.deepEqual(cfgOf(hf2)['pruned_heads'], { '1': [0, 3] });
  assert.ok(fs.existsSync(path.join(hf2, 'tokenizer.json')));
  moxOk(['generate', '--model', hf2, '--prompt', 'the ', '--max-new-tokens', '4']);
});

test('prune-heads errors', () => {
  fails(['prune-heads', '--model', base, '--out', path.join(tmp, 'x')], 2, /give one of --amount, --count or --heads/);
  fails(['prune-heads', '--model', base, '--out', path.join(tmp, 'x'), '--amount', '0.5', '--count', '1'], 2, /got --amount, --count/);
  fails(['prune-heads', '--model', base, '--out', path.join(tmp, 'x'), '--heads', '[1]'], 2, /--heads must map layers to lists of heads/);
  fails(
    ['prune-heads', '--model', base, '--out', path.join(tmp, 'x'), '--heads', '{"0":[1]}', '--per-layer'],
    2,
    /--per-layer goes with --amount or --count/,
  );
  fails(['prune-heads', '--model', base, '--out', path.join(tmp, 'x'), '--amount', '1.5'], 2, /--amount must be a fraction in \[0, 1\]/);
  fails(['prune-heads', '--model', base, '--out', base, '--amount', '0.5'], 1, /--out must be another folder than --model/);
  fails(['prune-heads', '--model', base, '--out', pruned, '--amount', '0.5'], 1, /already holds a model .*--overwrite/);
  fails(
    ['prune-heads', '--model', base, '--out', path.join(tmp, 'x'), '--heads', '{"0":[4]}'],
    1,
    /head 4 is out of range: the layer has heads 0\.\.3/,
  );
  fails(['prune-heads', '--model', base, '--out', path.join(tmp, 'x'), '--heads', '{"5":[0]}'], 1, /layer 5 is out of range/);
  fails(
    ['prune-heads', '--model', base, '--out', path.join(tmp, 'x'), '--heads', '{"0":[0,1,2,3]}'],
    1,
    /cannot remove all 4 heads of a layer/,
  );
  fails(
    ['prune-heads', '--model', base, '--out', path.join(tmp, 'x'), '--amount', '1', '--global'],
    1,
    /each of the 2 layers keeps at least one/,
  );
  assert.ok(!fs.existsSync(path.join(tmp, 'x', 'model.safetensors')));
});
