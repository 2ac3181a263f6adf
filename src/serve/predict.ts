// `mox serve` for a classifier checkpoint folder (models/classifier-checkpoint.ts: an MLP or CNN
// Sequential, or the text CNN): POST /v1/predict takes a JSON tensor, a base64 PNG (decoded with pngjs)
// or text (the folder's tokenizer), and answers each example's class probabilities and top class.
// GET /v1/models, /health and /metrics as for a language model.

import * as path from 'node:path';
import { PNG } from 'pngjs';
import '../ops/tensor-methods.js';
import { tensor } from '../tensor/create.js';
import type { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/grad-mode.js';
import { scope } from '../tensor/memory.js';
import { softmax } from '../ops/softmax.js';
import type { LoadedClassifier } from '../models/classifier-checkpoint.js';
import { ServerMetrics } from './metrics.js';
import { type BaseServeOptions, errorBody, baseServer } from './server.js';
import { RequestError } from './requests.js';
import type { FastifyInstance } from 'fastify';

export interface ClassifierServeOptions extends BaseServeOptions {
  classifier: LoadedClassifier;
  modelId: string;
  /** The most examples in one request (default 256). */
  maxBatch?: number;
}

export interface ClassifierServer {
  app: FastifyInstance;
  metrics: ServerMetrics;
  shutdown(): Promise<void>;
}

const numbersDeep = (v: unknown): boolean => (Array.isArray(v) ? v.every(numbersDeep) : typeof v === 'number' && Number.isFinite(v));

function shapeOf(v: unknown): number[] {
  const shape: number[] = [];
  let cur = v;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0];
  }
  return shape;
}

function flatten(v: unknown, out: number[]): void {
  if (Array.isArray(v)) for (const x of v) flatten(x, out);
  else out.push(v as number);
}

/** A nested list must be rectangular: every row as long as its siblings. */
function rectangular(v: unknown, shape: readonly number[], depth = 0): boolean {
  if (depth === shape.length) return !Array.isArray(v);
  return Array.isArray(v) && v.length === shape[depth] && v.every((x) => rectangular(x, shape, depth + 1));
}

/** A PNG (base64) as [C, H, W] values in [0, 1] for a model whose input is [C, H, W] (C 1: grey, the mean of R, G, B; C 3: RGB). */
function decodePng(b64: string, inputShape: readonly number[]): Float32Array {
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(b64, 'base64'));
  } catch (e) {
    throw new RequestError(`'image' is not a PNG: ${(e as Error).message}`, 'image');
  }
  const [c, h, w] = inputShape.length === 3 ? inputShape : inputShape.length === 2 ? [1, inputShape[0]!, inputShape[1]!] : [1, 0, 0];
  if (!h || !w || (c !== 1 && c !== 3))
    throw new RequestError(`this model's input ${JSON.stringify(inputShape)} is not an image ([C, H, W] with C 1 or 3)`, 'image');
  if (png.width !== w || png.height !== h)
    throw new RequestError(`the image is ${png.width}x${png.height}, the model takes ${w}x${h}`, 'image');
  const out = new Float32Array(c * h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      const [r, g, b] = [png.data[i]!, png.data[i + 1]!, png.data[i + 2]!];
      if (c === 1) out[y * w + x] = (r + g + b) / 3 / 255;
      else for (let k = 0; k < 3; k++) out[k * h * w + y * w + x] = [r, g, b][k]! / 255;
    }
  }
  return out;
}

