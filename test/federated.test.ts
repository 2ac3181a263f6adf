// Tests for mox.federated: FedAvg's weighted mean against hand-computed numbers, a round of one client
// holding all the data against plain local training, convergence on IID data, seeded client sampling,
// HTTP clients in two child processes against the same clients in-process, a client that dies or
// hangs (an error, or the round goes on with acceptFailures), and the typed errors of bad input.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { assertClose } from '../test-support/assert.js';
import { HTTP_TASK, httpTaskClient, quadrants, shard, taskModel } from '../test-support/federated-task.js';

const { federated } = mox;
const CHILD = path.resolve(process.cwd(), 'dist/test-support/federated-child.js');

const t = (data: number[], shape?: number[], dtype: 'float32' | 'int32' = 'float32'): Tensor => mox.tensor(data, { shape, dtype });
const values = (w: mox.federated.Weights): Record<string, number[]> =>
  Object.fromEntries(Object.entries(w).map(([k, v]) => [k, Array.from(v.dataSync())]));

describe('FedAvg aggregation', () => {
  it('averages weights by numExamples (n_k / n), name by name', async () => {
    const a = { w: t([1, 2, 3, 4], [2, 2]), b: t([10]) };
    const b = { w: t([5, 6, 7, 8], [2, 2]), b: t([-2]) };
    const c = { w: t([9, 9, 9, 9], [2, 2]), b: t([100]) };
    const avg = await federated.weightedAverage([
      { weights: a, numExamples: 1 },
      { weights: b, numExamples: 3 },
      { weights: c, numExamples: 0 }, // no examples: no say
    ]);
    // (1*1 + 3*5)/4 = 4, (2 + 18)/4 = 5, (3 + 21)/4 = 6, (4 + 24)/4 = 7; (10 - 6)/4 = 1
    assert.deepEqual(values(avg), { w: [4, 5, 6, 7], b: [1] });
    assert.deepEqual(avg.w!.shape, [2, 2]);
    const ints = await federated.weightedAverage([
      { weights: { n: t([1, 2], [2], 'int32') }, numExamples: 2 },
      { weights: { n: t([2, 4], [2], 'int32') }, numExamples: 1 },
    ]);
    // 4/3 -> 1, 8/3 -> 3: an integer buffer keeps its dtype, rounded
    assert.equal(ints.n!.dtype, 'int32');
    assert.deepEqual(Array.from(ints.n!.dataSync()), [1, 3]);
  });

  it('aggregateFit adds deltas to the current weights and pools the clients metrics', async () => {
    const current = { w: t([1, 1]) };
    const s = new federated.FedAvg();
    const { weights, metrics } = await s.aggregateFit(
      1,
      [
        { client: 0, id: '0', res: { delta: { w: t([2, 0]) }, numExamples: 1, metrics: { loss: 1, accuracy: 0.5 } } },
        { client: 1, id: '1', res: { weights: { w: t([0, 4]) }, numExamples: 1, metrics: { loss: 3, accuracy: 1 } } },
      ],
      [],
      current,
    );
    // client 0: [1,1] + [2,0] = [3,1]; mean with [0,4] = [1.5, 2.5]
    assert.deepEqual(values(weights!), { w: [1.5, 2.5] });
    assert.deepEqual(metrics, { loss: 2, accuracy: 0.75 });
  });

  it('samples m = max(floor(C K), minFitClients) distinct clients, the same for the same seed and round', () => {
    const ids = Array.from({ length: 10 }, (_, i) => String(i));
    const s = new federated.FedAvg({ fractionFit: 0.3, seed: 5, fitConfig: { epochs: 2 } });
    const r1 = s.configureFit(1, {}, ids);
    assert.equal(r1.length, 3);
    assert.equal(new Set(r1.map((i) => i.client)).size, 3);
    assert.deepEqual(
      new federated.FedAvg({ fractionFit: 0.3, seed: 5 }).configureFit(1, {}, ids).map((i) => i.client),
      r1.map((i) => i.client),
    );
    assert.equal(r1[0]!.config.epochs, 2);
    assert.equal(r1[0]!.config.round, 1);
    assert.notEqual(r1[0]!.config.seed, r1[1]!.config.seed, 'each client gets its own shuffle seed');
    // over many rounds every client is drawn
    const seen = new Set<number>();
    for (let r = 1; r <= 30; r++) for (const i of s.configureFit(r, {}, ids)) seen.add(i.client);
    assert.equal(seen.size, 10);
    assert.equal(new federated.FedAvg({ fractionFit: 0.01 }).configureFit(1, {}, ids).length, 1);
    assert.equal(new federated.FedAvg({ fractionFit: 0.1, minFitClients: 4 }).configureFit(1, {}, ids).length, 4);
  });
});

