// `mox finetune gpt` (issue 14): a base model from a mox checkpoint or a Hugging Face folder, text the
// base tokenizer cannot encode, --freeze, --lora with PEFT's files and `generate --adapter`, --resume
// of a fine-tuning run, and --grad-accum equal to one batch as large. Tiny models, a few iterations.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as mox from '../src/index.js';
import { moxOk, runMox, wordText } from '../test-support/cli.js';

const SHAPE = ['--n-layer', '2', '--n-head', '2', '--n-embd', '16', '--block-size', '16'];
const RUN = ['--batch-size', '2', '--eval-iters', '1', '--threads', '1'];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-finetune-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

// the base corpus: lower-case words; the fine-tuning text adds digits and an accent it never saw
const baseText = wordText();
const tuneText = Array.from({ length: 120 }, (_, i) => `a sunny day ${i % 10} at the café, the cat ran.\n`).join('');
const baseFile = path.join(tmp, 'base.txt');
const tuneFile = path.join(tmp, 'tune.txt');
fs.writeFileSync(baseFile, baseText);
fs.writeFileSync(tuneFile, tuneText);
const baseDir = path.join(tmp, 'base');

function weights(dir: string, file = 'model.safetensors'): Record<string, Float32Array> {
  const { tensors } = mox.loadSafetensorsSync(path.join(dir, file));
  const out: Record<string, Float32Array> = {};
  for (const [k, t] of Object.entries(tensors)) {
    out[k] = Float32Array.from(t.dataSync() as Float32Array);
    t.dispose();
  }
  return out;
}

test('setup: a tiny base model', () => {
  moxOk(['train', 'gpt', '--data', baseFile, '--out', baseDir, ...SHAPE, ...RUN, '--max-iters', '30', '--eval-interval', '30']);
  assert.ok(fs.existsSync(path.join(baseDir, 'model.safetensors')));
});

test('finetune gpt: characters the base cannot encode are an error naming them; --unknown drop / replace go on', () => {
  const out = path.join(tmp, 'refused');
  const r = runMox(['finetune', 'gpt', '--from', baseDir, '--data', tuneFile, '--out', out, ...RUN, '--max-iters', '2']);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /"é" \(U\+00E9\)/);
  assert.match(r.stderr, /"0" \(U\+0030\)/);
  assert.match(r.stderr, /--unknown drop/);
  const dropped = moxOk([
    'finetune',
    'gpt',
    '--from',
    baseDir,
    '--data',
    tuneFile,
    '--out',
    out,
    ...RUN,
    '--max-iters',
    '2',
    '--unknown',
    'drop',
  ]);
  assert.match(dropped, /dropped: \d+ distinct characters/);
  const bad = runMox(['finetune', 'gpt', '--from', baseDir, '--data', tuneFile, '--out', `${out}2`, ...RUN, '--unknown', 'replace:#']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /"#" \(U\+0023\) is not in the base model's vocabulary either/);
  moxOk([
    'finetune',
    'gpt',
    '--from',
    baseDir,
    '--data',
    tuneFile,
    '--out',
    `${out}3`,
    ...RUN,
    '--max-iters',
    '2',
    '--unknown',
    'replace: ',
  ]);
});

test('finetune gpt: full fine-tuning starts at the base (step 0 = its loss), --freeze keeps the named weights bit-identical', () => {
  const out = path.join(tmp, 'full');
  const log = moxOk([
    'finetune',
    'gpt',
    '--from',
    baseDir,
    '--data',
    tuneFile,
    '--out',
    out,
    ...RUN,
    '--unknown',
    'drop',
    '--max-iters',
    '6',
    '--eval-interval',
    '6',
    '--freeze',
    'transformer.h.0.*',
    '--freeze',
    'transformer.wte.*',
  ]);
  assert.match(log, /fine-tuning /);
  assert.match(log, /frozen: 13 parameters/);
  assert.match(log, /trainable params: [\d,]+ \|\| all params: [\d,]+ \|\| trainable%: /);
  const before = weights(baseDir);
  const after = weights(out);
  for (const [k, v] of Object.entries(before)) {
    const same = Buffer.from(v.buffer).equals(Buffer.from(after[k]!.buffer));
    if (k.startsWith('transformer.h.0.') || k === 'transformer.wte.weight') assert.ok(same, `${k} moved`);
    else if (k.endsWith('.weight') && !k.includes('ln')) assert.ok(!same, `${k} did not move`);
  }
  const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  assert.equal(cfg.finetune.from, path.resolve(baseDir));
  assert.deepEqual(cfg.finetune.freeze, ['transformer.h.0.*', 'transformer.wte.*']);
  assert.equal(cfg.gpt.nEmbd, 16);
  const gen = moxOk(['generate', '--model', out, '--prompt', 'the cat', '--max-new-tokens', '8']);
  assert.ok(gen.startsWith('the cat'));
  const badPattern = runMox(['finetune', 'gpt', '--from', baseDir, '--data', baseFile, '--out', `${out}-x`, '--freeze', 'nothing.*']);
  assert.equal(badPattern.code, 1);
  assert.match(badPattern.stderr, /nothing\.\*/);
});

