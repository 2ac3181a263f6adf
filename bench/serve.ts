// `npm run bench:serve`: a load test of `mox serve` on loopback, bounded in time and count. For each
// model shape (the Tiny Shakespeare GPT's: 4 x 128, char vocabulary, block 64; GPT-2 small's: 12 x 768,
// GPT-2's BPE, block 1024; random weights, since speed does not depend on their values) it starts
// `mox serve` as a child process and runs 1, 4 and 16 concurrent clients, each streaming a few
// completions of a fixed length (no stop sequence, so every request generates exactly max_tokens):
// aggregate tokens/s, p50/p99 time to first token and inter-token latency, errors, the server's peak
// RSS (from its /metrics). Then a fuzz of malformed requests (bad JSON, wrong types, huge values, slow
// bodies, early disconnects) against the same server: crashes and 5xx must be 0. --soak S keeps 16
// clients running for S seconds and samples the RSS every 10 s (RSS must stay flat).
//
//   node dist/bench/serve.js [--models shakespeare,gpt2] [--requests N] [--soak S] [--fuzz N] [--threads T]
//
// Prints markdown tables; writes bench/results/serve.md and serve.json.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as mox from '../src/index.js';
import { writeFileAtomicSync as writeFileAtomic } from '../src/io/atomic.js';
import { GPT } from '../src/models/gpt.js';
import { saveGPTWeights } from '../src/models/gpt-checkpoint.js';
import { CharTokenizer } from '../src/text/char.js';
import { GPT2Tokenizer } from '../src/text/gpt2.js';
import { writeFileSync } from 'node:fs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MAIN = join(root, 'dist', 'src', 'cli', 'main.js');
const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'shakespeare,gpt2' },
    requests: { type: 'string', default: '2' },
    soak: { type: 'string', default: '0' },
    fuzz: { type: 'string', default: '300' },
    threads: { type: 'string' },
  },
});
const REQUESTS = Number(values.requests);
const SOAK_S = Number(values.soak);
const FUZZ = Number(values.fuzz);
const dataDir = resolve(process.env['MOX_DATA_DIR'] ?? join(root, '..', 'shared', 'data'));

interface Shape {
  name: string;
  cfg: { vocabSize: number; blockSize: number; nLayer: number; nHead: number; nEmbd: number };
  prompt: string;
  maxTokens: number;
  tokenizer: () => { save(dir: string): void; vocabSize?: number };
}

const SHAPES: Record<string, Shape> = {
  shakespeare: {
    name: 'Tiny Shakespeare GPT (4 x 128, block 64)',
    cfg: { vocabSize: 65, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128 },
    prompt: 'ROMEO:\n',
    maxTokens: 48,
    tokenizer: () => CharTokenizer.fromCorpus("\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
  },
  gpt2: {
    name: "GPT-2 small's shape (12 x 768, vocab 50257)",
    cfg: { vocabSize: 50257, blockSize: 1024, nLayer: 12, nHead: 12, nEmbd: 768 },
    prompt: 'The meaning of life is',
    maxTokens: 64,
    tokenizer: () => GPT2Tokenizer.fromFiles(join(dataDir, 'gpt2-bpe', 'encoder.json'), join(dataDir, 'gpt2-bpe', 'vocab.bpe')),
  },
};

const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function startServer(dir: string): Promise<{ child: ChildProcess; url: string }> {
  const args = [MAIN, 'serve', '--model', dir, '--port', '0', '--quiet', '--max-batch', '16', '--max-queue', '64'];
  if (values.threads) args.push('--threads', String(values.threads));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const url = await new Promise<string>((ok, fail) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d;
      const m = /mox serve: (http:\/\/[\d.]+:\d+)/.exec(err);
      if (m) ok(m[1]!);
    });
    child.on('exit', (code) => fail(new Error(`mox serve exited ${code}: ${err}`)));
  });
  return { child, url };
}

async function rss(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^mox_resident_memory_bytes (\d+)/m.exec(text)?.[1] ?? Number.NaN);
}

async function fiveHundreds(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return [...text.matchAll(/^mox_requests_total\{[^}]*status="5\d\d"\} (\d+)/gm)].reduce((s, m) => s + Number(m[1]), 0);
}

interface StreamStats {
  /** Chunks received (a chunk may carry several tokens' text: BPE pieces of one UTF-8 character). */
  chunks: number;
  /** The completion's tokens: max_tokens when it ended with finish_reason 'length'. */
  tokens: number;
  ttft: number;
  gaps: number[];
  error: string | null;
}

