// A worker process of data-parallel training (ranks 1 to N - 1; rank 0 is the process that called fit).
// It builds a replica of the model from the factory rank 0 names, then answers requests one at a time:
// load the weights rank 0 broadcasts, run forward and backward on its shard of the batch, send the
// gradients back. It holds no optimizer: rank 0 steps and broadcasts, so a replica cannot drift.
// It exits when its channel to rank 0 closes (rank 0 ended, or closed the group).

import '../ops/tensor-methods.js';
import '../train/model.js';
import { ValueError, fmtShape } from '../errors.js';
import { noGrad } from '../autograd/grad-mode.js';
import { scope } from '../tensor/memory.js';
import { globalGenerator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { cpuBackend } from '../backend/cpu/cpu-backend.js';
import { Module } from '../nn/module.js';
import { compiledOf } from '../train/model.js';
import type { Compiled } from '../train/step.js';
import { type GradReply, type InitRequest, type Reply, type Request, type StepRequest, checksum, fromWire, toWire } from './protocol.js';
import { gradients, replicaLoss, shardBackward, weightsOf } from './replica.js';
import { BlobReader, sendSplit } from './channel.js';
import { nodeBuiltin } from '../backend/cpu/wasm/node-builtins.js';

interface Replica {
  model: Module;
  compiled: Compiled | null;
  loss: InitRequest['loss'];
  trains: Tensor[];
  /** The version of rank 0's weights loaded, and their checksum as read back from the replica. */
  version: number;
  sum: number;
}

let replica: Replica | null = null;

// fd 4: the socket the messages' typed arrays travel on (channel.ts)
const data = new (nodeBuiltin('node:net')!.Socket)({ fd: 4, readable: true, writable: true });
const reader = new BlobReader(data);
const send = (r: Reply): void => sendSplit(r, (m) => process.send?.(m), data);

async function init(req: InitRequest): Promise<Reply> {
  cpuBackend.setThreads(req.threads);
  globalGenerator.seed(req.seed + req.rank);
  const mod = (await import(req.factory.module)) as Record<string, unknown>;
  const make = mod[req.factory.export];
  if (typeof make !== 'function')
    throw new ValueError('dataParallel', `${req.factory.module} has no function export '${req.factory.export}'`);
  const model: unknown = await (make as (...a: unknown[]) => unknown)(...req.factory.args);
  if (!(model instanceof Module))
    throw new ValueError('dataParallel', `the model factory '${req.factory.export}' did not return an nn.Module`);
  const compiled = req.loss === 'compiled' ? compiledOf('dataParallel', model) : null;
  const params = model.namedParameters();
  const buffers = model.namedBuffers();
  const same =
    params.length === req.params.length &&
    buffers.length === req.buffers.length &&
    params.every(([k, p], i) => k === req.params[i]!.name && fmtShape(p.shape) === fmtShape(req.params[i]!.shape)) &&
    buffers.every(([k, b], i) => k === req.buffers[i]!.name && fmtShape(b.shape) === fmtShape(req.buffers[i]!.shape));
  if (!same) {
    const show = (l: { name: string; shape: number[] }[]) => l.map((x) => `${x.name}${fmtShape(x.shape)}`).join(', ');
    throw new ValueError(
      'dataParallel',
      `the factory's model differs from rank 0's: parameters and buffers [${show(params.map(([name, p]) => ({ name, shape: [...p.shape] })))}, ${show(buffers.map(([name, b]) => ({ name, shape: [...b.shape] })))}] ` +
        `against rank 0's [${show(req.params)}, ${show(req.buffers)}]`,
    );
  }
  // the same parameters train as on rank 0 (a model frozen in part after it was built)
  params.forEach(([, p], i) => {
    p.requiresGrad = req.params[i]!.trains;
  });
  model.train();
  replica = { model, compiled, loss: req.loss, trains: params.filter(([, p]) => p.requiresGrad).map(([, p]) => p), version: -1, sum: 0 };
  return { type: 'ready', id: req.id };
}

/** Copies rank 0's weights into the replica, in place. */
function load(r: Replica, w: NonNullable<StepRequest['weights']>): void {
  const params = r.model.parameters();
  const buffers = r.model.namedBuffers().map(([, b]) => b);
  scope(() =>
    noGrad(() => {
      let at = 0;
      for (const p of params) {
        p.copy_(fromWire({ data: w.params.subarray(at, at + p.size), shape: [...p.shape], dtype: 'float32' }));
        at += p.size;
      }
      buffers.forEach((b, i) => b.copy_(fromWire({ data: w.buffers[i]!, shape: [...b.shape], dtype: b.dtype })));
    }),
  );
  r.version = w.version;
  r.sum = checksum(weightsOf(r.model));
}

function step(req: StepRequest): GradReply {
  const r = replica;
  if (!r) throw new ValueError('dataParallel', 'a step before init');
  if (req.weights) load(r, req.weights);
  for (const p of r.trains) {
    p.grad?.dispose();
    p.grad = null;
  }
  const { loss, output } = scope(() => {
    const inputs = req.inputs.map(fromWire);
    const target = fromWire(req.target);
    const res = shardBackward(r.model, replicaLoss(r.loss, r.compiled), inputs, target, req.scale);
    return { loss: res.loss.item(), output: req.wantOutput ? toWire(res.output) : null };
  });
  const { grads, present } = gradients(r.trains);
  return { type: 'grads', id: req.id, version: r.version, checksum: r.sum, grads, present, loss, output };
}

async function handle(req: Request): Promise<Reply> {
  switch (req.type) {
    case 'init':
      return init(req);
    case 'step':
      return step(req);
    case 'state': {
      if (!replica) throw new ValueError('dataParallel', 'a state request before init');
      const buffers = replica.model.namedBuffers().map(([, b]) => b.dataSync());
      return { type: 'state', id: req.id, params: weightsOf(replica.model), buffers, version: replica.version };
    }
  }
}

// requests are answered in the order they came, one at a time
let queue: Promise<void> = Promise.resolve();
process.on('message', (head: unknown) => {
  queue = queue.then(async () => {
    const req = await reader.receive<Request>(head);
    try {
      send(await handle(req));
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      send({ type: 'error', id: req.id, name: err.name, message: err.message });
    }
  });
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready', id: 0 });
