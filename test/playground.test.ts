// The playground page in headless Chromium, driven by playwright-core (no browser download: the
// system's Chromium, $MOX_CHROMIUM or /usr/bin/chromium), against the real `mox playground` server
// with a tiny GPT checkpoint: it trains an MNIST classifier on the CPU and, where Chromium gives a
// WebGPU adapter, on the GPU, to a test accuracy far above chance; classifies a "1" drawn with the
// mouse; streams generated text with its rate; and is cross-origin isolated, labelled, in a sensible
// Tab order, and usable at 360 px. Screenshots go to test-artifacts/playground/. The test runner runs
// this file in its browser phase (scripts/run-tests.mjs).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { mnistDir, startPlayground, writeTinyGPT } from '../test-support/playground.js';

const executablePath = process.env['MOX_CHROMIUM'] ?? '/usr/bin/chromium';
const shots = path.join('test-artifacts', 'playground');

/** Trains with the page's controls on `device` and returns the test accuracy the page reports. */
async function trainOn(page: Page, device: string, steps: number): Promise<{ accuracy: number; stepsPerSec: number }> {
  await page.getByLabel('Run on').selectOption(device);
  await page.getByLabel('Steps', { exact: true }).fill(String(steps));
  const status = page.locator('#train-status');
  await status.evaluate((e) => e.removeAttribute('data-accuracy'));
  await page.getByRole('button', { name: 'Start training' }).click();
  await page.waitForFunction("document.getElementById('train-status').dataset.accuracy !== undefined", null, { timeout: 120_000 });
  const accuracy = Number(await status.getAttribute('data-accuracy'));
  const stepsPerSec = Number(await page.locator('#steps-per-sec').textContent());
  assert.match((await status.textContent()) ?? '', new RegExp(`Done at step \\d+ on ${device}`));
  return { accuracy, stepsPerSec };
}

