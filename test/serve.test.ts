// `mox serve` (issue 16): the official `openai` client against the server, streaming and not; continuous
// batching (a request's tokens do not depend on its neighbours; concurrent requests share steps);
// 429 past the queue, cancellation on disconnect, the API key, body limits, malformed requests (4xx,
// never 5xx), /health, /metrics, graceful shutdown, and the CLI. A tiny random GPT, char tokenizer.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import OpenAI from 'openai';
import * as mox from '../src/index.js';
import { GPT } from '../src/models/gpt.js';
import { CharTokenizer } from '../src/text/char.js';
import { createServer, type MoxServer } from '../src/serve/server.js';
import { generate } from '../src/models/gpt-generate.js';
import { MAIN } from '../test-support/cli.js';

const CHARS = [...'abcdefghijklmnopqrstuvwxyz .,:!?\n'];
const tok = new CharTokenizer(CHARS);
const model = () => new GPT({ vocabSize: CHARS.length, blockSize: 64, nLayer: 2, nHead: 2, nEmbd: 32, generator: new mox.Generator(3) });

let srv: MoxServer;
let url: string;
let client: OpenAI;

before(async () => {
  mox.setNumThreads(1);
  srv = createServer({ model: model(), tokenizer: tok, modelId: 'tiny', maxBatch: 8, maxQueue: 8, logger: false });
  url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
  client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(async () => {
  await srv.shutdown();
});

test('GET /v1/models and /health; the official client lists the model', async () => {
  const models = await client.models.list();
  assert.deepEqual(
    models.data.map((m) => [m.id, m.object, m.owned_by]),
    [['tiny', 'model', 'mox']],
  );
  assert.deepEqual(await (await fetch(`${url}/health`)).json(), { status: 'ok' });
});

test('completions: greedy text equals generate(); streamed chunks add up to the same text', async () => {
  const prompt = 'the cat';
  const ids = tok.encode(prompt);
  const ref = mox.noGrad(() => generate(srv.engine.model, [ids], { maxNewTokens: 12, temperature: 0, useCache: true }));
  const c = await client.completions.create({ model: 'tiny', prompt, max_tokens: 12, temperature: 0 });
  assert.equal(c.object, 'text_completion');
  assert.equal(c.choices[0]!.text, tok.decode(ref.newTokens[0]!));
  assert.equal(c.choices[0]!.finish_reason, 'length');
  assert.deepEqual(c.usage, { prompt_tokens: ids.length, completion_tokens: 12, total_tokens: ids.length + 12 });
  const stream = await client.completions.create({ model: 'tiny', prompt, max_tokens: 12, temperature: 0, stream: true });
  let text = '';
  let finish: string | null = null;
  for await (const ch of stream) {
    text += ch.choices[0]!.text;
    finish = ch.choices[0]!.finish_reason ?? finish;
  }
  assert.equal(text, c.choices[0]!.text);
  assert.equal(finish, 'length');
  // a prompt as token ids is the same request
  const byIds = await client.completions.create({ model: 'tiny', prompt: ids, max_tokens: 12, temperature: 0 });
  assert.equal(byIds.choices[0]!.text, c.choices[0]!.text);
});

test('sampling: the same seed gives the same text; n choices; logprobs; a stop sequence ends the text', async () => {
  const a = await client.completions.create({ model: 'tiny', prompt: 'a', max_tokens: 20, temperature: 1, top_p: 0.9, seed: 7 });
  const b = await client.completions.create({ model: 'tiny', prompt: 'a', max_tokens: 20, temperature: 1, top_p: 0.9, seed: 7 });
  assert.equal(a.choices[0]!.text, b.choices[0]!.text);
  const n = await client.completions.create({ model: 'tiny', prompt: 'a', max_tokens: 10, temperature: 1, seed: 7, n: 3, logprobs: 2 });
  assert.deepEqual(
    n.choices.map((c) => c.index),
    [0, 1, 2],
  );
  const lp = n.choices[0]!.logprobs!;
  assert.equal(lp.tokens!.length, 10);
  assert.equal(lp.token_logprobs!.length, 10);
  assert.ok(lp.token_logprobs!.every((v) => v! <= 0));
  assert.ok(lp.top_logprobs!.every((t) => Object.keys(t!).length >= 1 && Object.keys(t!).length <= 2));
  assert.equal(lp.tokens!.join(''), n.choices[0]!.text);
  // stop: the text ends before the first stop sequence, finish_reason 'stop'
  const long = await client.completions.create({ model: 'tiny', prompt: 'a', max_tokens: 40, temperature: 1, seed: 11 });
  const full = long.choices[0]!.text;
  const stopAt = full.slice(5, 7);
  const s = await client.completions.create({ model: 'tiny', prompt: 'a', max_tokens: 40, temperature: 1, seed: 11, stop: [stopAt] });
  assert.equal(s.choices[0]!.text, full.slice(0, full.indexOf(stopAt)));
  assert.equal(s.choices[0]!.finish_reason, 'stop');
  const ss = await client.completions.create({
    model: 'tiny',
    prompt: 'a',
    max_tokens: 40,
    temperature: 1,
    seed: 11,
    stop: [stopAt],
    stream: true,
  });
  let streamed = '';
  for await (const ch of ss) streamed += ch.choices[0]!.text;
  assert.equal(streamed, s.choices[0]!.text, 'the stream holds back what could become a stop sequence');
});

test('chat completions, streamed and not, through the documented template', async () => {
  const messages = [
    { role: 'system' as const, content: 'be brief.' },
    { role: 'user' as const, content: 'hi' },
  ];
  const c = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 15, seed: 2, logprobs: true, top_logprobs: 1 });
  assert.equal(c.object, 'chat.completion');
  assert.equal(c.choices[0]!.message.role, 'assistant');
  assert.equal(c.usage!.prompt_tokens, tok.encode('system: be brief.\nuser: hi\nassistant:').length);
  assert.equal(c.choices[0]!.logprobs!.content!.length, 15);
  const s = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 15, seed: 2, stream: true });
  let text = '';
  let role: string | undefined;
  for await (const ch of s) {
    role ??= ch.choices[0]?.delta?.role;
    text += ch.choices[0]?.delta?.content ?? '';
  }
  assert.equal(role, 'assistant');
  assert.equal(text, c.choices[0]!.message.content);
});

