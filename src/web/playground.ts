// The playground page's entry (bundled by scripts/build-playground.mjs into dist/playground/): wires
// index.html's controls to the trainer (mnist-trainer.ts), the drawing pad (digit-pad.ts), the charts
// (line-chart.ts) and the GPT (gpt-section.ts), on the device the visitor picks.

import * as mox from 'mox/browser';
import { DigitPad } from './digit-pad.js';
import { type LoadedGPT, generateText, loadCheckpoint } from './gpt-section.js';
import { LineChart } from './line-chart.js';
import { type MnistBytes, MnistTrainer, fetchMnist } from './mnist-trainer.js';

/** What GET /api/info says. */
interface ServerInfo {
  version: string;
  model: { name: string; files: string[]; gpt?: Record<string, unknown>; parameters?: number; tokenizer?: string } | null;
  mnist: { train: number; test: number } | null;
  mnistMissing?: string;
}

const $ = <T extends HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`index.html has no #${id}`);
  return e as T;
};
const numberOf = (id: string, min: number, max: number): number => {
  const input = $<HTMLInputElement>(id);
  const v = Number(input.value);
  if (!Number.isFinite(v) || v < min || v > max)
    throw new Error(`${input.labels?.[0]?.textContent ?? id} must be between ${min} and ${max}`);
  return v;
};
const nextTask = () => new Promise<void>((r) => setTimeout(r, 0));
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * The CPU's WebAssembly kernels, fetched and compiled before the first tensor (the page is cross-origin
 * isolated, which their shared memory needs); where they cannot run, the TypeScript kernels do.
 */
async function loadCpuKernels(): Promise<void> {
  const r = await mox.loadWasmKernels({ relaxed: '/mox-relaxed.wasm', simd: '/mox-simd.wasm' });
  if (!r.kind) cpuKernelsNote = `WebAssembly kernels not loaded: ${r.reason}`;
}
let cpuKernelsNote = '';

/** The page's state: the device, the classifier being trained, the GPT. */
const state = {
  device: 'cpu',
  gpuAdapter: null as string | null,
  trainer: null as MnistTrainer | null,
  data: null as MnistBytes | null,
  dataKey: '',
  training: false,
  stopTraining: false,
  gpt: null as LoadedGPT | null,
  generation: null as AbortController | null,
};

// ---- device ----

async function openDevices(): Promise<void> {
  const select = $<HTMLSelectElement>('device');
  const gpuOption = select.querySelector<HTMLOptionElement>('option[value="webgpu"]')!;
  try {
    if (!('gpu' in navigator)) throw new Error('this browser has no navigator.gpu');
    const gpu = await mox.initDevice('webgpu');
    state.gpuAdapter = String(gpu.info?.()['adapter'] ?? 'unnamed adapter');
    state.device = 'webgpu';
  } catch (e) {
    gpuOption.disabled = true;
    gpuOption.textContent = 'WebGPU (not available)';
    state.gpuAdapter = null;
    $('adapter').textContent = `none: ${message(e)}`;
    state.device = 'cpu';
  }
  select.value = state.device;
  showDevice();
}

function showDevice(): void {
  const info = mox.getBackend(state.device).info?.() ?? { device: state.device };
  $('kernels').textContent =
    Object.entries(info)
      .filter(([k]) => k !== 'native') // "not running: not in Node.js": true of every page
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ') + (state.device === 'cpu' && cpuKernelsNote ? ` (${cpuKernelsNote})` : '');
  if (state.gpuAdapter) $('adapter').textContent = state.gpuAdapter;
  $('isolated').textContent = globalThis.crossOriginIsolated ? 'yes (shared memory allowed)' : 'no';
}

async function changeDevice(device: string): Promise<void> {
  state.stopTraining = true;
  state.generation?.abort();
  while (state.training) await nextTask();
  state.device = device;
  showDevice();
  // the trained classifier stays where it is and keeps answering the drawing pad; the next Start
  // trains a new one on the new device
  if (state.trainer) setStatus('train-status', `Device: ${device}. The next training starts a new model there.`);
  if (state.gpt) {
    setStatus('gpt-status', `Moving the model to ${device}…`);
    await state.gpt.model.toAsync(device);
    setStatus('gpt-status', `The model runs on ${device}.`);
    $('gpt-model').textContent = ($('gpt-model').textContent ?? '').replace(/on \w+\.$/, `on ${device}.`);
  }
}

function setStatus(id: string, text: string): void {
  $(id).textContent = text;
}

// ---- training ----

const lossChart = new LineChart($<HTMLElement>('loss-chart') as unknown as SVGSVGElement, [{ name: 'train loss', color: '#1a73e8' }]);
const accChart = new LineChart(
  $<HTMLElement>('accuracy-chart') as unknown as SVGSVGElement,
  [{ name: 'test accuracy', color: '#e8710a' }],
  [0, 1],
);

