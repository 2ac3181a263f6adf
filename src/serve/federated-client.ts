// Federated clients over HTTP on loopback (or a network): a client process serves its Client's fit
// and evaluate on mox's Fastify base (serveClient), and the server process talks to it through
// HttpClient, a Client like any other. Weights travel as safetensors bytes, the config and the
// results' numbers in the file's metadata. A call that times out, a process that died or an error
// answer is a ClientFailureError, which the strategy raises or, with acceptFailures, goes on without.
//
//   POST /v1/federated/fit       safetensors (weights; metadata mox.config) -> safetensors (weights or
//                                delta; metadata mox.kind, mox.numExamples, mox.metrics)
//   POST /v1/federated/evaluate  safetensors (weights; metadata mox.config) -> JSON { loss, numExamples, metrics }
//
// spawnClientProcess / runClientProcess start such processes from the server's side and serve in them.

import { type ChildProcess, spawn } from 'node:child_process';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ClientFailureError, MoxError, ValueError } from '../errors.js';
import type { Client, Config, EvaluateRes, FitRes, Metrics } from '../federated/client.js';
import type { Weights } from '../federated/weights.js';
import { safetensorsFromTensors, tensorsFromSafetensors } from '../io/safetensors-tensors.js';
import { ServerMetrics } from './metrics.js';
import { type BaseServeOptions, baseServer, errorBody } from './server.js';

/** Where and how a client is served. */
export interface ClientServerOptions extends BaseServeOptions {
  /** Default 127.0.0.1 (loopback only). */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
}

/** A served client: its base URL and how to stop it. */
export interface ClientServer {
  /** The base URL, e.g. http://127.0.0.1:41271, for HttpClient. */
  url: string;
  /** The Fastify instance. */
  app: FastifyInstance;
  /** Stops listening. */
  close(): Promise<void>;
}

const numberOr = (v: string | undefined, dflt: number): number => (v === undefined ? dflt : Number(v));