test("continuous batching: concurrent requests share steps, and each one's tokens are its own", async () => {
  const reqs = Array.from({ length: 6 }, (_, i) => ({ prompt: 'the '.repeat(i + 1), max_tokens: 16 + i, temperature: 0.9, seed: 100 + i }));
  const alone: string[] = [];
  for (const r of reqs) alone.push((await client.completions.create({ model: 'tiny', ...r })).choices[0]!.text);
  const stepsBefore = srv.engine.stats.steps;
  const together = await Promise.all(reqs.map((r) => client.completions.create({ model: 'tiny', ...r })));
  const steps = srv.engine.stats.steps - stepsBefore;
  assert.deepEqual(
    together.map((c) => c.choices[0]!.text),
    alone,
  );
  // alone they would take sum(max_tokens - 1) steps; together far fewer
  const sequential = reqs.reduce((s, r) => s + r.max_tokens - 1, 0);
  assert.ok(steps < sequential / 2, `${steps} shared steps for ${sequential} sequential ones`);
});

test('a client that disconnects frees its slot; past the queue the server answers 429 with Retry-After', async () => {
  const small = createServer({ model: model(), tokenizer: tok, modelId: 'tiny', maxBatch: 1, maxQueue: 0, logger: false });
  const u = await small.app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const ac = new AbortController();
    const res = await fetch(`${u}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'a', max_tokens: 63, stream: true }),
      signal: ac.signal,
    });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    await reader.read(); // the first chunk: it is generating
    assert.equal(small.engine.stats.active, 1);
    const busy = await fetch(`${u}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'a', max_tokens: 5 }),
    });
    assert.equal(busy.status, 429);
    assert.equal(busy.headers.get('retry-after'), '1');
    assert.equal(((await busy.json()) as { error: { type: string } }).error.type, 'rate_limit_exceeded');
    ac.abort();
    for (let i = 0; i < 100 && small.engine.stats.active > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(small.engine.stats.active, 0, 'the slot is freed');
    const ok = await fetch(`${u}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'a', max_tokens: 5 }),
    });
    assert.equal(ok.status, 200);
  } finally {
    await small.shutdown();
  }
});

test('malformed requests get 4xx in OpenAI error shape, never a 5xx', async () => {
  const post = async (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }, p = '/v1/completions') => {
    const r = await fetch(`${url}${p}`, { method: 'POST', headers, body });
    const j = (await r.json()) as { error?: { message: string; type: string } };
    return { status: r.status, error: j.error };
  };
  const cases: [string, number, RegExp][] = [
    ['{bad json', 400, /could not parse the JSON body/],
    ['[]', 400, /must be a JSON object/],
    ['{}', 400, /'prompt' is a required property/],
    ['{"prompt": 5}', 400, /'prompt'/],
    ['{"prompt": "a", "max_tokens": "5"}', 400, /is not of type 'integer' - 'max_tokens'/],
    ['{"prompt": "a", "max_tokens": 0}', 400, /less than the minimum of 1 - 'max_tokens'/],
    ['{"prompt": "a", "max_tokens": 1e9}', 400, /greater than the maximum of 64 - 'max_tokens'/],
    ['{"prompt": "a", "temperature": -1}', 400, /'temperature'/],
    ['{"prompt": "a", "temperature": 3}', 400, /'temperature'/],
    ['{"prompt": "a", "top_p": 0}', 400, /'top_p'/],
    ['{"prompt": "a", "n": 100}', 400, /'n'/],
    ['{"prompt": "a", "stop": [1]}', 400, /'stop'/],
    ['{"prompt": "a", "stream": "yes"}', 400, /'stream'/],
    ['{"prompt": "a", "logprobs": 9}', 400, /'logprobs'/],
    ['{"prompt": [99999]}', 400, /Token 99999 is out of range/],
    ['{"prompt": [1.5]}', 400, /out of range/],
    ['{"prompt": ""}', 400, /prompt is empty/],
    ['{"prompt": "ABC"}', 400, /prompt: /],
    [`{"prompt": "${'a'.repeat(60)}", "max_tokens": 10}`, 400, /maximum context length is 64 tokens/],
  ];
  for (const [body, status, msg] of cases) {
    const r = await post(body);
    assert.equal(r.status, status, body);
    assert.match(r.error!.message, msg, body);
    assert.equal(r.error!.type, 'invalid_request_error', body);
  }
  const chat: [string, RegExp][] = [
    ['{}', /'messages' is a required property/],
    ['{"messages": []}', /'messages'/],
    ['{"messages": [{"role": "robot", "content": "x"}]}', /'messages.0.role'/],
    ['{"messages": [{"role": "user", "content": 5}]}', /'messages.0.content'/],
  ];
  for (const [body, msg] of chat) {
    const r = await post(body, undefined, '/v1/chat/completions');
    assert.equal(r.status, 400, body);
    assert.match(r.error!.message, msg, body);
  }
  assert.equal((await post('prompt=a', { 'content-type': 'text/plain' })).status, 400);
  assert.equal((await post('<prompt/>', { 'content-type': 'application/xml' })).status, 415);
  assert.equal((await post(JSON.stringify({ prompt: 'a'.repeat(2 << 20) }))).status, 413);
  const missing = await fetch(`${url}/v1/nothing`);
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'unknown_url');
  assert.ok(!(await (await fetch(`${url}/metrics`)).text()).includes('status="5'), 'no 5xx so far');
});

test('/metrics is Prometheus text: requests by status, tokens, latency histograms, queue, memory', async () => {
  const r = await fetch(`${url}/metrics`);
  assert.match(r.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
  const text = await r.text();
  for (const name of [
    'mox_requests_total',
    'mox_prompt_tokens_total',
    'mox_generation_tokens_total',
    'mox_queue_depth',
    'mox_active_sequences',
    'mox_resident_memory_bytes',
  ])
    assert.match(text, new RegExp(`^# TYPE ${name} (counter|gauge)$`, 'm'), name);
  assert.match(text, /^mox_time_to_first_token_seconds_bucket\{le="\+Inf"\} [1-9]\d*$/m);
  assert.match(text, /^mox_inter_token_latency_seconds_count [1-9]\d*$/m);
  assert.match(text, /^mox_requests_total\{endpoint="\/v1\/completions",status="200"\} [1-9]\d*$/m);
});