test('finetune gpt --lora: only the adapters train and are saved, in PEFT layout; generate --adapter uses them; --resume is exact', () => {
  const args = (out: string, iters: string) => [
    'finetune',
    'gpt',
    '--from',
    baseDir,
    '--data',
    tuneFile,
    '--out',
    out,
    ...RUN,
    '--unknown',
    'drop',
    '--lora',
    'r=4,alpha=8,targets=c_attn,c_proj',
    '--max-iters',
    iters,
    '--lr-decay-iters',
    '8',
    '--eval-interval',
    '4',
  ];
  const whole = path.join(tmp, 'lora');
  const log = moxOk(args(whole, '8'));
  assert.match(log, /LoRA \(r 4, alpha 8\) on 6 layers/);
  assert.ok(!fs.existsSync(path.join(whole, 'model.safetensors')), 'a LoRA run saves no base weights');
  const cfg = JSON.parse(fs.readFileSync(path.join(whole, 'adapter_config.json'), 'utf8'));
  assert.equal(cfg.peft_type, 'LORA');
  assert.equal(cfg.r, 4);
  assert.equal(cfg.lora_alpha, 8);
  assert.equal(cfg.fan_in_fan_out, true);
  assert.deepEqual([...cfg.target_modules].sort(), ['c_attn', 'c_proj']);
  const a = weights(whole, 'adapter_model.safetensors');
  assert.deepEqual(Object.keys(a).sort(), [
    'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight',
    'base_model.model.transformer.h.0.attn.c_attn.lora_B.weight',
    'base_model.model.transformer.h.0.attn.c_proj.lora_A.weight',
    'base_model.model.transformer.h.0.attn.c_proj.lora_B.weight',
    'base_model.model.transformer.h.0.mlp.c_proj.lora_A.weight',
    'base_model.model.transformer.h.0.mlp.c_proj.lora_B.weight',
    'base_model.model.transformer.h.1.attn.c_attn.lora_A.weight',
    'base_model.model.transformer.h.1.attn.c_attn.lora_B.weight',
    'base_model.model.transformer.h.1.attn.c_proj.lora_A.weight',
    'base_model.model.transformer.h.1.attn.c_proj.lora_B.weight',
    'base_model.model.transformer.h.1.mlp.c_proj.lora_A.weight',
    'base_model.model.transformer.h.1.mlp.c_proj.lora_B.weight',
  ]);
  assert.ok(
    a['base_model.model.transformer.h.0.attn.c_attn.lora_B.weight']!.some((x) => x !== 0),
    'lora_B moved',
  );
  // the base is untouched, and generate reads the adapter both ways
  const viaAdapter = moxOk(['generate', '--model', baseDir, '--adapter', whole, '--prompt', 'the cat', '--max-new-tokens', '10', '--json']);
  const viaRunDir = moxOk(['generate', '--model', whole, '--prompt', 'the cat', '--max-new-tokens', '10', '--json']);
  const plain = moxOk(['generate', '--model', baseDir, '--prompt', 'the cat', '--max-new-tokens', '10', '--json']);
  assert.equal(viaAdapter, viaRunDir);
  assert.equal(typeof plain, 'string');
  // the adapter changes the model's logits (sampled tokens may coincide after 8 tiny steps)
  const ids = mox.tensor([[1, 2, 3, 4]], { dtype: 'int32' });
  const base = mox.models.loadGPT(baseDir).model.eval();
  const baseLogits = mox.noGrad(() => base.forward(ids).logits.dataSync());
  mox.lora.loadLoraAdapter(base, whole);
  const tuned = mox.noGrad(() => base.forward(ids).logits.dataSync());
  assert.ok(
    tuned.some((v, i) => Math.abs(v - baseLogits[i]!) > 1e-6),
    'the adapter leaves the logits unchanged',
  );
  // stopped at 4 and resumed to 8: the same adapters, byte for byte
  const split = path.join(tmp, 'lora-split');
  moxOk(args(split, '4'));
  const resumed = moxOk(['finetune', 'gpt', '--out', split, '--resume', '--max-iters', '8', '--lr-decay-iters', '8', '--threads', '1']);
  assert.match(resumed, /resuming from .* at step 4/);
  assert.ok(
    fs.readFileSync(path.join(split, 'adapter_model.safetensors')).equals(fs.readFileSync(path.join(whole, 'adapter_model.safetensors'))),
    'the resumed adapters differ from the uninterrupted run',
  );
  const twice = runMox(['finetune', 'gpt', '--out', split, '--resume', '--lora', 'r=2']);
  assert.equal(twice.code, 2);
  assert.match(twice.stderr, /--lora comes from the checkpoint/);
});

