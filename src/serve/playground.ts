// The HTTP side of `mox playground`: the page built into dist/playground/ (scripts/build-playground.mjs),
// MNIST as raw bytes for the page to train on, and a GPT checkpoint's files for it to load. Every
// response carries the cross-origin isolation headers, so the page is crossOriginIsolated (shared
// memory, hence WebAssembly threads, need it) and can embed nothing from another origin.
//
//   GET /                         the page (index.html); other files of dist/playground/ by name
//   GET /api/info                 {version, model: {name, config, files} | null, mnist: {train, test} | null, ...}
//   GET /data/mnist/SPLIT-images  SPLIT train or test: count x 784 bytes, row-major 28x28, 0..255
//   GET /data/mnist/SPLIT-labels  count bytes, 0..9 (?count=N: the first N; default all)
//   GET /model/FILE               FILE one of the checkpoint's files (config.json, model.safetensors, ...)

import * as fs from 'node:fs';
import * as path from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { DataError } from '../errors.js';
import { readIdx } from '../data/formats/idx.js';

/** The checkpoint files a page may fetch: a mox GPT folder's config, weights and tokenizer. */
export const MODEL_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'encoder.json', 'vocab.bpe'] as const;

/** Response headers every playground response carries (cross-origin isolation, no sniffing). */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
  'x-content-type-options': 'nosniff',
};

/** Content types by file extension; a file of another extension is not served. */
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.safetensors': 'application/octet-stream',
  '.bpe': 'text/plain; charset=utf-8',
};

/** What the server needs: where things are, all checked by the caller (cli/commands/playground.ts). */
export interface PlaygroundServerOptions {
  /** The built page: dist/playground/ (index.html, playground.js, ...). */
  staticDir: string;
  /** The MNIST folder (train-images-idx3-ubyte[.gz], ...), or null when there is none. */
  mnistDir: string | null;
  /** Why mnistDir is null, for the page to show. */
  mnistMissing?: string;
  /** A GPT checkpoint folder the page may load, or null. */
  modelDir: string | null;
  /** What /api/info says of the model (name, config), when there is one. */
  modelInfo?: Record<string, unknown>;
  /** mox's version, shown by the page. */
  version: string;
  /** Fastify's logger (false: none). */
  logger?: boolean;
}

/** One MNIST split in memory: images (n x 784 bytes) and labels (n bytes). */
interface MnistSplit {
  images: Uint8Array;
  labels: Uint8Array;
}

/** The IDX file of `prefix` (train, t10k) and `kind` in dir, gzip or not, else null. */
function findIdx(dir: string, prefix: string, kind: 'images-idx3' | 'labels-idx1'): string | null {
  for (const name of [`${prefix}-${kind}-ubyte.gz`, `${prefix}-${kind}-ubyte`, `${prefix}-${kind.replace('-', '.')}-ubyte`]) {
    const p = path.join(dir, name);
    if (fs.existsSync(p)) return p;
  }
  return null;
}

/** True when dir holds the four MNIST IDX files. */
export function isMnistDir(dir: string): boolean {
  return ['train', 't10k'].every((p) => findIdx(dir, p, 'images-idx3') !== null && findIdx(dir, p, 'labels-idx1') !== null);
}

/** Reads one split of MNIST from its IDX files, checking its shape. */
function readSplit(dir: string, split: 'train' | 'test'): MnistSplit {
  const prefix = split === 'train' ? 'train' : 't10k';
  const imagesFile = findIdx(dir, prefix, 'images-idx3');
  const labelsFile = findIdx(dir, prefix, 'labels-idx1');
  if (!imagesFile || !labelsFile) throw new DataError('playground', `${dir} has no MNIST ${split} files`);
  const images = readIdx(imagesFile);
  const labels = readIdx(labelsFile);
  const n = images.shape[0]!;
  if (images.dtype !== 'uint8' || images.shape.length !== 3 || images.shape[1] !== 28 || images.shape[2] !== 28)
    throw new DataError('playground', `${imagesFile}: expected uint8 images [N, 28, 28], got ${images.dtype} [${images.shape.join(', ')}]`);
  if (labels.dtype !== 'uint8' || labels.shape.length !== 1 || labels.shape[0] !== n)
    throw new DataError('playground', `${labelsFile}: expected ${n} uint8 labels, got ${labels.dtype} [${labels.shape.join(', ')}]`);
  return { images: images.data as Uint8Array, labels: labels.data as Uint8Array };
}