async function train(): Promise<void> {
  const start = $<HTMLButtonElement>('train-start');
  const stop = $<HTMLButtonElement>('train-stop');
  let steps: number;
  let trainCount: number;
  let testCount: number;
  let opts: ConstructorParameters<typeof MnistTrainer>[0];
  try {
    trainCount = numberOf('train-count', 100, 60000);
    testCount = numberOf('test-count', 100, 10000);
    steps = Math.floor(numberOf('steps', 1, 100000));
    opts = {
      device: state.device,
      batchSize: Math.floor(numberOf('batch-size', 1, 1024)),
      hidden: Math.floor(numberOf('hidden', 1, 1024)),
      lr: numberOf('lr', 1e-5, 1),
      seed: 1,
    };
  } catch (e) {
    setStatus('train-status', message(e));
    return;
  }
  state.training = true;
  state.stopTraining = false;
  start.disabled = true;
  stop.disabled = false;
  try {
    const key = `${trainCount}/${testCount}`;
    if (!state.data || state.dataKey !== key) {
      setStatus('train-status', `Fetching ${trainCount} training and ${testCount} test images…`);
      state.data = await fetchMnist(trainCount, testCount);
      state.dataKey = key;
    }
    const data = state.data;
    const t = state.trainer;
    const same =
      t && t.opts.device === opts.device && t.opts.hidden === opts.hidden && t.opts.lr === opts.lr && t.opts.batchSize === opts.batchSize;
    if (!same) {
      state.trainer = new MnistTrainer(opts);
      lossChart.clear();
      accChart.clear();
    }
    const trainer = state.trainer!;
    const end = trainer.step + steps;
    const readEvery = 10;
    const evalEvery = Math.max(50, Math.min(200, Math.round(steps / 5)));
    let mark = performance.now();
    let markStep = trainer.step;
    setStatus('train-status', `Training on ${state.device}…`);
    while (trainer.step < end && !state.stopTraining) {
      const loss = trainer.trainStep(data);
      if (trainer.step % readEvery === 0 || trainer.step === end) {
        const v = await loss.itemAsync(); // on the GPU this waits for the queued steps too
        const now = performance.now();
        $('steps-per-sec').textContent = (((trainer.step - markStep) * 1000) / (now - mark)).toFixed(1);
        mark = now;
        markStep = trainer.step;
        lossChart.add('train loss', trainer.step, v);
        setStatus('train-status', `Training on ${state.device}: step ${trainer.step} of ${end}, loss ${v.toFixed(4)}`);
      }
      loss.dispose();
      if (trainer.step % evalEvery === 0 || trainer.step === end) {
        const acc = await trainer.evaluate(data);
        accChart.add('test accuracy', trainer.step, acc);
        $('test-accuracy').textContent = `${(acc * 100).toFixed(1)}%`;
        mark = performance.now(); // the evaluation's time is not training speed
      }
      if (trainer.step % 2 === 0) await nextTask();
    }
    const acc = await trainer.evaluate(data);
    $('test-accuracy').textContent = `${(acc * 100).toFixed(1)}%`;
    setStatus(
      'train-status',
      `${state.stopTraining ? 'Stopped' : 'Done'} at step ${trainer.step} on ${state.device}: test accuracy ${(acc * 100).toFixed(1)}% on ${data.testLabels.length} images.`,
    );
    $('train-status').dataset['accuracy'] = String(acc);
    if (pad.dirty) await classify(pad.image());
  } catch (e) {
    setStatus('train-status', `Training failed: ${message(e)}`);
    console.error(e);
  } finally {
    state.training = false;
    start.disabled = false;
    stop.disabled = true;
  }
}

// ---- drawing ----

function drawBars(probs: Float32Array | null): void {
  const list = $('probs');
  list.replaceChildren();
  const top = probs ? probs.indexOf(Math.max(...probs)) : -1;
  for (let d = 0; d < 10; d++) {
    const p = probs ? probs[d]! : 0;
    const li = document.createElement('li');
    li.dataset['p'] = String(p);
    if (d === top) li.className = 'top';
    li.setAttribute('aria-label', `${d}: ${(p * 100).toFixed(1)} percent`);
    const bar = document.createElement('span');
    bar.className = 'bar';
    const fill = document.createElement('span');
    fill.style.width = `${(p * 100).toFixed(1)}%`;
    bar.append(fill);
    const digit = document.createElement('span');
    digit.textContent = String(d);
    const value = document.createElement('span');
    value.textContent = p.toFixed(3);
    li.append(digit, bar, value);
    list.append(li);
  }
}

