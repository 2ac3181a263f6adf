// A lost GPU device (here: destroyed on purpose) turns every later GPU call into a DeviceError that
// says so, instead of a hang or a wrong number. Its own file: the device stays lost for the process.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import { openGpu } from '../test-support/webgpu.js';

test('after the device is lost, GPU work and reads fail with a DeviceError naming the loss', async () => {
  const backend = await openGpu();
  const t = mox.ones([4]).to('webgpu');
  assert.deepEqual(Array.from(await t.add(1).data()), [2, 2, 2, 2]);
  backend.device.destroy();
  await new Promise((r) => setTimeout(r, 50));
  await assert.rejects(
    async () => t.add(1).data(),
    (e: Error) => e instanceof mox.DeviceError && /device was lost \(destroyed\)/.test(e.message),
  );
});
