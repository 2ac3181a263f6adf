// `mox playground`'s server without a browser: the page and its files with their content types, the
// cross-origin isolation headers on every response (errors too), MNIST as raw bytes that match the
// IDX files, the checkpoint's files, 404s, and a --model folder the page could not load refused at the
// start (exit 2, the loader's message). The page in a browser: test/playground.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runMox } from '../test-support/cli.js';
import { mnistDir, startPlayground, writeTinyGPT } from '../test-support/playground.js';
import { readIdx } from '../src/data/formats/idx.js';
import { toMnistImage } from '../src/web/mnist-image.js';

const ISOLATION = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
};

function assertIsolated(r: Response, what: string): void {
  for (const [k, v] of Object.entries(ISOLATION)) assert.equal(r.headers.get(k), v, `${what}: ${k}`);
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff', what);
}

const built = fs.existsSync('dist/playground/index.html');

test('mox playground serves the page, MNIST bytes and the model files, each isolated and typed', async (t) => {
  if (!built) return t.skip('dist/playground/ is not built (npm run build runs scripts/build-playground.mjs)');
  const mnist = mnistDir();
  if (!mnist) return t.skip('no MNIST in $MOX_DATA_DIR/mnist');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-play-srv-'));
  await writeTinyGPT(dir);
  const server = await startPlayground(['--model', dir, '--data-dir', path.dirname(mnist)]);
  try {
    const get = async (p: string) => {
      const r = await fetch(server.url + p);
      assertIsolated(r, `GET ${p}`);
      return r;
    };
    const page = await get('/');
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    const html = await page.text();
    assert.match(html, /<script type="module" src="\/playground.js">/);
    const types: Record<string, string> = {
      '/playground.js': 'text/javascript; charset=utf-8',
      '/style.css': 'text/css; charset=utf-8',
      '/index.html': 'text/html; charset=utf-8',
      '/api/info': 'application/json; charset=utf-8',
      '/model/config.json': 'application/json; charset=utf-8',
      '/model/model.safetensors': 'application/octet-stream',
      '/data/mnist/test-labels': 'application/octet-stream',
    };
    for (const [p, type] of Object.entries(types)) {
      const r = await get(p);
      assert.equal(r.status, 200, p);
      assert.equal(r.headers.get('content-type'), type, p);
      await r.arrayBuffer();
    }
    const info = (await (await get('/api/info')).json()) as Record<string, any>;
    assert.deepEqual(info['mnist'], { train: 60000, test: 10000 });
    assert.equal(info['model']['tokenizer'], 'char');
    assert.deepEqual(info['model']['files'], ['config.json', 'model.safetensors', 'tokenizer.json']);
    assert.equal(info['model']['gpt']['nEmbd'], 32);

    // the bytes are the IDX files' own
    const images = new Uint8Array(await (await get('/data/mnist/train-images?count=3')).arrayBuffer());
    const labels = new Uint8Array(await (await get('/data/mnist/train-labels?count=3')).arrayBuffer());
    const idxImages = readIdx(path.join(mnist, 'train-images-idx3-ubyte.gz'), { limit: 3 });
    const idxLabels = readIdx(path.join(mnist, 'train-labels-idx1-ubyte.gz'), { limit: 3 });
    assert.deepEqual(images, new Uint8Array(idxImages.data.buffer, idxImages.data.byteOffset, 3 * 784));
    assert.deepEqual([...labels], [...idxLabels.data]);
    assert.deepEqual([...labels], [5, 0, 4]); // MNIST's first three digits
    assert.equal((await (await get('/data/mnist/test-labels')).arrayBuffer()).byteLength, 10000);
    const weights = new Uint8Array(await (await get('/model/model.safetensors')).arrayBuffer());
    assert.deepEqual(weights, new Uint8Array(fs.readFileSync(path.join(dir, 'model.safetensors'))));

    // errors: JSON, isolated too
    for (const [p, status, says] of [
      ['/nope.js', 404, /no such file: \/nope.js/],
      ['/../package.json', 404, /no such file/],
      ['/data/mnist/valid-images', 404, /expected \/data\/mnist/],
      ['/data/mnist/train-images?count=0', 400, /count must be an integer in \[1, 60000\], got '0'/],
      ['/data/mnist/test-labels?count=10001', 400, /\[1, 10000\]/],
      ['/data/mnist/test-labels?count=1e3', 400, /got '1e3'/],
      ['/model/optimizer.safetensors', 404, /no such model file: optimizer.safetensors/],
      ['/model/encoder.json', 404, /has no encoder.json/],
    ] as const) {
      const r = await get(p);
      assert.equal(r.status, status, p);
      assert.equal(r.headers.get('content-type'), 'application/json; charset=utf-8', p);
      assert.match(((await r.json()) as { error: { message: string } }).error.message, says, p);
    }
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('mox playground without --model: the page says how; the model routes answer 404', async (t) => {
  if (!built) return t.skip('dist/playground/ is not built');
  const server = await startPlayground(['--data-dir', fs.mkdtempSync(path.join(os.tmpdir(), 'mox-play-none-'))]).catch((e: Error) => e);
  // an empty --data-dir is a usage error: no MNIST there
  assert.ok(server instanceof Error);
  assert.match(server.message, /exited with 2: mox: playground: --data-dir: no MNIST IDX files/);
  const env = { ...process.env, MOX_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'mox-play-nodata-')) };
  const bare = await startPlayground([], env);
  try {
    const info = (await (await fetch(`${bare.url}/api/info`)).json()) as Record<string, unknown>;
    assert.equal(info['model'], null);
    assert.equal(info['mnist'], null);
    assert.match(String(info['mnistMissing']), /no MNIST IDX files/);
    const r = await fetch(`${bare.url}/model/config.json`);
    assert.equal(r.status, 404);
    assertIsolated(r, 'GET /model/config.json');
    assert.match(((await r.json()) as { error: { message: string } }).error.message, /start the playground with --model DIR/);
    assert.equal((await fetch(`${bare.url}/data/mnist/train-images`)).status, 404);
    assert.match(await (await fetch(`${bare.url}/`)).text(), /No model is loaded/);
  } finally {
    await bare.stop();
  }
});

test('mox playground refuses a --model folder the page could not load: exit 2 and the reason', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-play-bad-'));
  try {
    const cases: [string, RegExp][] = [];
    cases.push([path.join(dir, 'missing'), /--model: no such folder/]);
    const empty = path.join(dir, 'empty');
    fs.mkdirSync(empty);
    cases.push([empty, /is not a GPT checkpoint folder: it has no config.json/]);
    const good = path.join(dir, 'good');
    await writeTinyGPT(good);
    const big = path.join(dir, 'big');
    fs.cpSync(good, big, { recursive: true });
    fs.writeFileSync(
      path.join(big, 'config.json'),
      JSON.stringify({ gpt: { vocabSize: 20, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 4096 } }),
    );
    cases.push([big, /does not fit config.json: it holds \d+ values, but the model .* has at least/]);
    const noTok = path.join(dir, 'notok');
    fs.cpSync(good, noTok, { recursive: true });
    fs.rmSync(path.join(noTok, 'tokenizer.json'));
    cases.push([noTok, /it has no tokenizer.json/]);
    const badTok = path.join(dir, 'badtok');
    fs.cpSync(good, badTok, { recursive: true });
    fs.writeFileSync(path.join(badTok, 'tokenizer.json'), '{"type": "morse"}');
    cases.push([badTok, /unknown tokenizer type "morse"/]);
    for (const [folder, says] of cases) {
      const r = runMox(['playground', '--model', folder, '--port', '0']);
      assert.equal(r.code, 2, `${folder}: ${r.stderr}`);
      assert.match(r.stderr, /^mox: playground: /);
      assert.match(r.stderr, says);
    }
    const r = runMox(['playground', '--port', '70000']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--port must be at most 65535/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a drawing becomes an MNIST image: the stroke fit into 20x20, its centre of mass at the centre', () => {
  // a thin vertical bar in the top-left corner of a 280x280 drawing
  const w = 280;
  const ink = new Float32Array(w * w);
  for (let y = 10; y < 150; y++) for (let x = 20; x < 40; x++) ink[y * w + x] = 1;
  const img = toMnistImage(ink, w, w);
  assert.equal(img.length, 784);
  let mass = 0;
  let cx = 0;
  let cy = 0;
  let top = 28;
  let bottom = -1;
  for (let y = 0; y < 28; y++)
    for (let x = 0; x < 28; x++) {
      const v = img[y * 28 + x]!;
      assert.ok(v >= 0 && v <= 1);
      if (v > 0) {
        top = Math.min(top, y);
        bottom = Math.max(bottom, y);
      }
      mass += v;
      cx += v * (x + 0.5);
      cy += v * (y + 0.5);
    }
  assert.equal(bottom - top + 1, 20, 'the longer side is scaled to 20 pixels');
  assert.ok(Math.abs(cx / mass - 14) <= 0.5 && Math.abs(cy / mass - 14) <= 0.5, `centre of mass ${cx / mass}, ${cy / mass}`);
  assert.ok(Math.max(...img) === 1, 'a solid stroke stays fully inked');
  assert.deepEqual(toMnistImage(new Float32Array(100), 10, 10), new Float32Array(784), 'an empty drawing is all zeros');
  assert.throws(() => toMnistImage(new Float32Array(5), 10, 10), /5 pixels for a 10x10 drawing/);
});
