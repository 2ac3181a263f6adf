// `mox serve`'s HTTP side, on Fastify: OpenAI's API for a GPT (POST /v1/completions, POST
// /v1/chat/completions, GET /v1/models), streamed as OpenAI streams (Server-Sent Events, `data: {chunk}`
// lines, then `data: [DONE]`), plus GET /health and GET /metrics (Prometheus). Generation goes through
// the continuous-batching engine (engine.ts). Every field is checked here; a bad request is a 4xx in
// OpenAI's error shape ({ error: { message, type, param, code } }), never a 5xx.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { GPT } from '../models/gpt.js';
import type { Tokenizer } from '../text/tokenizer.js';
import { type FinishReason, GenerationEngine, QueueFullError, type TokenInfo } from './engine.js';
import { ServerMetrics } from './metrics.js';
import { type ChatMessage, type CompletionParams, RequestError, parseChatRequest, parseCompletionRequest, renderChat } from './requests.js';

export interface ServeOptions {
  model: GPT;
  tokenizer: Tokenizer;
  /** The model's name in /v1/models and in responses. */
  modelId: string;
  /** When set, /v1/* needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  maxBatch?: number;
  maxQueue?: number;
  /** Largest request body in bytes (default 1 MiB). */
  bodyLimit?: number;
  /** A request still generating after this many ms is stopped (default 300 000). */
  timeoutMs?: number;
  /** Fastify's logger: true for JSON access logs on stdout, false for none, or pino options. */
  logger?: boolean | Record<string, unknown>;
}

export interface MoxServer {
  app: FastifyInstance;
  engine: GenerationEngine;
  metrics: ServerMetrics;
  /** Stops accepting connections, lets running requests finish (cancelling them after deadlineMs), closes. */
  shutdown(deadlineMs?: number): Promise<void>;
}

export function errorBody(message: string, type: string, param: string | null = null, code: string | null = null) {
  return { error: { message, type, param, code } };
}

const sha = (s: string): Buffer => createHash('sha256').update(s).digest();

/** One generation's result as the handlers need it. */
interface Generated {
  tokens: number[];
  infos: TokenInfo[];
  text: string;
  finish: 'length' | 'stop';
}

