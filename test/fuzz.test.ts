// The file readers under hostile input: a slice of the seeded fuzzer (`npm run fuzz` runs 100,000
// inputs per reader), then one regression test for each fault the fuzzer found, built by hand so it
// does not depend on the mutation engine.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataError, type MoxError, SafetensorsError } from '../src/errors.js';
import { loadSafetensorsSync } from '../src/io/safetensors-tensors.js';
import { GPT2Tokenizer } from '../src/text/gpt2.js';
import { loadTokenizerDir } from '../src/text/load-tokenizer.js';
import { GPT } from '../src/models/gpt.js';
import { loadGPT, saveGPTWeights } from '../src/models/gpt-checkpoint.js';
import { exportHuggingFaceGPT2 } from '../src/models/hf-gpt2.js';
import { LSTMLanguageModel } from '../src/models/lstm-lm.js';
import { loadLSTM, saveLSTM } from '../src/models/lstm-checkpoint.js';
import { readTrainerState } from '../src/cli/commands/trainer-state.js';
import { fuzzReader, TARGETS } from '../test-support/fuzz/runner.js';

const SLICE = 250; // inputs per reader: 12 readers, 3,000 inputs, ~10 s on 2 cores

for (const target of TARGETS) {
  test(`fuzz ${target.name}: ${SLICE} hostile inputs end in success or a MoxError naming the file`, async () => {
    const s = await fuzzReader(target, { iterations: SLICE, seed: 13 });
    assert.equal(s.inputs, SLICE);
    assert.equal(s.successes + s.typedErrors + s.findings.filter((f) => f.kind === 'exception' || f.kind === 'unnamed-file').length, SLICE);
    // timing and heap growth are reported by the script, not asserted here (a loaded machine would fail them)
    const faults = s.findings.filter((f) => f.kind === 'exception' || f.kind === 'unnamed-file');
    assert.deepEqual(
      faults.map((f) => `input ${f.index}: ${f.kind}: ${f.message.split('\n')[0]}`),
      [],
      `replay with: node scripts/fuzz.mjs --reader ${target.name} --seed 13 --input I`,
    );
    assert.ok(s.successes > 0, 'some inputs are valid (the seeds are read)');
    assert.ok(s.typedErrors > 0, 'some inputs are refused');
  });
}

// ---- regressions ----------------------------------------------------------------------------------

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'mox-fuzz-reg-'));
}

/** Asserts fn throws a MoxError (of `cls`) whose message names `file` and matches `re`. */
function throwsNaming(fn: () => unknown, cls: typeof MoxError, file: string, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof cls, `expected a ${cls.name}, got ${String(e)}`);
    assert.ok(e.message.includes(file), `the message names ${file}: ${e.message}`);
    assert.match(e.message, re);
    return true;
  });
}

/** JSON text of arrays nested n deep (JSON.stringify of such a value overflows the stack). */
const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);

test('safetensors: an I64 value past int32 is an error naming the file', () => {
  const dir = tmpdir();
  const file = path.join(dir, 'big.safetensors');
  const header = new TextEncoder().encode(JSON.stringify({ x: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }));
  const bytes = new Uint8Array(8 + header.length + 8);
  const v = new DataView(bytes.buffer);
  v.setBigUint64(0, BigInt(header.length), true);
  bytes.set(header, 8);
  v.setBigInt64(8 + header.length, 2n ** 40n, true);
  fs.writeFileSync(file, bytes);
  throwsNaming(() => loadSafetensorsSync(file), SafetensorsError, file, /element 0 is 1099511627776, which does not fit in int32/);
  fs.rmSync(dir, { recursive: true });
});

function gpt2Dir(encoder: string, merges = '#version: 0.2\n'): string {
  const dir = tmpdir();
  fs.writeFileSync(path.join(dir, 'encoder.json'), encoder);
  fs.writeFileSync(path.join(dir, 'vocab.bpe'), merges);
  return dir;
}

test('encoder.json: an id nested 100,000 arrays deep is a DataError, not a stack overflow', () => {
  const dir = gpt2Dir(`{"a": ${deep(100_000)}}`);
  throwsNaming(() => GPT2Tokenizer.fromDir(dir), DataError, dir, /token "a" has id \(an array\)/);
});

test('encoder.json: an id far past the number of tokens is refused before tables are sized by it', () => {
  const dir = gpt2Dir('{"a": 0, "b": 24117248}');
  throwsNaming(() => GPT2Tokenizer.fromDir(dir), DataError, dir, /largest id is 24117248 but there are only 2 tokens/);
});

test('encoder.json: a byte the text needs but the vocabulary lacks names the file', () => {
  const dir = gpt2Dir('{"a": 0, "b": 1}');
  const tok = GPT2Tokenizer.fromDir(dir);
  throwsNaming(() => tok.encode('abc'), DataError, path.join(dir, 'encoder.json'), /token "c" \(from "abc"\) is not in/);
});