/** One streaming completion; times the first token and the gaps between the chunks. */
async function streamOnce(url: string, shape: Shape, seed: number): Promise<StreamStats> {
  const t0 = performance.now();
  const out: StreamStats = { chunks: 0, tokens: 0, ttft: Number.NaN, gaps: [], error: null };
  try {
    const res = await fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: shape.prompt, max_tokens: shape.maxTokens, temperature: 0.8, seed, stream: true }),
    });
    if (res.status !== 200) {
      out.error = `status ${res.status}`;
      return out;
    }
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let buf = '';
    let last = t0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
        const chunk = JSON.parse(line.slice(6)) as { choices: { text: string; finish_reason: string | null }[] };
        const finish = chunk.choices[0]!.finish_reason;
        if (finish) {
          if (finish === 'length') out.tokens = shape.maxTokens;
          else out.error = `finish_reason ${finish}`;
          continue;
        }
        const now = performance.now();
        if (out.chunks === 0) out.ttft = (now - t0) / 1000;
        else out.gaps.push((now - last) / 1000);
        last = now;
        out.chunks++;
      }
    }
  } catch (e) {
    out.error = (e as Error).message;
  }
  return out;
}

interface LoadRow {
  model: string;
  clients: number;
  requests: number;
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
  ttftP50: number;
  ttftP99: number;
  itlP50: number;
  itlP99: number;
  errors: number;
  peakRssMiB: number;
}

async function load(url: string, shape: Shape, clients: number): Promise<LoadRow> {
  let peak = await rss(url);
  const sampler = setInterval(() => {
    void rss(url).then((r) => {
      peak = Math.max(peak, r);
    });
  }, 500);
  const t0 = performance.now();
  const results = await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const mine: StreamStats[] = [];
      for (let r = 0; r < REQUESTS; r++) mine.push(await streamOnce(url, shape, c * 1000 + r));
      return mine;
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, await rss(url));
  const all = results.flat();
  const tokens = all.reduce((s, r) => s + r.tokens, 0);
  return {
    model: shape.name,
    clients,
    requests: all.length,
    tokens,
    seconds: Number(seconds.toFixed(2)),
    tokensPerSecond: Number((tokens / seconds).toFixed(2)),
    ttftP50: pct(
      all.map((r) => r.ttft),
      50,
    ),
    ttftP99: pct(
      all.map((r) => r.ttft),
      99,
    ),
    itlP50: pct(
      all.flatMap((r) => r.gaps),
      50,
    ),
    itlP99: pct(
      all.flatMap((r) => r.gaps),
      99,
    ),
    errors: all.filter((r) => r.error || r.tokens !== shape.maxTokens).length,
    peakRssMiB: Number((peak / 1024 / 1024).toFixed(1)),
  };
}

/** Raw bytes over a socket: for bodies that arrive slowly, lie about their length, or stop half-way. */
function rawRequest(url: string, text: string, slowMs = 0, cut = false): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((done) => {
    const sock = connect(Number(port), hostname);
    let reply = '';
    sock.on('data', (d) => {
      reply += d;
    });
    sock.on('error', () => done(0));
    sock.on('close', () => done(Number(/^HTTP\/1\.1 (\d+)/.exec(reply)?.[1] ?? 0)));
    sock.on('connect', async () => {
      if (slowMs) {
        for (const ch of text) {
          if (sock.destroyed) return;
          sock.write(ch);
          await new Promise((r) => setTimeout(r, slowMs));
        }
      } else sock.write(cut ? text.slice(0, Math.floor(text.length / 2)) : text);
      if (cut) setTimeout(() => sock.destroy(), 20);
      else sock.end();
    });
  });
}