/** The page's files: every plain file of staticDir with a known content type, by URL path. */
function staticFiles(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!fs.existsSync(dir)) return out;
  for (const name of fs.readdirSync(dir)) {
    const file = path.join(dir, name);
    if (fs.statSync(file).isFile() && CONTENT_TYPES[path.extname(name)]) out.set(`/${name}`, file);
  }
  return out;
}

/** Builds the playground's Fastify app (not yet listening). */
export function createPlaygroundServer(opts: PlaygroundServerOptions): FastifyInstance {
  const app = Fastify({ logger: opts.logger ?? false });
  const files = staticFiles(opts.staticDir);
  const splits = new Map<string, MnistSplit>();
  const split = (name: 'train' | 'test'): MnistSplit => {
    let s = splits.get(name);
    if (!s) splits.set(name, (s = readSplit(opts.mnistDir!, name)));
    return s;
  };
  const fail = (reply: FastifyReply, status: number, message: string) =>
    reply.code(status).type('application/json; charset=utf-8').send({ error: { message } });

  app.addHook('onSend', async (_req, reply, payload) => {
    reply.headers(ISOLATION_HEADERS);
    return payload;
  });
  app.setNotFoundHandler((req, reply) => fail(reply, 404, `no such file: ${req.url.split('?')[0]}`));
  app.setErrorHandler((e: Error & { statusCode?: number }, _req, reply) =>
    fail(reply, e.statusCode && e.statusCode < 500 ? e.statusCode : 500, e.message),
  );

  const sendFile = (reply: FastifyReply, file: string) =>
    reply
      .type(CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream')
      .header('cache-control', 'no-cache')
      .send(fs.readFileSync(file));

  app.get('/', (_req, reply) => {
    const index = files.get('/index.html');
    if (!index) return fail(reply, 404, `the page is not built: no index.html in ${opts.staticDir} (run npm run build)`);
    return sendFile(reply, index);
  });

  app.get('/api/info', () => ({
    version: opts.version,
    model: opts.modelDir ? { ...opts.modelInfo, files: MODEL_FILES.filter((f) => fs.existsSync(path.join(opts.modelDir!, f))) } : null,
    mnist: opts.mnistDir ? { train: 60000, test: 10000 } : null,
    ...(opts.mnistDir ? {} : { mnistMissing: opts.mnistMissing ?? 'no MNIST folder' }),
  }));

  app.get<{ Params: { split: string; kind: string }; Querystring: { count?: string } }>('/data/mnist/:split-:kind', (req, reply) => {
    const { split: name, kind } = req.params;
    if ((name !== 'train' && name !== 'test') || (kind !== 'images' && kind !== 'labels'))
      return fail(reply, 404, `no such file: ${req.url.split('?')[0]} (expected /data/mnist/{train,test}-{images,labels})`);
    if (!opts.mnistDir) return fail(reply, 404, `no MNIST data: ${opts.mnistMissing ?? 'no MNIST folder'}`);
    const s = split(name);
    const total = s.labels.length;
    let count = total;
    if (req.query.count !== undefined) {
      count = Number(req.query.count);
      if (!/^\d+$/.test(req.query.count) || count < 1 || count > total)
        return fail(reply, 400, `count must be an integer in [1, ${total}], got '${req.query.count}'`);
    }
    const bytes = kind === 'images' ? s.images.subarray(0, count * 784) : s.labels.subarray(0, count);
    return reply
      .type('application/octet-stream')
      .header('cache-control', 'no-cache')
      .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });

  app.get<{ Params: { file: string } }>('/model/:file', (req, reply) => {
    const name = req.params.file;
    if (!opts.modelDir) return fail(reply, 404, 'no model: start the playground with --model DIR (a GPT checkpoint folder)');
    if (!(MODEL_FILES as readonly string[]).includes(name))
      return fail(reply, 404, `no such model file: ${name} (served: ${MODEL_FILES.join(', ')})`);
    const file = path.join(opts.modelDir, name);
    if (!fs.existsSync(file)) return fail(reply, 404, `the model folder has no ${name}`);
    return sendFile(reply, file);
  });

  app.get('/*', (req, reply) => {
    const file = files.get(req.url.split('?')[0]!);
    if (!file) return fail(reply, 404, `no such file: ${req.url.split('?')[0]}`);
    return sendFile(reply, file);
  });
  return app;
}