test('--api-key: /v1 needs the Bearer key, /health does not', async () => {
  const s = createServer({ model: model(), tokenizer: tok, modelId: 'tiny', apiKey: 'sekret', logger: false });
  const u = await s.app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const bad = new OpenAI({ baseURL: `${u}/v1`, apiKey: 'wrong', maxRetries: 0 });
    await assert.rejects(bad.models.list(), (e: Error & { status?: number }) => e.status === 401);
    assert.equal((await fetch(`${u}/v1/models`)).status, 401);
    const good = new OpenAI({ baseURL: `${u}/v1`, apiKey: 'sekret', maxRetries: 0 });
    assert.equal((await good.models.list()).data[0]!.id, 'tiny');
    assert.equal((await fetch(`${u}/health`)).status, 200);
  } finally {
    await s.shutdown();
  }
});

test('graceful shutdown: a running request finishes, new connections are refused', async () => {
  const s = createServer({ model: model(), tokenizer: tok, modelId: 'tiny', logger: false });
  const u = await s.app.listen({ host: '127.0.0.1', port: 0 });
  const c = new OpenAI({ baseURL: `${u}/v1`, apiKey: 'x', maxRetries: 0 });
  const running = c.completions.create({ model: 'tiny', prompt: 'a', max_tokens: 40, temperature: 0 });
  while (s.engine.stats.active === 0) await new Promise((r) => setTimeout(r, 5));
  await s.shutdown(10_000);
  const done = await running;
  assert.equal(done.choices[0]!.finish_reason, 'length');
  assert.equal(done.usage!.completion_tokens, 40);
  await assert.rejects(fetch(`${u}/health`));
});