describe('FedAvg rounds', () => {
  it('one round of one client holding all the data (C = 1, E = 1) equals plain local training', async () => {
    const data = quadrants(25, 3);
    const config = { epochs: 1, batchSize: 10, lr: 0.1, seed: 42 };
    const local = taskModel(7);
    local.compile({ optimizer: 'sgd', lr: config.lr, loss: 'sparseCategoricalCrossentropy' });
    const initial = federated.cloneWeights(local.stateDict());
    await local.fit(data.x, data.y, { epochs: 1, batchSize: 10, seed: 42, verbose: 0 });

    const client = new federated.ModelClient({ model: taskModel(99), x: data.x, y: data.y });
    const history = await federated.runFederated({
      clients: [client],
      strategy: new federated.FedAvg({ fitConfig: config }),
      rounds: 1,
      initialWeights: initial,
    });
    const fed = values(history.weights);
    for (const [k, v] of Object.entries(local.stateDict())) assertClose(fed[k]!, v, { atol: 1e-7, rtol: 0 });
    assert.deepEqual(history.rounds[1]!.clients, ['0']);
    assert.equal(history.rounds[1]!.numExamples, 100);
  });

  it('converges on IID data split over 4 clients (C = 0.5, E = 2, B = 8)', async () => {
    const train = quadrants(40, 11);
    const test = quadrants(50, 12);
    const clients = [0, 1, 2, 3].map((k) => new federated.ModelClient({ model: taskModel(k), ...shard(train, k, 4) }));
    const server = taskModel(0);
    server.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const seen: number[] = [];
    const history = await federated.runFederated({
      clients,
      strategy: new federated.FedAvg({
        fractionFit: 0.5,
        fitConfig: { epochs: 2, batchSize: 8, lr: 0.1 },
        evaluateFn: federated.evaluateOn(server, test.x, test.y),
        fractionEvaluate: 0.5,
      }),
      rounds: 8,
      initialWeights: server.stateDict(),
      onRound: (r) => seen.push(r.round),
    });
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const first = history.rounds[0]!;
    const last = history.rounds.at(-1)!;
    assert.ok(first.metrics.accuracy! < 0.6, `the initial model guesses: ${first.metrics.accuracy}`);
    assert.ok(last.metrics.accuracy! >= 0.95, `test accuracy after 8 rounds ${last.metrics.accuracy}`);
    assert.ok(last.loss! < first.loss! / 3, `test loss ${first.loss} -> ${last.loss}`);
    for (const r of history.rounds.slice(1)) {
      assert.equal(r.clients.length, 2);
      assert.equal(r.numExamples, 80);
      assert.ok(r.fitMetrics.loss! > 0 && r.distributed!.metrics.accuracy! > 0);
    }
  });
});