test('finetune gpt from a Hugging Face folder (mox export-hf of the base)', () => {
  const hf = path.join(tmp, 'hf');
  moxOk(['export-hf', '--model', baseDir, '--out', hf]);
  const out = path.join(tmp, 'from-hf');
  const log = moxOk([
    'finetune',
    'gpt',
    '--from',
    hf,
    '--data',
    baseFile,
    '--out',
    out,
    ...RUN,
    '--max-iters',
    '2',
    '--eval-interval',
    '2',
  ]);
  assert.match(log, /step 0: train loss/);
  // step 0 is the base itself: the same loss as the mox checkpoint it was exported from, on the same batches
  const same = moxOk([
    'finetune',
    'gpt',
    '--from',
    baseDir,
    '--data',
    baseFile,
    '--out',
    `${out}-mox`,
    ...RUN,
    '--max-iters',
    '2',
    '--eval-interval',
    '2',
  ]);
  // the losses, without the line's timing ("(eval 0.1 s)"), which differs from run to run
  const step0 = (s: string) =>
    s
      .split('\n')
      .find((l) => l.startsWith('step 0:'))
      ?.replace(/\s*\(eval [\d.]+ s\)/, '');
  assert.equal(step0(log), step0(same));
});

test('--grad-accum 2 with batches of 2 gives the steps of batches of 4', () => {
  const a = path.join(tmp, 'accum');
  const b = path.join(tmp, 'big');
  const common = ['train', 'gpt', '--data', baseFile, ...SHAPE, '--threads', '1', '--max-iters', '5', '--eval-interval', '5'];
  // the evaluation at step 0 draws evalIters batches of --batch-size windows: as many draws in both runs
  moxOk([...common, '--out', a, '--batch-size', '2', '--grad-accum', '2', '--eval-iters', '2']);
  moxOk([...common, '--out', b, '--batch-size', '4', '--eval-iters', '1']);
  const la = JSON.parse(fs.readFileSync(path.join(a, 'trainer_state.json'), 'utf8')).losses as number[];
  const lb = JSON.parse(fs.readFileSync(path.join(b, 'trainer_state.json'), 'utf8')).losses as number[];
  assert.equal(la.length, 5);
  for (let i = 0; i < 5; i++) assert.ok(Math.abs(la[i]! - lb[i]!) < 1e-5, `step ${i}: ${la[i]} vs ${lb[i]}`);
  const wa = weights(a);
  const wb = weights(b);
  for (const [k, v] of Object.entries(wa)) {
    const w = wb[k]!;
    for (let i = 0; i < v.length; i++) assert.ok(Math.abs(v[i]! - w[i]!) < 1e-5, `${k}[${i}]: ${v[i]} vs ${w[i]}`);
  }
});

test('example gpt-finetune-rt-polarity runs end to end on a tiny base (2 steps each)', (t) => {
  const dataDir = path.resolve(process.env['MOX_DATA_DIR'] ?? path.join('..', 'shared', 'data'));
  if (!fs.existsSync(path.join(dataDir, 'rt-polarity', 'rt-polarity.pos'))) {
    t.skip(`needs rt-polarity/rt-polarity.pos in ${dataDir} (MOX_DATA_DIR)`);
    return;
  }
  const r = spawnSync(
    process.execPath,
    [
      path.resolve('dist/examples/gpt-finetune-rt-polarity.js'),
      '--base',
      baseDir,
      '--iters',
      '2',
      '--data-dir',
      dataDir,
      '--threads',
      '1',
      '--prompt',
      'the cat ',
      '--run-dir',
      path.join(tmp, 'runs'),
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  const line = r.stdout.trim().split('\n').at(-1)!;
  assert.ok(line.startsWith('RESULT '), line);
  const res = JSON.parse(line.slice('RESULT '.length));
  for (const k of ['base_val_loss', 'full_val_loss', 'lora_val_loss', 'lora_recovery', 'lora_trainable_percent'])
    assert.equal(typeof res[k], 'number', k);
  for (const k of ['base_val_loss', 'full_val_loss', 'lora_val_loss']) assert.ok(Number.isFinite(res[k]) && res[k] > 0, k);
  assert.ok(res.lora_trainable > 0 && res.lora_trainable < res.total_params);
  assert.deepEqual(Object.keys(res.samples), ['base', 'full', 'lora']);
});
