// Shared by the WebGPU tests (test/webgpu-*.test.ts): opening the GPU, moving CPU tensors there, and
// comparing a GPU result with the CPU's. Those test files run only in the WebGPU phase of the test
// runner (scripts/run-tests.mjs), where an adapter is present (a real GPU or Mesa's lavapipe).

import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { assertClose as assertAllClose } from './assert.js';
import type { WebGPUBackend } from '../src/backend/webgpu/webgpu-backend.js';

/** Opens the GPU (once) and returns its backend. */
export async function openGpu(): Promise<WebGPUBackend> {
  return (await mox.initDevice('webgpu')) as WebGPUBackend;
}

/** A copy of a CPU tensor on the GPU, keeping requiresGrad. */
export const gpu = (t: Tensor): Tensor => t.to('webgpu');

/**
 * Asserts that a GPU tensor matches a CPU one: same shape and dtype, and every element within
 * atol + rtol * |expected| (NaN matches NaN).
 */
export async function assertClose(actual: Tensor, expected: Tensor, rtol = 1e-5, atol = 1e-6, what = 'result'): Promise<void> {
  assert.equal(actual.device, 'webgpu', `${what}: expected a webgpu tensor`);
  assert.deepEqual([...actual.shape], [...expected.shape], `${what}: shape`);
  assert.equal(actual.dtype, expected.dtype, `${what}: dtype`);
  const a = Array.from(await actual.data(), Number);
  const e = Array.from(expected.dataSync(), Number);
  assertAllClose(a, e, { rtol, atol, equalNan: true, msg: `${what} of ${fmtShape(expected.shape)}` });
}

const fmtShape = (s: readonly number[]): string => `[${s.join(',')}]`;