export function createClassifierServer(opts: ClassifierServeOptions): ClassifierServer {
  const { classifier, modelId } = opts;
  const { model, kind, inputShape, tokenizer } = classifier;
  model.eval();
  const maxBatch = opts.maxBatch ?? 256;
  const metrics = new ServerMetrics(
    () => 0,
    () => 0,
  );
  const app = baseServer(opts, metrics);
  const created = Math.floor(Date.now() / 1000);
  const labels = Array.isArray(classifier.config['class_names']) ? (classifier.config['class_names'] as unknown[]).map(String) : null;

  app.get('/v1/models', async () => ({
    object: 'list',
    data: [{ id: modelId, object: 'model', created, owned_by: 'mox', task: 'classification', kind }],
  }));
  for (const route of ['/v1/completions', '/v1/chat/completions'])
    app.post(route, async (_req, reply) =>
      reply
        .code(400)
        .send(
          errorBody(`${modelId} is a classifier (${kind}): use POST /v1/predict`, 'invalid_request_error', null, 'model_not_supported'),
        ),
    );

  /** The request's examples as one input tensor's data and shape. */
  const inputOf = (body: Record<string, unknown>): { data: Float32Array | Int32Array; shape: number[] }[] => {
    const given = ['input', 'image', 'text'].filter((k) => body[k] !== undefined);
    if (given.length !== 1)
      throw new RequestError(
        `give exactly one of 'input' (a JSON tensor), 'image' (a base64 PNG) or 'text'; got ${given.length ? given.join(', ') : 'none'}`,
      );
    if (kind === 'text-cnn') {
      const text = body['text'];
      const texts = typeof text === 'string' ? [text] : text;
      if (!Array.isArray(texts) || texts.length === 0 || !texts.every((t) => typeof t === 'string'))
        throw new RequestError("this model reads text: 'text' must be a string or a list of strings", 'text');
      if (texts.length > maxBatch) throw new RequestError(`at most ${maxBatch} texts per request, got ${texts.length}`, 'text');
      if (!tokenizer) throw new RequestError('this model has no tokenizer.json: send token ids as the text CNN has none', 'text');
      // each text alone: padding a short text to its neighbour's length would change its max-over-time
      const minLen = Math.max(...((model as { config?: { kernelSizes?: number[] } }).config?.kernelSizes ?? [1]));
      const pad = (model as { config?: { paddingIdx?: number | null } }).config?.paddingIdx ?? 0;
      return texts.map((t, i) => {
        let ids: number[];
        try {
          ids = tokenizer.encode(t);
        } catch (e) {
          throw new RequestError(`text ${i}: ${(e as Error).message}`, 'text');
        }
        const data = new Int32Array(Math.max(minLen, ids.length)).fill(pad);
        data.set(ids);
        return { data, shape: [1, data.length] };
      });
    }
    const shape1 = inputShape ?? null;
    if (body['image'] !== undefined) {
      const images = typeof body['image'] === 'string' ? [body['image']] : body['image'];
      if (!Array.isArray(images) || images.length === 0 || !images.every((t) => typeof t === 'string'))
        throw new RequestError("'image' must be a base64 PNG or a list of them", 'image');
      if (!shape1) throw new RequestError("this model's config.json records no input_shape, so an image cannot be mapped onto it", 'image');
      if (images.length > maxBatch) throw new RequestError(`at most ${maxBatch} images per request, got ${images.length}`, 'image');
      const one = shape1.reduce((a, b) => a * b, 1);
      const data = new Float32Array(images.length * one);
      images.forEach((b64, i) => data.set(decodePng(b64 as string, shape1), i * one));
      return [{ data, shape: [images.length, ...shape1] }];
    }
    const input = body['input'];
    if (body['text'] !== undefined) throw new RequestError(`this model (${kind}) takes 'input' or 'image', not 'text'`, 'text');
    if (!Array.isArray(input) || !numbersDeep(input)) throw new RequestError("'input' must be a (nested) list of finite numbers", 'input');
    const shape = shapeOf(input);
    if (!rectangular(input, shape)) throw new RequestError("'input' is ragged: every row must be as long as its siblings", 'input');
    const flat: number[] = [];
    flatten(input, flat);
    // one example (its own shape) or a batch of them
    let full: number[];
    if (shape1 && shape.length === shape1.length && shape.every((d, i) => d === shape1[i])) full = [1, ...shape];
    else if (shape1 && shape.length === shape1.length + 1 && shape.slice(1).every((d, i) => d === shape1[i])) full = shape;
    else if (!shape1) full = shape.length === 1 ? [1, ...shape] : shape;
    else
      throw new RequestError(
        `'input' has shape ${JSON.stringify(shape)}; this model takes ${JSON.stringify(shape1)} or a batch [N, ...] of it`,
        'input',
      );
    if (full[0]! > maxBatch) throw new RequestError(`at most ${maxBatch} examples per request, got ${full[0]}`, 'input');
    return [{ data: Float32Array.from(flat), shape: full }];
  };

  app.post('/v1/predict', async (req, reply) => {
    let probs: number[][];
    try {
      const body = req.body;
      if (typeof body !== 'object' || body === null || Array.isArray(body))
        throw new RequestError('The request body must be a JSON object.');
      const rows: number[][] = [];
      for (const { data, shape } of inputOf(body as Record<string, unknown>)) {
        const out = noGrad(() =>
          scope(() => {
            const x = tensor(data, { shape, dtype: data instanceof Int32Array ? 'int32' : 'float32' });
            let logits: Tensor;
            try {
              logits = model.forward(x);
            } catch (e) {
              throw new RequestError(`the model cannot take this input: ${(e as Error).message}`, 'input');
            }
            return softmax(logits, -1).dataSync();
          }),
        );
        const k = out.length / shape[0]!;
        for (let i = 0; i < shape[0]!; i++) rows.push(Array.from(out.subarray(i * k, (i + 1) * k)));
      }
      probs = rows;
    } catch (e) {
      if (e instanceof RequestError) return reply.code(400).send(errorBody(e.message, 'invalid_request_error', e.param));
      throw e;
    }
    return {
      object: 'prediction',
      model: modelId,
      created: Math.floor(Date.now() / 1000),
      predictions: probs.map((p) => {
        const top = p.reduce((best, v, k) => (v > p[best]! ? k : best), 0);
        return { probabilities: p, top_class: top, ...(labels ? { label: labels[top] ?? null } : {}), top_probability: p[top] };
      }),
    };
  });

  return {
    app,
    metrics,
    async shutdown() {
      await app.close();
    },
  };
}

/** The served name of a folder: its own name. */
export const folderName = (dir: string): string => path.basename(path.resolve(dir));