export function createServer(opts: ServeOptions): MoxServer {
  const { model, tokenizer, modelId } = opts;
  const engine = new GenerationEngine(model, { maxBatch: opts.maxBatch, maxQueue: opts.maxQueue });
  const metrics = new ServerMetrics(
    () => engine.stats.queued,
    () => engine.stats.active,
  );
  const timeoutMs = opts.timeoutMs ?? 300_000;
  const created = Math.floor(Date.now() / 1000);
  const app = baseServer(opts, metrics);
  app.get('/v1/models', async () => ({
    object: 'list',
    data: [{ id: modelId, object: 'model', created, owned_by: 'mox', max_model_len: model.config.blockSize }],
  }));

  const encode = (text: string, param: string): number[] => {
    try {
      return tokenizer.encode(text);
    } catch (e) {
      throw new RequestError(`${param}: ${(e as Error).message}`, param);
    }
  };

  /**
   * Runs one generation. onText gets each new piece of text that is safe to show (held back while it
   * could still turn into a stop sequence); the promise resolves when the request ends.
   */
  const generate = (
    reply: FastifyReply,
    prompt: number[],
    p: CompletionParams,
    seed: number | undefined,
    onText?: (piece: string, tokens: number[], infos: TokenInfo[]) => void,
  ): Promise<Generated> =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      let last = t0;
      const tokens: number[] = [];
      const infos: TokenInfo[] = [];
      let shown = 0;
      let text = '';
      let pendingTokens: number[] = [];
      let pendingInfos: TokenInfo[] = [];
      metrics.promptTokens.inc({}, prompt.length);
      const flush = (upTo: number) => {
        if (upTo > shown && onText) {
          onText(text.slice(shown, upTo), pendingTokens, pendingInfos);
          pendingTokens = [];
          pendingInfos = [];
        }
        shown = Math.max(shown, upTo);
      };
      let stopped = false;
      const sub = engine.submit({
        prompt,
        maxTokens: p.maxTokens,
        temperature: p.temperature,
        topP: p.topP,
        seed,
        logprobs: p.logprobs,
        onToken: (token, info) => {
          const now = performance.now();
          if (tokens.length === 0) metrics.timeToFirstToken.observe((now - t0) / 1000);
          else metrics.interTokenLatency.observe((now - last) / 1000);
          last = now;
          metrics.generatedTokens.inc();
          tokens.push(token);
          infos.push(info);
          pendingTokens.push(token);
          pendingInfos.push(info);
          text = tokenizer.decode(tokens);
          // a stop sequence ends the text before it
          for (const s of p.stop) {
            const at = text.indexOf(s, Math.max(0, shown - s.length));
            if (at >= 0) {
              text = text.slice(0, at);
              flush(at);
              stopped = true;
              return false;
            }
          }
          // hold back a tail that may still grow into a stop sequence, and an unfinished UTF-8 character
          let safe = text.length;
          if (text.endsWith('\uFFFD')) safe--;
          for (const s of p.stop) {
            for (let k = Math.min(s.length - 1, text.length); k > 0; k--) {
              if (text.endsWith(s.slice(0, k))) {
                safe = Math.min(safe, text.length - k);
                break;
              }
            }
          }
          flush(safe);
        },
        onDone: (reason: FinishReason, error?: Error) => {
          clearTimeout(timer);
          reply.raw.off('close', onClose);
          if (reason === 'error') return reject(error ?? new Error('generation failed'));
          if (reason === 'cancelled') return reject(new CancelledError(timedOut ? 'timeout' : 'client'));
          flush(text.length);
          resolve({ tokens, infos, text, finish: stopped || reason === 'stop' ? 'stop' : 'length' });
        },
      });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        sub.cancel();
      }, timeoutMs);
      // a client that goes away frees its slot at once
      const onClose = () => {
        if (!reply.raw.writableFinished) sub.cancel();
      };
      reply.raw.on('close', onClose);
    });

  const fail = (reply: FastifyReply, e: unknown): FastifyReply => {
    if (e instanceof RequestError) return reply.code(400).send(errorBody(e.message, 'invalid_request_error', e.param));
    if (e instanceof QueueFullError) {
      reply.header('retry-after', '1');
      return reply
        .code(429)
        .send(errorBody(`The server is busy: ${e.message}. Retry after 1 second.`, 'rate_limit_exceeded', null, 'rate_limit_exceeded'));
    }
    if (e instanceof CancelledError) {
      return reply
        .code(e.why === 'timeout' ? 408 : 499)
        .send(
          errorBody(e.why === 'timeout' ? `The request took longer than ${timeoutMs} ms.` : 'The client closed the request.', 'timeout'),
        );
    }
    if (e instanceof Error && e.name === 'ValueError')
      return reply.code(400).send(errorBody(e.message.replace(/^serve: /, ''), 'invalid_request_error'));
    throw e;
  };

  /** Writes the SSE head, then `data:` lines; returns the writer and a finisher. */
  const sse = (reply: FastifyReply) => {
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    return {
      send: (obj: unknown) => {
        if (!reply.raw.destroyed) reply.raw.write(`data: ${JSON.stringify(obj)}\n\n`);
      },
      /** Waits for the choices, then ends the stream (an error event first if one failed; the onResponse hook counts it). */
      finish: async (runs: Promise<unknown>[]) => {
        try {
          await Promise.all(runs);
        } catch (e) {
          if (!(e instanceof CancelledError) && !reply.raw.destroyed)
            reply.raw.write(`data: ${JSON.stringify(errorBody((e as Error).message, 'server_error'))}\n\n`);
        }
        if (!reply.raw.destroyed) reply.raw.end('data: [DONE]\n\n');
      },
    };
  };

  const seedFor = (seed: number | undefined, i: number) => (seed === undefined ? undefined : seed + i);

  /** The request's n choices, generated side by side (choice i seeded seed + i), and OpenAI's usage block. */
  const generateAll = async (reply: FastifyReply, prompt: number[], p: CompletionParams) => {
    const results = await Promise.all(Array.from({ length: p.n }, (_, i) => generate(reply, prompt, p, seedFor(p.seed, i))));
    const completion = results.reduce((s, g) => s + g.tokens.length, 0);
    return { results, usage: { prompt_tokens: prompt.length, completion_tokens: completion, total_tokens: prompt.length + completion } };
  };

  app.post('/v1/completions', async (req, reply) => {
    let p: CompletionParams;
    let prompt: number[];
    try {
      p = parseCompletionRequest(req.body, model.config.blockSize, 16);
      prompt = typeof p.prompt === 'string' ? encode(p.prompt, 'prompt') : p.prompt;
      checkPrompt(prompt, p, model.config.vocabSize, model.config.blockSize);
    } catch (e) {
      return fail(reply, e);
    }
    const id = `cmpl-${randomBytes(12).toString('hex')}`;
    const now = Math.floor(Date.now() / 1000);
    const logprobsOf = (g: { tokens: number[]; infos: TokenInfo[] }, offset: number) => {
      if (p.logprobs === undefined) return null;
      let at = offset;
      const pieces = g.tokens.map((t) => tokenizer.decode([t]));
      return {
        tokens: pieces,
        token_logprobs: g.infos.map((i) => i.logprob),
        top_logprobs: g.infos.map((i) => Object.fromEntries(i.top.map(([t, lp]) => [tokenizer.decode([t]), lp]))),
        text_offset: pieces.map((s) => {
          const o = at;
          at += s.length;
          return o;
        }),
      };
    };
    if (p.stream) {
      const out = sse(reply);
      const offsets = new Array(p.n).fill(0) as number[];
      const runs = Array.from({ length: p.n }, (_, i) =>
        generate(reply, prompt, p, seedFor(p.seed, i), (piece, tokens, infos) => {
          out.send({
            id,
            object: 'text_completion',
            created: now,
            model: modelId,
            choices: [{ index: i, text: piece, logprobs: logprobsOf({ tokens, infos }, offsets[i]!), finish_reason: null }],
          });
          offsets[i]! += piece.length;
        }).then((g) =>
          out.send({
            id,
            object: 'text_completion',
            created: now,
            model: modelId,
            choices: [{ index: i, text: '', logprobs: null, finish_reason: g.finish }],
          }),
        ),
      );
      await out.finish(runs);
      return reply;
    }
    try {
      const { results, usage } = await generateAll(reply, prompt, p);
      return {
        id,
        object: 'text_completion',
        created: now,
        model: modelId,
        choices: results.map((g, i) => ({ index: i, text: g.text, logprobs: logprobsOf(g, 0), finish_reason: g.finish })),
        usage,
      };
    } catch (e) {
      return fail(reply, e);
    }
  });

  app.post('/v1/chat/completions', async (req, reply) => {
    let p: CompletionParams;
    let messages: ChatMessage[];
    let prompt: number[];
    try {
      ({ params: p, messages } = parseChatRequest(req.body, model.config.blockSize));
      prompt = encode(renderChat(messages), 'messages');
      // no max_tokens: the rest of the context, as OpenAI's chat default
      if (p.maxTokens === 0) p = { ...p, maxTokens: Math.max(1, model.config.blockSize - prompt.length) };
      checkPrompt(prompt, p, model.config.vocabSize, model.config.blockSize);
    } catch (e) {
      return fail(reply, e);
    }
    const id = `chatcmpl-${randomBytes(12).toString('hex')}`;
    const now = Math.floor(Date.now() / 1000);
    const chatLogprobs = (tokens: number[], infos: TokenInfo[]) =>
      p.logprobs === undefined
        ? null
        : {
            content: tokens.map((t, k) => {
              const token = tokenizer.decode([t]);
              return {
                token,
                logprob: infos[k]!.logprob,
                bytes: [...Buffer.from(token, 'utf8')],
                top_logprobs: infos[k]!.top.map(([tt, lp]) => {
                  const s = tokenizer.decode([tt]);
                  return { token: s, logprob: lp, bytes: [...Buffer.from(s, 'utf8')] };
                }),
              };
            }),
          };
    const chunk = (i: number, delta: Record<string, string>, finish: string | null, logprobs: unknown = null) => ({
      id,
      object: 'chat.completion.chunk',
      created: now,
      model: modelId,
      choices: [{ index: i, delta, logprobs, finish_reason: finish }],
    });
    if (p.stream) {
      const out = sse(reply);
      const runs = Array.from({ length: p.n }, (_, i) => {
        out.send(chunk(i, { role: 'assistant', content: '' }, null));
        return generate(reply, prompt, p, seedFor(p.seed, i), (piece, tokens, infos) =>
          out.send(chunk(i, { content: piece }, null, chatLogprobs(tokens, infos))),
        ).then((g) => out.send(chunk(i, {}, g.finish)));
      });
      await out.finish(runs);
      return reply;
    }
    try {
      const { results, usage } = await generateAll(reply, prompt, p);
      return {
        id,
        object: 'chat.completion',
        created: now,
        model: modelId,
        choices: results.map((g, i) => ({
          index: i,
          message: { role: 'assistant', content: g.text },
          logprobs: chatLogprobs(g.tokens, g.infos),
          finish_reason: g.finish,
        })),
        usage,
      };
    } catch (e) {
      return fail(reply, e);
    }
  });

  return {
    app,
    engine,
    metrics,
    async shutdown(deadlineMs = 10_000) {
      // stop accepting, let the running generations finish (cancelled past the deadline), give their
      // responses a moment to be written, then drop the idle keep-alive connections that would hold
      // the close open
      const closing = app.close();
      await engine.close(deadlineMs);
      await new Promise((resolve) => setTimeout(resolve, 50));
      app.server.closeIdleConnections();
      const force = setTimeout(() => app.server.closeAllConnections(), 2_000);
      await closing;
      clearTimeout(force);
    },
  };
}