describe('bad input', () => {
  it('no clients, C outside (0, 1], bad rounds: ValueError', async () => {
    const w = { a: t([1]) };
    await assert.rejects(
      federated.runFederated({ clients: [], strategy: new federated.FedAvg(), rounds: 1, initialWeights: w }),
      (e: Error) => {
        assert.ok(e instanceof mox.ValueError);
        assert.match(e.message, /no clients/);
        return true;
      },
    );
    for (const c of [0, -0.1, 1.5, Number.NaN])
      assert.throws(() => new federated.FedAvg({ fractionFit: c }), /fractionFit \(C\) must be in \(0, 1\]/);
    const client = new federated.ModelClient({ model: taskModel(), ...quadrants(2, 0) });
    await assert.rejects(
      federated.runFederated({ clients: [client], strategy: new federated.FedAvg(), rounds: 1.5, initialWeights: w }),
      mox.ValueError,
    );
    await assert.rejects(federated.weightedAverage([{ weights: w, numExamples: 0 }]), /no examples/);
  });

  it('weights with other names or shapes than the model: ValueError, ShapeError', async () => {
    const init = taskModel().stateDict();
    const returning = (weights: mox.federated.Weights): mox.federated.Client => ({
      fit: async () => ({ weights, numExamples: 1, metrics: {} }),
      evaluate: async () => ({ loss: 0, numExamples: 1, metrics: {} }),
    });
    const renamed = Object.fromEntries(Object.entries(init).map(([k, v]) => [k === '0.bias' ? 'x.bias' : k, v.clone()]));
    const run = (c: mox.federated.Client) =>
      federated.runFederated({ clients: [c], strategy: new federated.FedAvg(), rounds: 1, initialWeights: init });
    await assert.rejects(
      run(returning(renamed)),
      (e: Error) => e instanceof mox.ValueError && /missing \[0\.bias\], unexpected \[x\.bias\]/.test(e.message),
    );
    const reshaped = { ...federated.cloneWeights(init), '0.bias': mox.zeros([15]) };
    await assert.rejects(
      run(returning(reshaped)),
      (e: Error) => e instanceof mox.ShapeError && /'0\.bias' has shape \[15\], the model's is \[16\]/.test(e.message),
    );
    // a ModelClient sent the wrong weights says so too
    const mc = new federated.ModelClient({ model: taskModel(), ...quadrants(2, 0) });
    await assert.rejects(mc.fit({ ...federated.cloneWeights(init), '0.weight': mox.zeros([2, 2]) }, {}), mox.ShapeError);
    await assert.rejects(mc.fit(federated.cloneWeights(init), { epochs: 0 }), /config.epochs must be a positive integer/);
  });

  it('a client that throws is a ClientFailureError, or skipped with acceptFailures', async () => {
    const data = quadrants(5, 0);
    const good = new federated.ModelClient({ model: taskModel(), ...data, id: 'good' });
    const bad: mox.federated.Client = {
      id: 'bad',
      fit: async () => Promise.reject(new Error('out of memory')),
      evaluate: async () => Promise.reject(new Error('x')),
    };
    const init = taskModel().stateDict();
    await assert.rejects(
      federated.runFederated({ clients: [good, bad], strategy: new federated.FedAvg(), rounds: 1, initialWeights: init }),
      (e: Error) => e instanceof mox.ClientFailureError && e.client === 'bad' && e.round === 1 && /out of memory/.test(e.message),
    );
    const h = await federated.runFederated({
      clients: [good, bad],
      strategy: new federated.FedAvg({ acceptFailures: true }),
      rounds: 1,
      initialWeights: init,
    });
    assert.equal(h.rounds[1]!.failures.length, 1);
    assert.equal(h.rounds[1]!.failures[0]!.client, 'bad');
    assert.equal(h.rounds[1]!.numExamples, 20);
  });
});

