// `npm test`: the whole suite on the CPU, then the WebGPU phase -- the golden suite and the WebGPU
// property tests (dist/test/webgpu-*.test.js) with MOX_DEVICE=webgpu -- when a WebGPU adapter is
// present (a GPU, or Mesa's lavapipe on a machine without one).
//
//   MOX_DEVICE=webgpu npm test   the WebGPU phase must run (fails when no adapter opens)
//   MOX_DEVICE=cpu npm test      the CPU phase only
// Then a browser phase (dist/test/browser*.test.js: mox/browser in headless Chromium; playground.test.js:
// the `mox playground` page driven by playwright-core) when Chromium is
// found; MOX_BROWSER=1 makes a missing Chromium an error.
// With MOX_DEVICE unset, the WebGPU phase runs when an adapter opens and is reported as absent
// otherwise (CI sets MOX_DEVICE=webgpu, so there it is never silently left out).
// The CPU phase runs on the default kernels (native at the widest level, where built); the kernel
// tests then run again on each other native level and on WebAssembly alone. MOX_REQUIRE_NATIVE=1
// (CI) makes native kernels that do not run an error; MOX_CPU_KERNELS=X runs the CPU phase on X only.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

const dir = 'dist/test';
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.test.js'))
  .sort();
const gpuFiles = files.filter((f) => f.startsWith('webgpu-'));
// the browser phase: mox/browser in Chromium, and the playground page driven by playwright-core
const isBrowserFile = (f) => f.startsWith('browser') || f === 'playground.test.js';
const browserFiles = files.filter(isBrowserFile);
const cpuFiles = files.filter((f) => !f.startsWith('webgpu-') && !isBrowserFile(f));

function run(label, list, env) {
  console.log(`\n== ${label}: ${list.length} files ==`);
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...list.map((f) => `${dir}/${f}`)], {
    stdio: 'inherit',
    env: { ...process.env, ...env },
  });
  return r.status === 0;
}

/** Whether a WebGPU adapter opens, probed in a child so a driver crash cannot take this process down. */
function adapterPresent() {
  const probe = `import('./dist/src/index.js').then((m) => m.initDevice('webgpu')).then((b) => { console.log(b.info().adapter); process.exit(0); }, (e) => { console.log(e.message); process.exit(1); })`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8', timeout: 60_000 });
  return { ok: r.status === 0, say: (r.stdout || r.stderr || '').trim().split('\n').pop() };
}

/** backendInfo() of a fresh process with this environment. */
function cpuInfo(env) {
  const code = `import('./dist/src/index.js').then((m) => console.log(JSON.stringify(m.backendInfo())))`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', env: { ...process.env, ...env } });
  return r.status === 0 ? JSON.parse(r.stdout) : { kernels: 'unknown', native: r.stderr.trim() };
}

const want = process.env.MOX_DEVICE;
const info = cpuInfo({ MOX_CPU_KERNELS: process.env.MOX_CPU_KERNELS ?? '' });
console.log(`CPU kernels: ${info.kernels}${info.nativeLevels ? ` (native levels: ${info.nativeLevels})` : `; native ${info.native}`}`);
// MOX_REQUIRE_NATIVE=1 (CI): the native tier must run, or every test would pass on WebAssembly alone
let ok = true;
if (process.env.MOX_REQUIRE_NATIVE === '1' && !String(info.kernels).startsWith('native-')) {
  console.error(`MOX_REQUIRE_NATIVE=1 but the native CPU kernels are not running: ${info.native}`);
  ok = false;
}
ok = run('cpu', cpuFiles, { MOX_DEVICE: 'cpu' }) && ok;
// The kernel tests once more on every other CPU tier: each native level this CPU runs below the one
// the phase above used, and WebAssembly alone (the browsers' tier), so each is checked against the
// reference and PyTorch's golden numbers.
if (!process.env.MOX_CPU_KERNELS) {
  const tierFiles = cpuFiles.filter((f) => /^(golden|fast-|native-|quant\.|backend-cpu|fused-dispatch|optim\.)/.test(f));
  const levels = info.nativeLevels ? info.nativeLevels.split(',') : [];
  const tiers = [...levels.slice(0, -1).map((l) => `native-${l}`), 'relaxed-simd'];
  for (const tier of tiers) {
    // the native-* tests compare native kernels with WebAssembly ones: nothing to compare on WebAssembly alone
    const list = tier.startsWith('native') ? tierFiles : tierFiles.filter((f) => !f.startsWith('native-'));
    ok = run(`cpu, MOX_CPU_KERNELS=${tier}`, list, { MOX_DEVICE: 'cpu', MOX_CPU_KERNELS: tier }) && ok;
  }
}
if (want !== 'cpu') {
  const probe = adapterPresent();
  if (probe.ok) {
    console.log(`\nWebGPU adapter: ${probe.say}`);
    ok = run('webgpu', ['golden.test.js', ...gpuFiles], { MOX_DEVICE: 'webgpu', MOX_WEBGPU_CHECK_KEYS: '1' }) && ok;
  } else if (want === 'webgpu') {
    console.error(`\nMOX_DEVICE=webgpu but no WebGPU adapter opens: ${probe.say}`);
    ok = false;
  } else {
    console.log(`\nWebGPU phase not run: no adapter (${probe.say}); MOX_DEVICE=webgpu makes this an error`);
  }
}
// The browser phase: mox/browser in headless Chromium (WebGPU on its own software adapter).
// MOX_BROWSER=1 makes a missing Chromium an error (CI sets it); MOX_BROWSER=0 leaves the phase out.
const chromium = process.env.MOX_CHROMIUM ?? '/usr/bin/chromium';
if (process.env.MOX_BROWSER !== '0' && want !== 'cpu') {
  if (existsSync(chromium)) {
    ok = run('browser', browserFiles, { MOX_CHROMIUM: chromium }) && ok;
  } else if (process.env.MOX_BROWSER === '1') {
    console.error(`\nMOX_BROWSER=1 but no Chromium at ${chromium} (set MOX_CHROMIUM, or apt-get install chromium)`);
    ok = false;
  } else {
    console.log(`\nbrowser phase not run: no Chromium at ${chromium}; MOX_BROWSER=1 makes this an error`);
  }
}
process.exit(ok ? 0 : 1);