async function fuzz(
  url: string,
  n: number,
): Promise<{ requests: number; statuses: Record<string, number>; fiveHundreds: number; alive: boolean }> {
  const g = new mox.Generator(42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(g.random() * xs.length)]!;
  const weird = [null, true, -1, 0, 1e308, -1e308, 'x', '', [], {}, [[[]]], 'a'.repeat(10000), 2 ** 53, 0.5, Number.NaN];
  const fields = ['prompt', 'max_tokens', 'temperature', 'top_p', 'n', 'stop', 'seed', 'stream', 'logprobs', 'messages', 'model'];
  const statuses: Record<string, number> = {};
  let count = 0;
  const tally = (s: number) => {
    statuses[s] = (statuses[s] ?? 0) + 1;
    count++;
  };
  for (let i = 0; i < n; i++) {
    const kind = i % 6;
    const path = pick(['/v1/completions', '/v1/chat/completions']);
    if (kind === 0) {
      // a valid-looking body with one or two fields replaced by weird values
      const body: Record<string, unknown> = path.endsWith('chat/completions')
        ? { messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }
        : { prompt: 'hi', max_tokens: 4 };
      for (let k = 0; k < 2; k++) body[pick(fields)] = pick(weird);
      const r = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).catch(() => null);
      tally(r ? r.status : 0);
      if (r) await r.arrayBuffer().catch(() => null);
    } else if (kind === 1) {
      // broken JSON
      const text = JSON.stringify({ prompt: 'hi', max_tokens: 3 });
      const cutAt = Math.floor(g.random() * text.length);
      const r = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: text.slice(0, cutAt) + pick(['}', '{', '"', '\u0000', '', ']]']),
      }).catch(() => null);
      tally(r ? r.status : 0);
      if (r) await r.arrayBuffer().catch(() => null);
    } else if (kind === 2) {
      // a body that arrives slowly (a few bytes, 5 ms apart)
      const body = '{"prompt":"a","max_tokens":2}';
      tally(
        await rawRequest(
          url,
          `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
          5,
        ),
      );
    } else if (kind === 3) {
      // a request cut off half-way
      const body = '{"prompt":"a","max_tokens":2}';
      await rawRequest(
        url,
        `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        0,
        true,
      );
      count++;
    } else if (kind === 4) {
      // a streaming request abandoned after its first chunk
      const ac = new AbortController();
      const r = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'hi', max_tokens: 40, stream: true }),
        signal: ac.signal,
      }).catch(() => null);
      if (r?.body)
        await r.body
          .getReader()
          .read()
          .catch(() => null);
      ac.abort();
      tally(r ? r.status : 0);
    } else {
      // a header that lies about the length, or a huge one
      const big = g.random() < 0.5;
      tally(
        await rawRequest(
          url,
          big
            ? `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\nConnection: close\r\n\r\n{}`
            : `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{"prompt":"a"}`,
        ),
      );
    }
  }
  let alive = false;
  try {
    alive = (await fetch(`${url}/health`)).status === 200;
  } catch {
    alive = false;
  }
  return { requests: count, statuses, fiveHundreds: await fiveHundreds(url), alive };
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(os.tmpdir(), 'mox-bench-serve-'));
  const rows: LoadRow[] = [];
  const notes: string[] = [];
  const fuzzes: Record<string, unknown> = {};
  const soaks: Record<string, unknown> = {};
  try {
    for (const key of String(values.models).split(',')) {
      const shape = SHAPES[key];
      if (!shape) throw new Error(`unknown model '${key}' (shakespeare, gpt2)`);
      const dir = join(tmp, key);
      mkdirSync(dir);
      const m = new GPT({ ...shape.cfg, generator: new mox.Generator(0) });
      await saveGPTWeights(dir, m);
      for (const p of m.parameters()) p.dispose();
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ gpt: m.config }));
      shape.tokenizer().save(dir);
      const { child, url } = await startServer(dir);
      try {
        await streamOnce(url, shape, 0); // warm up
        for (const clients of [1, 4, 16]) {
          const row = await load(url, shape, clients);
          rows.push(row);
          console.error(`bench:serve: ${key} ${clients} clients: ${row.tokensPerSecond} tokens/s, ${row.errors} errors`);
        }
        if (SOAK_S > 0) {
          const samples: number[] = [];
          const end = performance.now() + SOAK_S * 1000;
          let errors = 0;
          let tokens = 0;
          const sampler = setInterval(() => {
            void rss(url).then((r) => samples.push(Number((r / 1024 / 1024).toFixed(1))));
          }, 10_000);
          await Promise.all(
            Array.from({ length: 16 }, async (_, c) => {
              for (let r = 0; performance.now() < end; r++) {
                const s = await streamOnce(url, shape, c * 100000 + r);
                tokens += s.tokens;
                if (s.error) errors++;
              }
            }),
          );
          clearInterval(sampler);
          soaks[key] = { seconds: SOAK_S, tokens, errors, rssMiB: samples };
          console.error(`bench:serve: ${key} soak ${SOAK_S} s: RSS ${samples.join(' ')} MiB, ${errors} errors`);
        }
        if (FUZZ > 0) {
          fuzzes[key] = await fuzz(url, FUZZ);
          console.error(`bench:serve: ${key} fuzz: ${JSON.stringify(fuzzes[key])}`);
        }
      } finally {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const f3 = (v: number) => (Number.isNaN(v) ? '-' : (v * 1000).toFixed(1));
  const lines = [
    `mox serve on loopback, ${os.cpus()[0]?.model ?? 'CPU'} (${os.cpus().length} cores), random weights; each client streams ${REQUESTS} completions one after another (temperature 0.8, no stop, so each generates max_tokens: an error is a failed request or one that did not end with finish_reason 'length'); times in ms; inter-token latency is measured between streamed chunks.`,
    '',
    '| model | clients | tokens/s | x 1 client | TTFT p50 | TTFT p99 | ITL p50 | ITL p99 | errors | peak RSS (MiB) |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => {
      const one = rows.find((x) => x.model === r.model && x.clients === 1)!;
      return `| ${r.model} | ${r.clients} | ${r.tokensPerSecond} | ${(r.tokensPerSecond / one.tokensPerSecond).toFixed(2)} | ${f3(r.ttftP50)} | ${f3(r.ttftP99)} | ${f3(r.itlP50)} | ${f3(r.itlP99)} | ${r.errors} | ${r.peakRssMiB} |`;
    }),
  ];
  for (const [k, v] of Object.entries(fuzzes)) lines.push('', `fuzz (${k}): ${JSON.stringify(v)}`);
  for (const [k, v] of Object.entries(soaks)) lines.push('', `soak (${k}): ${JSON.stringify(v)}`);
  lines.push(...notes);
  const md = lines.join('\n');
  console.log(md);
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  writeFileAtomic(join(root, 'bench', 'results', 'serve.md'), `${md}\n`);
  writeFileAtomic(join(root, 'bench', 'results', 'serve.json'), `${JSON.stringify({ rows, fuzz: fuzzes, soak: soaks }, null, 2)}\n`);
}

await main();