/** A JSON object of numbers from the metadata, or a ValueError. */
function parseRecord(op: string, text: string | undefined, what: string): Record<string, number | string | boolean> {
  if (text === undefined) return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ValueError(op, `${what} is not JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ValueError(op, `${what} must be a JSON object`);
  return v as Record<string, number | string | boolean>;
}

/** The weights and config of a request body. */
function readRequest(op: string, body: unknown): { weights: Weights; config: Config } {
  if (!(body instanceof Uint8Array))
    throw new ValueError(op, 'the body must be safetensors bytes (Content-Type: application/octet-stream)');
  const { tensors, metadata } = tensorsFromSafetensors(body, 'the request');
  return { weights: tensors, config: parseRecord(op, metadata['mox.config'], 'mox.config') };
}

const dispose = (w: Weights | undefined): void => {
  for (const t of Object.values(w ?? {})) t.dispose();
};

/**
 * Serves `client`'s fit and evaluate over HTTP (on loopback by default) with mox's Fastify base
 * (GET /health, /metrics, an optional API key). Bad requests are 4xx, the client's own errors 500,
 * both in the OpenAI-style error body the other routes use.
 */
export async function serveClient(client: Client, opts: ClientServerOptions = {}): Promise<ClientServer> {
  const metrics = new ServerMetrics(
    () => 0,
    () => 0,
  );
  const bodyLimit = opts.bodyLimit ?? 2 ** 30;
  const app = baseServer({ ...opts, bodyLimit }, metrics);
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));

  const handle = async <R>(body: unknown, op: string, run: (w: Weights, c: Config) => Promise<R>): Promise<R | { bad: string }> => {
    let req: { weights: Weights; config: Config };
    try {
      req = readRequest(op, body);
    } catch (e) {
      return { bad: (e as Error).message };
    }
    try {
      return await run(req.weights, req.config);
    } finally {
      dispose(req.weights);
    }
  };
  const fail = (reply: FastifyReply, e: unknown) =>
    reply
      .code(500)
      .send(errorBody(e instanceof Error ? e.message : String(e), 'client_error', null, e instanceof MoxError ? e.name : null));

  app.post('/v1/federated/fit', async (req, reply) => {
    let res: FitRes | { bad: string };
    try {
      res = await handle(req.body, 'federated.fit', (w, c) => client.fit(w, c));
    } catch (e) {
      return fail(reply, e);
    }
    if ('bad' in res) return reply.code(400).send(errorBody(res.bad, 'invalid_request_error'));
    try {
      const kind = res.weights ? 'weights' : 'delta';
      const bytes = safetensorsFromTensors((res.weights ?? res.delta)!, {
        'mox.kind': kind,
        'mox.numExamples': String(res.numExamples),
        'mox.metrics': JSON.stringify(res.metrics ?? {}),
      });
      return reply.header('content-type', 'application/octet-stream').send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch (e) {
      return fail(reply, e);
    } finally {
      dispose(res.weights);
      dispose(res.delta);
    }
  });

  app.post('/v1/federated/evaluate', async (req, reply) => {
    let res: EvaluateRes | { bad: string };
    try {
      res = await handle(req.body, 'federated.evaluate', (w, c) => client.evaluate(w, c));
    } catch (e) {
      return fail(reply, e);
    }
    if ('bad' in res) return reply.code(400).send(errorBody(res.bad, 'invalid_request_error'));
    return res;
  });

  const host = opts.host ?? '127.0.0.1';
  await app.listen({ host, port: opts.port ?? 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, app, close: () => app.close() };
}

/** How an HttpClient reaches its client. */
export interface HttpClientOptions {
  /** The id in history and messages (default: the URL). */
  id?: string;
  /** A call that takes longer fails with a ClientFailureError (default 600 000 ms; Flower's round_timeout). */
  timeoutMs?: number;
  /** Sent as `Authorization: Bearer <apiKey>` to a client served with one. */
  apiKey?: string;
}

/** A Client whose fit and evaluate run in another process, reached over HTTP (the server's ClientProxy). */
export class HttpClient implements Client {
  readonly id: string;
  /** A call taking longer fails with a ClientFailureError. */
  readonly timeoutMs: number;
  /** A proxy for the client served at `url` (by serveClient or a client process). */
  constructor(
    /** The client's base URL, e.g. http://127.0.0.1:41271 (a trailing slash is dropped). */
    readonly url: string,
    private readonly options: HttpClientOptions = {},
  ) {
    if (typeof url !== 'string' || !/^https?:\/\//.test(url))
      throw new ValueError('federated.HttpClient', `expected an http(s) URL, got ${JSON.stringify(url)}`);
    this.url = url.replace(/\/+$/, '');
    this.id = options.id ?? this.url;
    this.timeoutMs = options.timeoutMs ?? 600_000;
    if (!(this.timeoutMs > 0)) throw new ValueError('federated.HttpClient', `timeoutMs must be positive, got ${this.timeoutMs}`);
  }

  /** POSTs the weights and config; the response, or a ClientFailureError saying why there is none. */
  private async post(path: 'fit' | 'evaluate', weights: Weights, config: Config): Promise<Response> {
    const round = typeof config.round === 'number' ? config.round : 0;
    const failure = (why: string) =>
      new ClientFailureError('federated', `client ${this.id} failed to ${path} in round ${round}: ${why}`, { client: this.id, round });
    const body = safetensorsFromTensors(weights, { 'mox.config': JSON.stringify(config) });
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
    if (this.options.apiKey !== undefined) headers.authorization = `Bearer ${this.options.apiKey}`;
    let res: Response;
    try {
      res = await fetch(`${this.url}/v1/federated/${path}`, { method: 'POST', headers, body, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      if (err.name === 'TimeoutError') throw failure(`no answer within ${this.timeoutMs} ms`);
      throw failure(`${this.url} cannot be reached (${err.cause?.code ?? err.cause?.message ?? err.message})`);
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      let message = text.slice(0, 500);
      try {
        message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? message;
      } catch {
        // not JSON: the text as it came
      }
      throw failure(`HTTP ${res.status}: ${message}`);
    }
    return res;
  }

  /** The remote client's fit: the weights and config sent as safetensors, its new weights back. */
  async fit(weights: Weights, config: Config): Promise<FitRes> {
    const res = await this.post('fit', weights, config);
    try {
      const bytes = new Uint8Array(await res.arrayBuffer());
      const { tensors, metadata } = tensorsFromSafetensors(bytes, `${this.id}'s fit`);
      const metrics = parseRecord('federated.HttpClient', metadata['mox.metrics'], 'mox.metrics') as Metrics;
      const numExamples = numberOr(metadata['mox.numExamples'], Number.NaN);
      return metadata['mox.kind'] === 'delta' ? { delta: tensors, numExamples, metrics } : { weights: tensors, numExamples, metrics };
    } catch (e) {
      // a body cut short or garbled is the client's failure, like no answer at all
      const round = typeof config.round === 'number' ? config.round : 0;
      throw new ClientFailureError(
        'federated',
        `client ${this.id} failed to fit in round ${round}: its answer is unreadable: ${(e as Error).message}`,
        {
          client: this.id,
          round,
        },
      );
    }
  }

  /** The remote client's evaluate. */
  async evaluate(weights: Weights, config: Config): Promise<EvaluateRes> {
    const res = await this.post('evaluate', weights, config);
    return (await res.json()) as EvaluateRes;
  }
}

