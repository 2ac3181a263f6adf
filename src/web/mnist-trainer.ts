// Training an MNIST classifier in the page: the bytes the server sends (GET /data/mnist/...), an MLP
// (784-128-10) trained with Adam on random minibatches, evaluated on the test set, and asked for the
// class probabilities of one drawn image. The same calls on 'cpu' and 'webgpu': only reads of values
// differ (awaited, as on the GPU they must be).

import * as mox from 'mox/browser';

/** MNIST as the server sends it: images n x 784 bytes (0..255), labels n bytes. */
export interface MnistBytes {
  trainImages: Uint8Array;
  trainLabels: Uint8Array;
  testImages: Uint8Array;
  testLabels: Uint8Array;
}

/** Fetches a URL's bytes; a failed request is an Error with the server's message. */
export async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) {
    let message = `${r.status} ${r.statusText}`;
    try {
      message = ((await r.json()) as { error: { message: string } }).error.message;
    } catch {
      // not the server's JSON error: the status line says enough
    }
    throw new Error(`GET ${url}: ${message}`);
  }
  return new Uint8Array(await r.arrayBuffer());
}

/** The first trainCount training images and testCount test images, with their labels. */
export async function fetchMnist(trainCount: number, testCount: number): Promise<MnistBytes> {
  const [trainImages, trainLabels, testImages, testLabels] = await Promise.all([
    fetchBytes(`/data/mnist/train-images?count=${trainCount}`),
    fetchBytes(`/data/mnist/train-labels?count=${trainCount}`),
    fetchBytes(`/data/mnist/test-images?count=${testCount}`),
    fetchBytes(`/data/mnist/test-labels?count=${testCount}`),
  ]);
  return { trainImages, trainLabels, testImages, testLabels };
}

/** Settings of a training run. */
export interface TrainerOptions {
  device: string;
  hidden: number;
  lr: number;
  batchSize: number;
  seed: number;
}

/** An MLP on one device, its optimizer, and the steps it has taken. */
export class MnistTrainer {
  readonly model: mox.nn.Sequential;
  private readonly opt: mox.optim.Adam;
  private readonly rng: () => number;
  step = 0;

  constructor(readonly opts: TrainerOptions) {
    mox.seed(opts.seed);
    this.model = new mox.nn.Sequential(new mox.nn.Linear(784, opts.hidden), new mox.nn.ReLU(), new mox.nn.Linear(opts.hidden, 10)).to(
      opts.device,
    );
    this.opt = new mox.optim.Adam(this.model.parameters(), { lr: opts.lr });
    let s = opts.seed >>> 0 || 1;
    // xorshift32: which examples make each batch, reproducible from the seed
    this.rng = () => {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      return (s >>> 0) / 4294967296;
    };
  }

  /** Images [n, 784] scaled to [0, 1] and labels [n] (int32) of the examples `idx`, on the device. */
  private batch(images: Uint8Array, labels: Uint8Array, idx: ArrayLike<number>): { x: mox.Tensor; y: mox.Tensor } {
    const n = idx.length;
    const x = new Float32Array(n * 784);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const k = idx[i]!;
      for (let j = 0; j < 784; j++) x[i * 784 + j] = images[k * 784 + j]! / 255;
      y[i] = labels[k]!;
    }
    const device = this.opts.device;
    return { x: mox.tensor(x, { shape: [n, 784], device }), y: mox.tensor(y, { shape: [n], dtype: 'int32', device }) };
  }

  /** One Adam step on a random minibatch; returns the loss, still on the device (the caller reads it when it wants to). */
  trainStep(data: MnistBytes): mox.Tensor {
    const total = data.trainLabels.length;
    const idx = Array.from({ length: this.opts.batchSize }, () => Math.floor(this.rng() * total));
    this.model.train();
    const loss = mox.scope(() => {
      const { x, y } = this.batch(data.trainImages, data.trainLabels, idx);
      const l = mox.nn.functional.crossEntropy(this.model.forward(x), y);
      l.backward();
      this.opt.step();
      this.opt.zeroGrad();
      return mox.keep(l.detach());
    });
    this.step++;
    return loss;
  }

  /** The fraction of the test images classified right, in batches of 500. */
  async evaluate(data: MnistBytes): Promise<number> {
    this.model.eval();
    const n = data.testLabels.length;
    let right = 0;
    for (let start = 0; start < n; start += 500) {
      const idx = Array.from({ length: Math.min(500, n - start) }, (_, i) => start + i);
      const pred = mox.scope(() =>
        mox.noGrad(() => {
          const { x } = this.batch(data.testImages, data.testLabels, idx);
          return mox.keep(this.model.forward(x).argmax(1));
        }),
      );
      const got = await pred.data();
      pred.dispose();
      for (let i = 0; i < idx.length; i++) if (got[i] === data.testLabels[start + i]) right++;
    }
    return right / n;
  }

  /** The 10 class probabilities of one 28x28 image (784 values in [0, 1]). */
  async predict(image: Float32Array): Promise<Float32Array> {
    this.model.eval();
    const probs = mox.scope(() =>
      mox.noGrad(() => mox.keep(this.model.forward(mox.tensor(image, { shape: [1, 784], device: this.opts.device })).softmax(-1))),
    );
    const out = Float32Array.from(await probs.data());
    probs.dispose();
    return out;
  }
}