/** What every mox server shares: the Fastify instance with its limits, API key, error shape, /health and /metrics. */
export interface BaseServeOptions {
  /** When set, /v1/* needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Largest request body in bytes (default 1 MiB; serveClient's default is 1 GiB, for weights). */
  bodyLimit?: number;
  /** Fastify's logger: true for JSON access logs on stdout, false for none, or pino options. */
  logger?: boolean | Record<string, unknown>;
}

export function baseServer(opts: BaseServeOptions, metrics: ServerMetrics): FastifyInstance {
  const app = Fastify({ logger: opts.logger ?? false, bodyLimit: opts.bodyLimit ?? 1 << 20, return503OnClosing: true });
  const keyHash = opts.apiKey !== undefined ? sha(opts.apiKey) : null;

  app.addHook('onRequest', async (req, reply) => {
    if (!keyHash || !req.url.startsWith('/v1/')) return;
    const auth = req.headers.authorization ?? '';
    const given = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    // compare digests of equal length in constant time, so the key's length and prefix do not leak
    if (!timingSafeEqual(sha(given), keyHash)) {
      return reply.code(401).send(errorBody('Incorrect API key provided.', 'invalid_request_error', null, 'invalid_api_key'));
    }
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.requests.inc({ endpoint: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) });
  });
  app.setNotFoundHandler((req, reply) => {
    reply
      .code(404)
      .send(errorBody(`Unknown request URL: ${req.method} ${req.url.slice(0, 200)}`, 'invalid_request_error', null, 'unknown_url'));
  });
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) app.log.error(err);
    const message =
      err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError
        ? `We could not parse the JSON body of your request: ${err.message}`
        : status === 500
          ? 'The server had an error while processing your request.'
          : err.message;
    reply.code(status).send(errorBody(message, status === 500 ? 'server_error' : 'invalid_request_error', null, err.code ?? null));
  });

  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', 'text/plain; version=0.0.4; charset=utf-8');
    return metrics.render();
  });
  return app;
}

class CancelledError extends Error {
  constructor(readonly why: 'timeout' | 'client') {
    super(why === 'timeout' ? 'the request timed out' : 'the client closed the request');
  }
}

/** Token ids in range, the prompt plus max_tokens within the context (OpenAI's message for the latter). */
function checkPrompt(prompt: number[], p: CompletionParams, vocab: number, block: number): void {
  if (prompt.length === 0) throw new RequestError('The prompt is empty: it must hold at least one token.', 'prompt');
  const bad = prompt.find((t) => !Number.isInteger(t) || t < 0 || t >= vocab);
  if (bad !== undefined)
    throw new RequestError(`Token ${bad} is out of range: the vocabulary has ${vocab} tokens (0..${vocab - 1}).`, 'prompt');
  if (prompt.length + p.maxTokens > block)
    throw new RequestError(
      `This model's maximum context length is ${block} tokens. However, you requested ${prompt.length + p.maxTokens} tokens (${prompt.length} in the prompt, ${p.maxTokens} for the completion). Please reduce the prompt or max_tokens.`,
      'max_tokens',
    );
}