/** The line a client process prints once its clients listen: the marker, then their URLs as JSON. */
export const CLIENTS_READY = 'MOX_FEDERATED_CLIENTS';

/**
 * The body of a client process: serves each client on loopback, prints `MOX_FEDERATED_CLIENTS
 * ["url", ...]` on stdout, and exits when its stdin closes (the server process stopped it, or died).
 */
export async function runClientProcess(clients: readonly Client[], opts: ClientServerOptions = {}): Promise<ClientServer[]> {
  const servers: ClientServer[] = [];
  for (const c of clients) servers.push(await serveClient(c, opts));
  process.stdout.write(`${CLIENTS_READY} ${JSON.stringify(servers.map((s) => s.url))}\n`);
  process.stdin.on('end', () => {
    void Promise.allSettled(servers.map((s) => s.close())).then(() => process.exit(0));
  });
  process.stdin.resume();
  return servers;
}

/** A started client process: its clients' URLs, the process, and how to stop it. */
export interface ClientProcess {
  /** Its clients' base URLs, in the order it serves them (one HttpClient each). */
  urls: string[];
  /** The Node.js child process. */
  child: ChildProcess;
  /** Closes its stdin (it exits), and kills it if it has not within 5 s. */
  stop(): Promise<void>;
}

/**
 * Starts `node script ...args` (a program that calls runClientProcess) and waits for its clients'
 * URLs. Its other output lines go to onOutput; it failing to start is a ClientFailureError.
 */
export function spawnClientProcess(
  script: string,
  args: readonly string[] = [],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; onOutput?: (line: string) => void } = {},
): Promise<ClientProcess> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin?.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  return new Promise((resolve, reject) => {
    const failed = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(
        new ClientFailureError('federated', `client process ${script} ${why}${stderr ? `: ${stderr.trim()}` : ''}`, {
          client: script,
          round: 0,
        }),
      );
    };
    const timer = setTimeout(() => failed(`did not start within ${opts.timeoutMs ?? 60_000} ms`), opts.timeoutMs ?? 60_000);
    let pending = '';
    let ready = false;
    child.stdout?.on('data', (d: Buffer) => {
      pending += d.toString();
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (!ready && line.startsWith(`${CLIENTS_READY} `)) {
          ready = true;
          clearTimeout(timer);
          resolve({ urls: JSON.parse(line.slice(CLIENTS_READY.length + 1)) as string[], child, stop });
        } else opts.onOutput?.(line);
      }
    });
    child.once('exit', (code, signal) => {
      if (!ready) failed(`exited (${signal ?? `code ${code}`}) before its clients listened`);
    });
  });
}