describe('clients over HTTP', () => {
  let procs: mox.federated.ClientProcess[] = [];
  before(async () => {
    procs = await Promise.all([federated.spawnClientProcess(CHILD, ['0']), federated.spawnClientProcess(CHILD, ['1'])]);
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
  });

  const strategy = (acceptFailures = false) => new federated.FedAvg({ fitConfig: { epochs: 2, batchSize: 8 }, seed: 3, acceptFailures });

  it('two client processes give the same weights as the same clients in-process', async () => {
    const initial = taskModel(5).stateDict();
    const http = procs.map((p, k) => new federated.HttpClient(p.urls[0]!, { id: `client-${k}`, timeoutMs: 30_000 }));
    const local = [0, 1].map((k) => httpTaskClient(k));
    const overHttp = await federated.runFederated({ clients: http, strategy: strategy(), rounds: 2, initialWeights: initial });
    const inProcess = await federated.runFederated({ clients: local, strategy: strategy(), rounds: 2, initialWeights: initial });
    assert.deepEqual(values(overHttp.weights), values(inProcess.weights));
    assert.deepEqual(overHttp.rounds[2]!.fitMetrics, inProcess.rounds[2]!.fitMetrics);
    assert.equal(overHttp.rounds[2]!.numExamples, 4 * HTTP_TASK.perClass);
    // evaluate over HTTP too
    const ev = await http[0]!.evaluate(overHttp.weights, {});
    const evLocal = await local[0]!.evaluate(overHttp.weights, {});
    assert.deepEqual(ev, evLocal);
  });

  it('a request that is not safetensors is a 400', async () => {
    const res = await fetch(`${procs[0]!.urls[0]}/v1/federated/fit`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: 'nope',
    });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /safetensors/);
  });

  it('a client whose process died: ClientFailureError, or the round goes on without it', async () => {
    const initial = taskModel(5).stateDict();
    const dead = procs[1]!;
    dead.child.kill('SIGKILL');
    await new Promise((r) => dead.child.once('exit', r));
    const http = procs.map((p, k) => new federated.HttpClient(p.urls[0]!, { id: `client-${k}`, timeoutMs: 30_000 }));
    await assert.rejects(
      federated.runFederated({ clients: http, strategy: strategy(), rounds: 1, initialWeights: initial }),
      (e: Error) => e instanceof mox.ClientFailureError && e.client === 'client-1' && /cannot be reached \(ECONNREFUSED\)/.test(e.message),
    );
    const h = await federated.runFederated({ clients: http, strategy: strategy(true), rounds: 1, initialWeights: initial });
    assert.deepEqual(
      h.rounds[1]!.failures.map((f) => f.client),
      ['client-1'],
    );
    // the survivor alone: its own result
    const alone = await httpTaskClient(0).fit(
      initial,
      strategy()
        .configureFit(1, initial, ['client-0', 'client-1'])
        .find((i) => i.client === 0)!.config,
    );
    assert.deepEqual(values(h.weights), values(alone.weights!));
  });

  it('a client that does not answer in time: ClientFailureError', async () => {
    const hung = await federated.spawnClientProcess(CHILD, ['hang']);
    try {
      const c = new federated.HttpClient(hung.urls[0]!, { timeoutMs: 300 });
      const t0 = performance.now();
      await assert.rejects(
        c.fit(taskModel().stateDict(), { round: 4 }),
        (e: Error) => e instanceof mox.ClientFailureError && e.round === 4 && /no answer within 300 ms/.test(e.message),
      );
      assert.ok(performance.now() - t0 < 5000);
    } finally {
      await hung.stop();
    }
  });
});

describe('examples/fedavg-mnist', () => {
  const dataDir = [process.env.MOX_DATA_DIR, path.resolve(process.cwd(), '../shared/data')].find(
    (d) => d !== undefined && existsSync(path.join(d, 'mnist/train-images-idx3-ubyte.gz')),
  );
  const run = (extra: string[]): Record<string, unknown> => {
    const args = [
      '--data-dir',
      dataDir!,
      '--limit',
      '1000',
      '--test-limit',
      '200',
      '--rounds',
      '2',
      '--no-centralized',
      '--threads',
      '1',
      '--run-dir',
      mkdtempSync(path.join(tmpdir(), 'mox-fedavg-runs-')),
      ...extra,
    ];
    const r = spawnSync(process.execPath, [path.resolve(process.cwd(), 'dist/examples/fedavg-mnist.js'), ...args], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 0, `fedavg-mnist exited with ${r.status}:\n${r.stdout}\n${r.stderr}`);
    const last = r.stdout.trimEnd().split('\n').at(-1)!;
    assert.match(last, /^RESULT /);
    assert.match(r.stdout, /client 0: \d+ images, digits \d:\d+ \d:\d+\n/, 'each client holds two digits');
    return JSON.parse(last.slice('RESULT '.length)) as Record<string, unknown>;
  };

  it('runs its clients in 2 processes over HTTP with the same accuracies as in-process', (t) => {
    if (!dataDir) return t.skip('MNIST not found in $MOX_DATA_DIR or ../shared/data');
    const inProcess = run([]);
    const overHttp = run(['--processes', '2']);
    assert.equal((inProcess.per_round_accuracy as number[]).length, 2);
    assert.deepEqual(overHttp.per_round_accuracy, inProcess.per_round_accuracy);
    assert.equal(overHttp.processes, 2);
  });
});