test('tokenizer.json: a vocabulary the tokenizer refuses is a DataError naming the file', () => {
  const cases: [unknown, RegExp][] = [
    [{ type: 'char', chars: ['a', 'I64'] }, /vocabulary entry 1 is not one character/],
    [{ type: 'char', chars: ['a', 'a'] }, /appears twice/],
    [{ type: 'word', vocab: ['<pad>', '<unk>', 'the', 'the'] }, /word "the" appears twice/],
    [{ type: 'char', chars: ['x'.repeat(1_000_000)] }, /not one character: "x+\.\.\.$/],
  ];
  for (const [obj, re] of cases) {
    const dir = tmpdir();
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(obj));
    throwsNaming(() => loadTokenizerDir(dir), DataError, dir, re);
  }
  const dir = gpt2Dir('{"a": 0}');
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify({ type: 'bpe', specialTokens: ['<|endoftext|>'] }));
  throwsNaming(() => loadTokenizerDir(dir), DataError, dir, /special token "<\|endoftext\|>" is not in the vocabulary/);
});

async function gptDir(config: (c: Record<string, unknown>) => void): Promise<string> {
  const dir = tmpdir();
  const model = new GPT({ vocabSize: 11, blockSize: 4, nLayer: 1, nHead: 2, nEmbd: 4 });
  const cfg: Record<string, unknown> = { ...model.config };
  config(cfg);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ gpt: cfg }).replace('"DEEP"', deep(50_000)));
  await saveGPTWeights(dir, model);
  for (const p of model.parameters()) p.dispose();
  return dir;
}

test('GPT checkpoint: config.json faults are DataErrors naming it, checked before the model is built', async () => {
  const config = (dir: string) => path.join(dir, 'config.json');
  let dir = await gptDir((c) => {
    c['nLayer'] = 'DEEP';
  });
  throwsNaming(() => loadGPT(dir), DataError, config(dir), /gpt\.nLayer must be a positive integer, got \(an array\)/);
  dir = await gptDir((c) => {
    c['nHead'] = 65535;
  });
  throwsNaming(() => loadGPT(dir), DataError, config(dir), /gpt\.nEmbd \(4\) must be a multiple of gpt\.nHead \(65535\)/);
  // a config claiming 2^30-wide embeddings: refused from the weights file's size, nothing allocated
  dir = await gptDir((c) => {
    c['nEmbd'] = 2 ** 30;
    c['nHead'] = 1;
  });
  throwsNaming(() => loadGPT(dir), DataError, dir, /holds 312 values, but the model .* has at least/);
});

test('Hugging Face GPT-2: n_layer 10^9 is refused from the number of tensors, at once', () => {
  const dir = tmpdir();
  const model = new GPT({ vocabSize: 9, blockSize: 3, nLayer: 1, nHead: 1, nEmbd: 4 });
  exportHuggingFaceGPT2(model, dir);
  for (const p of model.parameters()) p.dispose();
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), n_layer: 1e9 }));
  throwsNaming(() => loadGPT(dir), DataError, dir, /holds 16 tensors, too few for config\.json's n_layer 1000000000/);
});

test('LSTM checkpoint: tieWeights with unequal sizes and a huge hiddenSize are DataErrors naming the folder', async () => {
  const dir = tmpdir();
  const model = new LSTMLanguageModel({ vocabSize: 7, embedDim: 3, hiddenSize: 3, numLayers: 1 });
  await saveLSTM(dir, model);
  for (const p of model.parameters()) p.dispose();
  const file = path.join(dir, 'config.json');
  const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as { lstm: Record<string, unknown> };
  fs.writeFileSync(file, JSON.stringify({ ...saved, lstm: { ...saved.lstm, tieWeights: true, hiddenSize: 256 } }));
  throwsNaming(() => loadLSTM(dir), DataError, file, /tieWeights needs hiddenSize \(256\) equal to embedDim \(3\)/);
  fs.writeFileSync(file, JSON.stringify({ ...saved, lstm: { ...saved.lstm, hiddenSize: 2 ** 30 } }));
  throwsNaming(() => loadLSTM(dir), DataError, dir, /has at least/);
});

test('trainer_state.json: fields a resumed run uses are checked, naming the file', () => {
  const dir = tmpdir();
  const file = path.join(dir, 'trainer_state.json');
  const good = {
    step: 4,
    history: [{ step: 0, train: 1, val: null }],
    optimizer: { numbers: { '0': { step: 4 } }, paramGroups: [{ lr: 0.1 }] },
    rng: { global: [1, 2, 3, 4, null], batch: [5, 6, 7, 8, 0.5] },
  };
  fs.writeFileSync(file, JSON.stringify(good));
  const st = readTrainerState(file, 'train gpt');
  assert.equal(st.step, 4);
  assert.ok(Number.isNaN(st.history[0]!.val) && Number.isNaN(st.rng.global[4]!));
  const bad: [unknown, RegExp][] = [
    [{ ...good, history: 'x' }, /"history" must be an array/],
    [{ ...good, history: [{ step: 0 }] }, /"history" entry 0/],
    [{ ...good, rng: { global: [0, 0, 0, 0], batch: [1, 2, 3, 4] } }, /"rng\.global" must be a generator state/],
    [{ ...good, rng: { global: ['a', 'b', 'c', 'd'], batch: [1, 2, 3, 4] } }, /"rng\.global"/],
    [{ ...good, optimizer: { numbers: {}, paramGroups: 3 } }, /"optimizer\.paramGroups"/],
    [{ ...good, step: 'DEEP' }, /"step" must be a non-negative integer, got \(an array\)/],
  ];
  for (const [obj, re] of bad) {
    fs.writeFileSync(file, JSON.stringify(obj).replace('"DEEP"', deep(50_000)));
    throwsNaming(() => readTrainerState(file, 'train gpt'), DataError, file, re);
  }
});
