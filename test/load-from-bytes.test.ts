// What a web page loads a GPT with (mox/browser's models.loadGPTFromBytes and text.tokenizerFromFiles):
// the same model and tokenizer as loadGPT and loadTokenizerDir give from the folder, the same errors
// for a bad checkpoint, and a refusal that names what only Node loads. Also generate's abort signal,
// which the page's Stop button uses.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as mox from '../src/index.js';
import { loadGPTFromBytes } from '../src/models/gpt-bytes.js';
import { tokenizerFromFiles } from '../src/text/tokenizer-files.js';
import { writeTinyGPT } from '../test-support/playground.js';
import { wordText } from '../test-support/cli.js';

const read = (dir: string, f: string) => fs.readFileSync(path.join(dir, f));

test('loadGPTFromBytes gives the model loadGPT gives from the folder', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-bytes-'));
  try {
    await writeTinyGPT(dir);
    const fromDir = mox.models.loadGPT(dir).model;
    const config = JSON.parse(read(dir, 'config.json').toString('utf8')) as unknown;
    const { model, metadata } = loadGPTFromBytes(config, new Uint8Array(read(dir, 'model.safetensors')));
    assert.equal(metadata['model'], 'gpt');
    const a = fromDir.stateDict();
    const b = model.stateDict();
    assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
    for (const k of Object.keys(a)) assert.deepEqual(b[k]!.dataSync(), a[k]!.dataSync(), k);
    const ids = mox.tensor([[1, 2, 3]], { dtype: 'int32' });
    assert.deepEqual(model.forward(ids).logits.dataSync(), fromDir.forward(ids).logits.dataSync());
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('loadGPTFromBytes refuses what it cannot load, naming the file and the reason', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-bytes-bad-'));
  try {
    await writeTinyGPT(dir);
    const weights = new Uint8Array(read(dir, 'model.safetensors'));
    const gpt = { vocabSize: 20, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 32 };
    const names = { config: 'http://x/model/config.json', weights: 'http://x/model/model.safetensors' };
    const cases: [unknown, Uint8Array, RegExp][] = [
      [[1, 2], weights, /config.json must hold a JSON object/],
      [{ model_type: 'gpt2' }, weights, /describes a Hugging Face GPT-2 model: .*loadGPT in Node reads both/],
      [{ gpt, quantization: { scheme: 'int8' } }, weights, /describes a quantized model/],
      [{ gpt: { ...gpt, nEmbd: 33 } }, weights, /gpt.nEmbd \(33\) must be a multiple of gpt.nHead \(2\)/],
      [{ gpt: { ...gpt, nEmbd: 4096 } }, weights, /model.safetensors does not fit config.json: it holds \d+ values/],
      [{ gpt: { ...gpt, nLayer: 2 } }, weights, /does not fit config.json/],
      [{ gpt }, weights.subarray(0, 100), /safetensors/],
    ];
    for (const [config, bytes, says] of cases) {
      assert.throws(
        () => loadGPTFromBytes(config, bytes, names),
        (e: unknown) => e instanceof mox.MoxError && says.test(e.message),
        String(says),
      );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('tokenizerFromFiles builds the tokenizers save() wrote, char and BPE, as the folder loader does', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-tokfiles-'));
  try {
    const text = wordText(3000);
    for (const spec of ['char', 'bpe:300']) {
      const sub = path.join(dir, spec.replace(':', '-'));
      const tok = mox.text.loadTokenizer(spec, { corpus: text });
      tok.save(sub);
      const files = Object.fromEntries(fs.readdirSync(sub).map((f) => [f, fs.readFileSync(path.join(sub, f), 'utf8')]));
      const fromFiles = tokenizerFromFiles(files as { 'tokenizer.json': string });
      const fromDir = mox.text.loadTokenizerDir(sub);
      assert.equal(fromFiles.kind, fromDir.kind, spec);
      assert.equal(fromFiles.vocabSize, fromDir.vocabSize, spec);
      const ids = fromDir.encode('the dog sat in the tree.');
      assert.deepEqual(fromFiles.encode('the dog sat in the tree.'), ids, spec);
      assert.equal(fromFiles.decode(ids), 'the dog sat in the tree.', spec);
    }
    assert.throws(() => tokenizerFromFiles({ 'tokenizer.json': '{"type": "bpe"}' }), /needs encoder.json and vocab.bpe/);
    assert.throws(() => tokenizerFromFiles({ 'tokenizer.json': 'nope' }), /tokenizer.json is not valid JSON/);
    assert.throws(() => tokenizerFromFiles({ 'tokenizer.json': '{"type": "morse"}' }), /unknown tokenizer type "morse"/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("generate's abort signal stops it with the tokens so far; generateAsync awaits onToken", async () => {
  mox.seed(3);
  const gpt = new mox.models.GPT({ vocabSize: 11, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8 });
  const full = mox.models.generate(gpt, [1, 2], { maxNewTokens: 6, temperature: 0 }).newTokens[0]!;
  const stop = new AbortController();
  const seen: number[] = [];
  let awaited = 0;
  const r = await mox.models.generateAsync(gpt, [1, 2], {
    maxNewTokens: 6,
    temperature: 0,
    signal: stop.signal,
    onToken: async (tokens) => {
      seen.push(tokens[0]!);
      await new Promise((res) => setTimeout(res, 1));
      awaited++;
      if (seen.length === 3) stop.abort();
    },
  });
  assert.equal(awaited, 3, 'each onToken promise settled before the next step');
  assert.deepEqual(r.newTokens[0], full.slice(0, 3));
  assert.deepEqual(r.ids.shape, [1, 5], 'the prompt and the 3 tokens made');
  const sync = mox.models.generate(gpt, [1, 2], { maxNewTokens: 6, temperature: 0, signal: AbortSignal.abort() });
  assert.deepEqual(sync.newTokens[0], [], 'an already aborted signal makes nothing');
});
