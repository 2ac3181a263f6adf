// `mox serve --model DIR`: an OpenAI-compatible HTTP server for a GPT checkpoint (mox's, quantized or
// not, or a Hugging Face GPT-2 folder), with continuous batching (src/serve/). Binds to 127.0.0.1
// unless told otherwise; SIGTERM or SIGINT stops it gracefully.

import * as path from 'node:path';
import * as mox from '../../index.js';
import { DataError } from '../../errors.js';
import { loadGPT } from '../../models/gpt-checkpoint.js';
import { createServer, type MoxServer } from '../../serve/server.js';
import { createClassifierServer } from '../../serve/predict.js';
import { isClassifierDir, loadClassifier } from '../../models/classifier-checkpoint.js';
import { loadModelTokenizer } from './gpt-tokenizer.js';
import { type CliCommand, type MakeUsageError, deviceFlag, intFlag } from './gpt-cli.js';

export interface ServeCommandOptions {
  model: string;
  host: string;
  port: number;
  apiKey?: string;
  maxBatch: number;
  maxQueue: number;
  bodyLimit: number;
  timeoutMs: number;
  threads?: number;
  device: string;
  quiet: boolean;
  /** The served model's name (default: the folder's name). */
  name?: string;
}

/** A running server: its address, its Fastify app, and a graceful stop. */
export interface StartedServer {
  url: string;
  app: MoxServer['app'];
  /** The language model's batching engine (null for a classifier). */
  engine: MoxServer['engine'] | null;
  shutdown(deadlineMs?: number): Promise<void>;
}

/** Loads the model (a GPT, or a classifier folder), starts listening and returns the server. */
export async function startServe(opts: ServeCommandOptions): Promise<StartedServer> {
  await mox.initDevice(opts.device);
  if (opts.threads !== undefined) mox.setNumThreads(opts.threads);
  const modelId = opts.name ?? path.basename(path.resolve(opts.model));
  if (isClassifierDir(opts.model)) {
    const classifier = loadClassifier(opts.model);
    const server = createClassifierServer({
      classifier,
      modelId,
      ...(opts.apiKey !== undefined ? { apiKey: opts.apiKey } : {}),
      bodyLimit: opts.bodyLimit,
      logger: !opts.quiet,
    });
    const url = await server.app.listen({ host: opts.host, port: opts.port });
    return { url, app: server.app, engine: null, shutdown: () => server.shutdown() };
  }
  const { model } = loadGPT(opts.model);
  const tokenizer = loadModelTokenizer(opts.model);
  if (!tokenizer)
    throw new DataError(
      'serve',
      `${opts.model} has no tokenizer (tokenizer.json, or vocab.json + merges.txt): the server needs one to read prompts`,
    );
  if (opts.device !== 'cpu') await model.toAsync(opts.device);
  const server = createServer({
    model,
    tokenizer,
    modelId,
    ...(opts.apiKey !== undefined ? { apiKey: opts.apiKey } : {}),
    maxBatch: opts.maxBatch,
    maxQueue: opts.maxQueue,
    bodyLimit: opts.bodyLimit,
    timeoutMs: opts.timeoutMs,
    logger: !opts.quiet,
  });
  const url = await server.app.listen({ host: opts.host, port: opts.port });
  return { url, app: server.app, engine: server.engine, shutdown: (d) => server.shutdown(d) };
}

const SERVE_USAGE = `usage: mox serve --model DIR [--host 127.0.0.1] [--port 8080] [options]

Serves a GPT checkpoint (a mox checkpoint folder, quantized or not, or a Hugging Face GPT-2 folder) over
HTTP with OpenAI's API, so the official clients work unchanged; or a classifier checkpoint folder (an
MLP or CNN Sequential, or the text CNN) on POST /v1/predict:

  POST /v1/completions        prompt (text or token ids), max_tokens, temperature, top_p, stop, seed, n,
                              stream (Server-Sent Events), logprobs
  POST /v1/chat/completions   messages, rendered as "role: content" lines then "assistant:"
  POST /v1/predict            (a classifier) {"input": tensor} | {"image": base64 PNG} | {"text": "..."}:
                              each example's class probabilities and top class
  GET  /v1/models             the served model
  GET  /health                {"status":"ok"}
  GET  /metrics               Prometheus: requests by status, tokens in and out, time to first token and
                              inter-token latency histograms, queue depth, memory

Concurrent requests share each decoding step (continuous batching): a request joins the running batch
between steps and leaves when it finishes or its client disconnects. Each samples with its own settings
and seed. JSON access logs go to stdout.

  --model DIR         the checkpoint folder
  --host H            the address to bind (default 127.0.0.1: this machine only)
  --port N            the port (default 8080; 0 picks a free one)
  --name NAME         the model's name in the API (default: the folder's name)
  --api-key KEY       require "Authorization: Bearer KEY" on /v1/* (compared in constant time)
  --max-batch N       the most sequences decoded together (default 16)
  --max-queue N       the most requests waiting for a slot; past it: 429 with Retry-After (default 64)
  --body-limit BYTES  the largest request body (default 1048576)
  --timeout S         stop a request still running after S seconds (default 300)
  --threads N         CPU threads (default: all cores)
  --device D          cpu (default) or webgpu
  --quiet             no access logs`;

export function serveCommand(bad: MakeUsageError): CliCommand {
  const str = { type: 'string' } as const;
  return {
    summary: "serve a GPT over HTTP with OpenAI's API (continuous batching)",
    usage: SERVE_USAGE,
    options: {
      model: str,
      host: str,
      port: str,
      name: str,
      'api-key': str,
      'max-batch': str,
      'max-queue': str,
      'body-limit': str,
      timeout: str,
      threads: str,
      device: str,
      quiet: { type: 'boolean' },
    },
    async run(values, positionals) {
      if (positionals.length > 0) throw bad(`serve: unexpected argument '${positionals[0]}'`);
      const model = values['model'];
      if (typeof model !== 'string' || model === '') throw bad('serve: --model DIR is required');
      const port = intFlag(bad, values, 'port', 8080, 0);
      if (port > 65535) throw bad(`serve: --port must be at most 65535, got ${port}`);
      const apiKey = values['api-key'];
      if (apiKey !== undefined && (typeof apiKey !== 'string' || apiKey === '')) throw bad('serve: --api-key needs a value');
      const name = values['name'];
      const server = await startServe({
        model,
        host: typeof values['host'] === 'string' ? values['host'] : '127.0.0.1',
        port,
        ...(typeof apiKey === 'string' ? { apiKey } : {}),
        ...(typeof name === 'string' ? { name } : {}),
        maxBatch: intFlag(bad, values, 'max-batch', 16, 1),
        maxQueue: intFlag(bad, values, 'max-queue', 64, 0),
        bodyLimit: intFlag(bad, values, 'body-limit', 1 << 20, 1),
        timeoutMs: intFlag(bad, values, 'timeout', 300, 1) * 1000,
        threads: intFlag(bad, values, 'threads', undefined, 1),
        device: deviceFlag(bad, values['device']),
        quiet: values['quiet'] === true,
      });
      console.error(`mox serve: ${server.url} (model ${path.resolve(model)}; POST /v1/completions, /v1/chat/completions)`);
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          console.error(`mox serve: ${signal}: finishing the running requests, then stopping`);
          void server.shutdown(10_000).then(resolve);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
    },
  };
}
