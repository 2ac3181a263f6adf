// The small task the federated tests share with their client processes (federated-child.ts): four
// Gaussian blobs in 2-D, an MLP with a seeded initialisation, and the split of the examples over K
// clients, the same in every process for the same arguments.

import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';

/** 4 classes around (+-3, +-3), `perClass` examples each, interleaved by class. */
export function quadrants(perClass: number, seed: number): { x: Tensor; y: Tensor } {
  const g = new mox.Generator(seed);
  const n = 4 * perClass;
  const xs = new Float32Array(2 * n);
  const ys = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 4;
    xs[2 * i] = (c & 1 ? 3 : -3) + g.normal();
    xs[2 * i + 1] = (c & 2 ? 3 : -3) + g.normal();
    ys[i] = c;
  }
  return { x: mox.tensor(xs, { shape: [n, 2] }), y: mox.tensor(ys) };
}

/** A 2-16-4 MLP, initialised from `seed`. */
export function taskModel(seed = 0): mox.nn.Module {
  mox.seed(seed);
  return new mox.nn.Sequential(new mox.nn.Linear(2, 16), new mox.nn.Tanh(), new mox.nn.Linear(16, 4));
}

/** Client k's examples when the set is cut into `of` consecutive blocks: IID, as the classes are interleaved. */
export function shard(data: { x: Tensor; y: Tensor }, k: number, of: number): { x: Tensor; y: Tensor } {
  const n = data.y.shape[0]!;
  const [from, to] = [Math.floor((k * n) / of), Math.floor(((k + 1) * n) / of)];
  const at = mox.tensor(Int32Array.from({ length: to - from }, (_, i) => from + i));
  return { x: data.x.indexSelect(0, at), y: data.y.indexSelect(0, at) };
}

/** The training set of the HTTP tests: 40 examples a class, split over 2 clients. */
export const HTTP_TASK = { perClass: 40, seed: 1, clients: 2, lr: 0.1 };

/** ModelClient k of the HTTP task, each with its own model. */
export function httpTaskClient(k: number): mox.federated.ModelClient {
  const data = quadrants(HTTP_TASK.perClass, HTTP_TASK.seed);
  const { x, y } = shard(data, k, HTTP_TASK.clients);
  return new mox.federated.ModelClient({ model: taskModel(0), x, y, lr: HTTP_TASK.lr, id: `client-${k}` });
}