test('the playground trains, classifies a drawn digit and generates text in Chromium', async (t) => {
  if (!fs.existsSync(executablePath)) return t.skip(`no Chromium at ${executablePath} (set MOX_CHROMIUM)`);
  if (!fs.existsSync('dist/playground/index.html')) return t.skip('dist/playground/ is not built (npm run build)');
  const mnist = mnistDir();
  if (!mnist) return t.skip('no MNIST in $MOX_DATA_DIR/mnist');
  fs.mkdirSync(shots, { recursive: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-play-'));
  await writeTinyGPT(dir);
  const server = await startPlayground(['--model', dir, '--data-dir', path.dirname(mnist)]);
  const browser = await chromium.launch({
    executablePath,
    args: ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-gpu-sandbox'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1024, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const response = await page.goto(`${server.url}/`);
    assert.ok(response);
    const headers = response.headers();
    assert.equal(headers['cross-origin-opener-policy'], 'same-origin');
    assert.equal(headers['cross-origin-embedder-policy'], 'require-corp');
    await page.waitForFunction('document.body.dataset.ready !== undefined', null, { timeout: 60_000 });
    assert.equal(
      await page.locator('body').getAttribute('data-ready'),
      'true',
      (await page.locator('body').getAttribute('data-error')) ?? '',
    );
    assert.equal(await page.evaluate('crossOriginIsolated'), true, 'the page is cross-origin isolated');
    assert.match((await page.locator('#isolated').textContent()) ?? '', /^yes/);
    // the CPU runs the WebAssembly SIMD kernels the page fetched and compiled (one thread)
    await page.getByLabel('Run on').selectOption('cpu');
    assert.match(
      (await page.locator('#kernels').textContent()) ?? '',
      /^device: cpu, threads: 1, wasm: relaxed-simd, kernels: wasm-relaxed-simd/,
    );

    // every control has a label (getByLabel finds it) or a name (getByRole)
    for (const label of [
      'Run on',
      'Training images',
      'Test images',
      'Steps',
      'Batch size',
      'Hidden units',
      'Learning rate',
      'Prompt',
      'Temperature',
      'Top-k (0: off)',
      'Tokens',
    ])
      assert.equal(await page.getByLabel(label, { exact: true }).count(), 1, `one control labelled '${label}'`);
    assert.equal(await page.getByLabel(/^Drawing pad: draw a digit/).count(), 1);
    for (const name of ['Start training', 'Clear', 'Generate'])
      assert.equal(await page.getByRole('button', { name, exact: true }).count(), 1, name);
    for (const id of ['train-status', 'gpt-status'])
      assert.equal(await page.locator(`#${id}`).getAttribute('role'), 'status', `#${id} is a live region`);
    assert.equal(await page.locator('#prediction').getAttribute('aria-live'), 'polite');

    // Tab order: the page's own order, top to bottom (disabled Stop buttons are skipped)
    await page.getByLabel('Run on').focus();
    const order: string[] = [];
    for (let i = 0; i < 15; i++) {
      order.push(String(await page.evaluate("document.activeElement ? document.activeElement.id : ''")));
      await page.keyboard.press('Tab');
    }
    assert.deepEqual(order, [
      'device',
      'train-count',
      'test-count',
      'steps',
      'batch-size',
      'hidden',
      'lr',
      'train-start',
      'pad',
      'clear',
      'prompt',
      'temperature',
      'top-k',
      'max-tokens',
      'generate',
    ]);

    // train small and fast: 5000 images, a 32-unit MLP, 1000 test images
    await page.getByLabel('Training images').fill('5000');
    await page.getByLabel('Test images').fill('1000');
    await page.getByLabel('Hidden units').fill('32');
    const cpu = await trainOn(page, 'cpu', 200);
    t.diagnostic(`cpu: test accuracy ${cpu.accuracy} after 200 steps, ${cpu.stepsPerSec} steps/s`);
    assert.ok(cpu.accuracy > 0.6, `CPU training reached test accuracy ${cpu.accuracy} (chance: 0.1)`);
    assert.ok(cpu.stepsPerSec > 0);
    await page.screenshot({ path: path.join(shots, 'trained-cpu.png'), fullPage: true });
    const gpuAvailable = (await page.locator('#device option[value="webgpu"]').getAttribute('disabled')) === null;
    if (gpuAvailable) {
      const adapter = await page.locator('#adapter').textContent();
      const gpu = await trainOn(page, 'webgpu', 150);
      t.diagnostic(`webgpu (${adapter}): test accuracy ${gpu.accuracy} after 150 steps, ${gpu.stepsPerSec} steps/s`);
      assert.ok(gpu.accuracy > 0.6, `WebGPU training reached test accuracy ${gpu.accuracy}`);
      assert.match((await page.locator('#kernels').textContent()) ?? '', /device: webgpu, kernels: wgsl/);
      await page.screenshot({ path: path.join(shots, 'trained-webgpu.png'), fullPage: true });
    } else t.diagnostic(`no WebGPU adapter in this Chromium: ${await page.locator('#adapter').textContent()}`);

    // draw a "1": a vertical stroke down the middle of the pad
    const pad = page.getByLabel(/^Drawing pad/);
    await pad.scrollIntoViewIfNeeded();
    const box = (await pad.boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.15);
    await page.mouse.down();
    for (let i = 1; i <= 10; i++) await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * (0.15 + 0.07 * i));
    await page.mouse.up();
    await page.waitForFunction("document.getElementById('prediction').dataset.digit !== undefined", null, { timeout: 30_000 });
    const digit = await page.locator('#prediction').getAttribute('data-digit');
    const probs = (await page.locator('#probs li').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-p')))).map(Number);
    t.diagnostic(`drawn "1" read as ${digit}; probabilities ${probs.map((p) => p.toFixed(3)).join(' ')}`);
    assert.equal(probs.length, 10);
    assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-4, 'the probabilities sum to 1');
    assert.equal(Number(digit), probs.indexOf(Math.max(...probs)));
    assert.equal(digit, '1', 'the stroke, made into an MNIST image, reads as a 1');
    assert.match((await page.locator('#prediction').textContent()) ?? '', /^Prediction: \d \(\d+\.\d%\)$/);
    await page.screenshot({ path: path.join(shots, 'drawn.png'), fullPage: true });
    await page.getByRole('button', { name: 'Clear' }).click();
    assert.match((await page.locator('#prediction').textContent()) ?? '', /Cleared/);

    // the keyboard draws too: space puts the pen down, arrows move it, space lifts it and classifies
    await pad.focus();
    await page.keyboard.press('ArrowUp');
    for (let i = 0; i < 4; i++) await page.keyboard.press('ArrowUp');
    await page.keyboard.press('Space');
    for (let i = 0; i < 9; i++) await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Space');
    await page.waitForFunction("/^Prediction: /.test(document.getElementById('prediction').textContent)", null, { timeout: 30_000 });
    t.diagnostic(`a stroke drawn with the keyboard: ${await page.locator('#prediction').textContent()}`);

    // generate on the CPU (the GPU's path is test/browser.test.ts's; SwiftShader makes a token cost
    // half a second): tokens stream into the page, with the rate
    await page.getByLabel('Run on').selectOption('cpu');
    await page.waitForFunction("/runs on cpu/.test(document.getElementById('gpt-status').textContent)", null, { timeout: 30_000 });
    await page.getByLabel('Tokens', { exact: true }).fill('40');
    await page.getByLabel('Prompt').fill('the cat');
    await page.getByRole('button', { name: 'Generate' }).click();
    await page.waitForFunction("/^(Generated|Generation failed)/.test(document.getElementById('gpt-status').textContent)", null, {
      timeout: 60_000,
    });
    const status = (await page.locator('#gpt-status').textContent()) ?? '';
    const text = (await page.locator('#gpt-text').textContent()) ?? '';
    const rate = Number(await page.locator('#tokens-per-sec').textContent());
    t.diagnostic(`${status} ${JSON.stringify(text)}`);
    assert.match(status, /^Generated 40 tokens at \d+(\.\d)? tokens\/s/);
    assert.equal(text.length, 40, 'a character-level model: 40 tokens, 40 characters');
    assert.ok(rate > 0, `tokens/s shown: ${rate}`);
    await page.screenshot({ path: path.join(shots, 'generated.png'), fullPage: true });

    // Stop ends a long generation and a long training early, and each says so
    await page.getByLabel('Tokens', { exact: true }).fill('5000');
    await page.getByRole('button', { name: 'Generate' }).click();
    await page.waitForFunction("document.getElementById('gpt-text').textContent.length >= 5", null, { timeout: 30_000 });
    await page.getByRole('button', { name: 'Stop' }).nth(1).click();
    await page.waitForFunction("/^Stopped after \\d+ tokens/.test(document.getElementById('gpt-status').textContent)", null, {
      timeout: 30_000,
    });
    assert.ok(((await page.locator('#gpt-text').textContent()) ?? '').length < 5000);
    await page.getByLabel('Steps', { exact: true }).fill('100000');
    await page.getByRole('button', { name: 'Start training' }).click();
    await page.waitForFunction("/^Training on cpu: step/.test(document.getElementById('train-status').textContent)", null, {
      timeout: 60_000,
    });
    await page.locator('#train-stop').click();
    await page.waitForFunction("/^Stopped at step \\d+ on cpu/.test(document.getElementById('train-status').textContent)", null, {
      timeout: 60_000,
    });
    assert.equal(await page.getByRole('button', { name: 'Start training' }).isEnabled(), true);

    // 360 px wide: nothing wider than the screen
    await page.setViewportSize({ width: 360, height: 780 });
    const overflow = Number(await page.evaluate('document.documentElement.scrollWidth'));
    assert.ok(overflow <= 360, `the page is ${overflow} px wide at a 360 px viewport`);
    await page.screenshot({ path: path.join(shots, 'narrow-360.png'), fullPage: true });
    assert.deepEqual(errors, [], 'no uncaught errors in the page');
  } finally {
    await browser.close();
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