async function classify(image: Float32Array): Promise<void> {
  const trainer = state.trainer;
  if (!trainer || trainer.step === 0) {
    setStatus('prediction', 'Train the model first: press Start training above.');
    return;
  }
  const probs = await trainer.predict(image);
  const top = probs.indexOf(Math.max(...probs));
  drawBars(probs);
  setStatus('prediction', `Prediction: ${top} (${(probs[top]! * 100).toFixed(1)}%)`);
  $('prediction').dataset['digit'] = String(top);
}

const pad = new DigitPad($<HTMLCanvasElement>('pad'), (image) => {
  void classify(image).catch((e) => setStatus('prediction', `Could not classify: ${message(e)}`));
});

// ---- text ----

async function setUpGPT(info: ServerInfo): Promise<void> {
  if (!info.model) {
    $('gpt-missing').hidden = false;
    return;
  }
  $('gpt-panel').hidden = false;
  const m = info.model;
  try {
    state.gpt = await loadCheckpoint(m.files, state.device);
    const g = state.gpt.model.config;
    setStatus(
      'gpt-model',
      `Model ${m.name}: ${g.nLayer} layers, ${g.nHead} heads, width ${g.nEmbd}, context ${g.blockSize}, vocabulary ${g.vocabSize} (${state.gpt.tokenizer.kind} tokenizer), ${m.parameters ?? '?'} parameters, on ${state.device}.`,
    );
    $<HTMLButtonElement>('generate').disabled = false;
  } catch (e) {
    setStatus('gpt-model', `Could not load the model: ${message(e)}`);
    console.error(e);
  }
}

async function generate(): Promise<void> {
  const gpt = state.gpt;
  if (!gpt) return;
  const button = $<HTMLButtonElement>('generate');
  const stop = $<HTMLButtonElement>('generate-stop');
  let params: { maxNewTokens: number; temperature: number; topK: number };
  try {
    params = {
      maxNewTokens: Math.floor(numberOf('max-tokens', 1, 10000)),
      temperature: numberOf('temperature', 0, 2),
      topK: Math.floor(numberOf('top-k', 0, 100000)),
    };
  } catch (e) {
    setStatus('gpt-status', message(e));
    return;
  }
  const prompt = $<HTMLTextAreaElement>('prompt').value;
  const controller = new AbortController();
  state.generation = controller;
  button.disabled = true;
  stop.disabled = false;
  $('gpt-prompt-echo').textContent = prompt;
  $('gpt-text').textContent = '';
  setStatus('gpt-status', `Generating on ${state.device}…`);
  try {
    const r = await generateText(gpt, {
      prompt,
      ...params,
      signal: controller.signal,
      onText: (text, _n, rate) => {
        $('gpt-text').textContent = text;
        $('tokens-per-sec').textContent = rate.toFixed(1);
      },
    });
    $('tokens-per-sec').textContent = r.tokensPerSecond.toFixed(1);
    setStatus(
      'gpt-status',
      `${controller.signal.aborted ? 'Stopped after' : 'Generated'} ${r.tokens} tokens at ${r.tokensPerSecond.toFixed(1)} tokens/s on ${state.device}.`,
    );
  } catch (e) {
    setStatus('gpt-status', `Generation failed: ${message(e)}`);
    console.error(e);
  } finally {
    state.generation = null;
    button.disabled = false;
    stop.disabled = true;
  }
}

// ---- wiring ----

async function main(): Promise<void> {
  drawBars(null);
  $<HTMLSelectElement>('device').addEventListener('change', (e) => void changeDevice((e.target as HTMLSelectElement).value));
  $('train-start').addEventListener('click', () => void train());
  $('train-stop').addEventListener('click', () => {
    state.stopTraining = true;
  });
  $('clear').addEventListener('click', () => {
    pad.clear();
    drawBars(null);
    setStatus('prediction', 'Cleared. Draw a digit.');
  });
  $('generate').addEventListener('click', () => void generate());
  $('generate-stop').addEventListener('click', () => state.generation?.abort());
  const temperature = $<HTMLInputElement>('temperature');
  temperature.addEventListener('input', () => {
    $('temperature-value').textContent = temperature.value;
  });
  await loadCpuKernels();
  await openDevices();
  const info = (await (await fetch('/api/info')).json()) as ServerInfo;
  $('version').textContent = `mox ${info.version}`;
  if (!info.mnist) {
    setStatus('train-status', `No MNIST data on the server: ${info.mnistMissing ?? ''}`);
    $<HTMLButtonElement>('train-start').disabled = true;
  }
  await setUpGPT(info);
  document.body.dataset['ready'] = 'true';
}

main().catch((e) => {
  console.error(e);
  document.body.dataset['ready'] = 'error';
  document.body.dataset['error'] = message(e);
});