test('mox serve: serves a checkpoint folder on 127.0.0.1 and stops on SIGTERM', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-serve-'));
  try {
    const m = model();
    await mox.models.saveGPTWeights(dir, m);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ gpt: m.config }));
    tok.save(dir);
    const child = spawn(process.execPath, [MAIN, 'serve', '--model', dir, '--port', '0', '--quiet', '--threads', '1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    const addr = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        err += d;
        const m2 = /mox serve: (http:\/\/127\.0\.0\.1:\d+)/.exec(err);
        if (m2) resolve(m2[1]!);
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
    });
    const c = new OpenAI({ baseURL: `${addr}/v1`, apiKey: 'x', maxRetries: 0 });
    const r = await c.completions.create({ model: path.basename(dir), prompt: 'hi', max_tokens: 4 });
    assert.equal(r.usage!.completion_tokens, 4);
    const code = await new Promise<number | null>((resolve) => {
      child.on('exit', resolve);
      child.kill('SIGTERM');
    });
    assert.equal(code, 0, err);
    assert.match(err, /SIGTERM: finishing the running requests, then stopping/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a classifier folder: POST /v1/predict with a JSON tensor, a PNG, or text for the text CNN', async () => {
  const { PNG } = await import('pngjs');
  const { saveClassifier } = await import('../src/models/classifier-checkpoint.js');
  const { startServe } = await import('../src/cli/commands/serve.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-predict-'));
  try {
    mox.seed(5);
    const mlp = new mox.nn.Sequential(new mox.nn.Flatten(), new mox.nn.Linear(16, 8), new mox.nn.ReLU(), new mox.nn.Linear(8, 3));
    await saveClassifier(path.join(dir, 'mlp'), mlp, { inputShape: [1, 4, 4], extra: { class_names: ['a', 'b', 'c'] } });
    const s = await startServe({
      model: path.join(dir, 'mlp'),
      host: '127.0.0.1',
      port: 0,
      maxBatch: 16,
      maxQueue: 8,
      bodyLimit: 1 << 20,
      timeoutMs: 10_000,
      device: 'cpu',
      quiet: true,
    });
    try {
      const post = async (body: unknown) => {
        const r = await fetch(`${s.url}/v1/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        return { status: r.status, json: (await r.json()) as Record<string, any> };
      };
      const pixels = Array.from({ length: 16 }, (_, i) => (i * 17) / 255);
      const x = mox.tensor(Float32Array.from(pixels), { shape: [1, 1, 4, 4] });
      const want = Array.from(mox.noGrad(() => mox.nn.functional.softmax(mlp.eval().forward(x), -1)).dataSync());
      const r1 = await post({ input: [[pixels.slice(0, 4), pixels.slice(4, 8), pixels.slice(8, 12), pixels.slice(12)]] });
      assert.equal(r1.status, 200);
      const p1 = r1.json['predictions'][0];
      p1.probabilities.forEach((v: number, k: number) => assert.ok(Math.abs(v - want[k]!) < 1e-6));
      assert.equal(p1.top_class, want.indexOf(Math.max(...want)));
      assert.equal(p1.label, ['a', 'b', 'c'][p1.top_class]);
      // the same pixels as a grey PNG give the same answer
      const png = new PNG({ width: 4, height: 4 });
      for (let i = 0; i < 16; i++) png.data.set([i * 17, i * 17, i * 17, 255], i * 4);
      const r2 = await post({ image: PNG.sync.write(png).toString('base64') });
      assert.equal(r2.status, 200);
      r2.json['predictions'][0].probabilities.forEach((v: number, k: number) => assert.ok(Math.abs(v - want[k]!) < 1e-6));
      // a batch of two
      const r3 = await post({
        input: [
          [[pixels.slice(0, 4), pixels.slice(4, 8), pixels.slice(8, 12), pixels.slice(12)]],
          [[pixels.slice(0, 4), pixels.slice(4, 8), pixels.slice(8, 12), pixels.slice(12)]],
        ],
      });
      assert.equal(r3.json['predictions'].length, 2);
      for (const [body, msg] of [
        [{}, /exactly one of 'input'/],
        [{ input: [1, 2] }, /has shape \[2\]; this model takes \[1,4,4\]/],
        [{ input: [[1, 2], [3]] }, /ragged/],
        [{ input: ['x'] }, /finite numbers/],
        [{ image: 'bm90IGEgcG5n' }, /'image' is not a PNG/],
        [{ text: 'hello' }, /takes 'input' or 'image', not 'text'/],
      ] as const) {
        const r = await post(body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.match(r.json['error'].message, msg);
      }
      const comp = await fetch(`${s.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"prompt":"a"}',
      });
      assert.equal(comp.status, 400);
    } finally {
      await s.shutdown();
    }
    // the text CNN reads text through the folder's tokenizer
    const tcnn = new mox.models.TextCNN({
      vocabSize: CHARS.length,
      embedDim: 8,
      numClasses: 2,
      numFilters: 4,
      kernelSizes: [2, 3],
      dropout: 0.5,
      paddingIdx: null,
      embeddingInit: null,
    });
    await saveClassifier(path.join(dir, 'tcnn'), tcnn, { tokenizer: tok });
    const t = await startServe({
      model: path.join(dir, 'tcnn'),
      host: '127.0.0.1',
      port: 0,
      maxBatch: 16,
      maxQueue: 8,
      bodyLimit: 1 << 20,
      timeoutMs: 10_000,
      device: 'cpu',
      quiet: true,
    });
    try {
      const r = await fetch(`${t.url}/v1/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: ['a cat', 'the dog ran'] }),
      });
      const j = (await r.json()) as { predictions: { probabilities: number[] }[] };
      assert.equal(r.status, 200);
      assert.equal(j.predictions.length, 2);
      const ids = tok.encode('a cat');
      const ref = mox
        .noGrad(() =>
          mox.nn.functional.softmax(tcnn.eval().forward(mox.tensor(Int32Array.from(ids), { shape: [1, ids.length], dtype: 'int32' })), -1),
        )
        .dataSync();
      j.predictions[0]!.probabilities.forEach((v, k) => assert.ok(Math.abs(v - ref[k]!) < 1e-5, `${v} ${ref[k]}`));
    } finally {
      await t.shutdown();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a quantized GPT serves: greedy completions equal its own generate()', async () => {
  const q = mox.quantize(model(), { scheme: 'int4' });
  const s = createServer({ model: q, tokenizer: tok, modelId: 'tiny-int4', logger: false });
  const u = await s.app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const c = new OpenAI({ baseURL: `${u}/v1`, apiKey: 'x', maxRetries: 0 });
    const ids = tok.encode('the dog');
    const ref = mox.noGrad(() => generate(q, [ids], { maxNewTokens: 10, temperature: 0, useCache: true }));
    const [a, b] = await Promise.all(
      [0, 1].map(() => c.completions.create({ model: 'tiny-int4', prompt: 'the dog', max_tokens: 10, temperature: 0 })),
    );
    assert.equal(a!.choices[0]!.text, tok.decode(ref.newTokens[0]!));
    assert.equal(b!.choices[0]!.text, a!.choices[0]!.text);
  } finally {
    await s.shutdown();
  }
});

test('a request still running past --timeout is stopped with 408', async () => {
  const s = createServer({ model: model(), tokenizer: tok, modelId: 'tiny', timeoutMs: 1, logger: false });
  const u = await s.app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const r = await fetch(`${u}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'a', max_tokens: 63 }),
    });
    assert.equal(r.status, 408);
    assert.match(((await r.json()) as { error: { message: string } }).error.message, /longer than 1 ms/);
    assert.equal(s.engine.stats.active, 0);
  } finally {
    await s.shutdown();
  }
});
