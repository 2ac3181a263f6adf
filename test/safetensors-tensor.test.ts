// safetensors <-> mox Tensor, through the file system. The byte format itself is tested in safetensors.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SafetensorsError } from '../src/errors.js';
import { tensor } from '../src/tensor/create.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { parseSafetensors } from '../src/io/safetensors.js';
import {
  loadSafetensors,
  loadSafetensorsSync,
  saveSafetensors,
  saveSafetensorsSync,
  tensorsFromSafetensors,
} from '../src/io/safetensors-tensors.js';

const GOLDEN = process.env['MOX_GOLDEN_DIR'] ?? path.resolve(process.cwd(), '../shared/golden');

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'mox-st-'));
}

function sample(): Record<string, Tensor> {
  return {
    'fc.weight': tensor(Float32Array.from([1, -2, 3.5, 4, 5, 6]), { shape: [2, 3], dtype: 'float32' }),
    'fc.bias': tensor(Float64Array.from([0.25, -0.125]), { shape: [2], dtype: 'float64' }),
    labels: tensor(Int32Array.from([3, -1, 0]), { shape: [3], dtype: 'int32' }),
    mask: tensor(Uint8Array.from([1, 0]), { shape: [2], dtype: 'bool' }),
    step: tensor(Float32Array.from([10]), { shape: [], dtype: 'float32' }),
  };
}

function assertSame(got: Record<string, Tensor>, want: Record<string, Tensor>): void {
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());
  for (const [name, w] of Object.entries(want)) {
    const g = got[name]!;
    assert.equal(g.dtype, w.dtype, name);
    assert.deepEqual([...g.shape], [...w.shape], name);
    assert.deepEqual(Array.from(g.dataSync()), Array.from(w.dataSync()), name);
  }
}

test('save then load (async and sync) round trips tensors and metadata', async () => {
  const dir = tmpDir();
  try {
    const file = path.join(dir, 'model.safetensors');
    await saveSafetensors(file, sample(), { format: 'pt', epoch: '3' });
    const a = await loadSafetensors(file);
    assertSame(a.tensors, sample());
    assert.deepEqual(a.metadata, { format: 'pt', epoch: '3' });

    const file2 = path.join(dir, 'model2.safetensors');
    saveSafetensorsSync(file2, sample());
    const b = loadSafetensorsSync(file2);
    assertSame(b.tensors, sample());
    assert.deepEqual(b.metadata, {});
    assert.deepEqual(fs.readdirSync(dir).sort(), ['model.safetensors', 'model2.safetensors']); // no temp files left
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('saving over an existing file replaces it atomically', async () => {
  const dir = tmpDir();
  try {
    const file = path.join(dir, 'ckpt.safetensors');
    saveSafetensorsSync(file, { x: tensor(Float32Array.from([1]), { shape: [1], dtype: 'float32' }) });
    await saveSafetensors(file, { y: tensor(Float32Array.from([2, 3]), { shape: [2], dtype: 'float32' }) });
    const { tensors } = loadSafetensorsSync(file);
    assert.deepEqual(Object.keys(tensors), ['y']);
    assert.deepEqual(fs.readdirSync(dir), ['ckpt.safetensors']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('errors name the path', async () => {
  const dir = tmpDir();
  try {
    const missing = path.join(dir, 'nope.safetensors');
    await assert.rejects(
      loadSafetensors(missing),
      (e: unknown) => e instanceof SafetensorsError && e.message.includes(`cannot read ${missing}`),
    );
    assert.throws(
      () => loadSafetensorsSync(missing),
      (e: unknown) => e instanceof SafetensorsError && e.message.includes(`cannot read ${missing}`),
    );

    const corrupt = path.join(dir, 'bad.safetensors');
    fs.writeFileSync(corrupt, new Uint8Array(4));
    assert.throws(
      () => loadSafetensorsSync(corrupt),
      (e: unknown) =>
        e instanceof SafetensorsError &&
        e.message === `safetensors: ${corrupt}: file is 4 bytes, too short to hold the 8-byte header length`,
    );

    const noDir = path.join(dir, 'sub', 'x.safetensors');
    await assert.rejects(
      saveSafetensors(noDir, sample()),
      (e: unknown) => e instanceof SafetensorsError && e.message.includes(`cannot write ${noDir}`),
    );
    assert.throws(
      () => saveSafetensorsSync(noDir, sample()),
      (e: unknown) => e instanceof SafetensorsError && e.message.includes(`cannot write ${noDir}`),
    );
    assert.throws(
      () => saveSafetensorsSync(path.join(dir, 'y'), { a: 5 as unknown as Tensor }),
      (e: unknown) => e instanceof SafetensorsError && /'a' is not a Tensor/.test(e.message),
    );
    assert.deepEqual(fs.readdirSync(dir).sort(), ['bad.safetensors']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('golden files load as tensors with the right shapes and dtypes', () => {
  for (const f of ['linear_0.safetensors', 'cross_entropy_0.safetensors', 'gpt_block_0.safetensors']) {
    const file = path.join(GOLDEN, f);
    const { entries } = parseSafetensors(fs.readFileSync(file));
    const { tensors, metadata } = loadSafetensorsSync(file);
    assert.ok(metadata['op']);
    assert.deepEqual(Object.keys(tensors), [...entries.keys()]);
    for (const [name, e] of entries) {
      assert.deepEqual([...tensors[name]!.shape], e.shape, `${f}: ${name}`);
      assert.equal(tensors[name]!.dtype, e.dtype === 'I64' ? 'int32' : 'float32');
    }
  }
  const bytes = fs.readFileSync(path.join(GOLDEN, 'abs_0.safetensors'));
  const { tensors } = tensorsFromSafetensors(bytes, 'abs_0');
  const x = tensors['in.0']!.dataSync(),
    y = tensors['out']!.dataSync();
  for (let i = 0; i < x.length; i++) assert.equal(y[i], Math.abs(x[i]!));
});
