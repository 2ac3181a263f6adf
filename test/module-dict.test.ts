// nn.ModuleDict (torch.nn.ModuleDict): Map-like access, children registered under their keys (state-dict
// keys 'key.param', as PyTorch's), PyTorch's repr; and the GPT's transformer, which is one.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import { GPT } from '../src/models/gpt.js';

const { Linear, ModuleDict, ReLU, Sequential } = mox.nn;

test('ModuleDict: get, set, has, keys, values, entries, size and iteration in insertion order', () => {
  const a = new Linear(2, 3);
  const b = new ReLU();
  const d = new ModuleDict({ a, b });
  assert.equal(d.size, 2);
  assert.equal(d.get('a'), a);
  assert.equal(d.get('missing'), undefined);
  assert.ok(d.has('b') && !d.has('c'));
  assert.deepEqual([...d.keys()], ['a', 'b']);
  assert.deepEqual([...d.values()], [a, b]);
  assert.deepEqual(
    [...d.entries()],
    [
      ['a', a],
      ['b', b],
    ],
  );
  assert.deepEqual(
    [...d],
    [
      ['a', a],
      ['b', b],
    ],
  );
  const c = new Linear(3, 1);
  assert.equal(d.set('c', c), d);
  const a2 = new Linear(2, 3);
  d.set('a', a2); // replaces in place, keeping the key's position (a Python dict's rule)
  assert.deepEqual([...d.keys()], ['a', 'b', 'c']);
  assert.equal(d.get('a'), a2);
  assert.deepEqual(new ModuleDict([['x', b]]).get('x'), b);
});

test('ModuleDict: state-dict keys are name.key.param and parameters are found', () => {
  const net = new Sequential({ heads: new ModuleDict({ cls: new Linear(4, 3), box: new Linear(4, 2, false) }) });
  assert.deepEqual(Object.keys(net.stateDict()), ['heads.cls.weight', 'heads.cls.bias', 'heads.box.weight']);
  assert.equal(net.parameters().length, 3);
  assert.equal(net.numParameters(), 4 * 3 + 3 + 4 * 2);
  const d = new ModuleDict({ lin: new Linear(2, 2) });
  assert.deepEqual(
    d.namedModules().map(([k]) => k),
    ['', 'lin'],
  );
});

test('ModuleDict: repr like PyTorch', () => {
  const d = new ModuleDict({ fc: new Linear(2, 3), act: new ReLU() });
  assert.equal(d.toString(), 'ModuleDict(\n  (fc): Linear(in_features=2, out_features=3, bias=True)\n  (act): ReLU()\n)');
  assert.equal(new ModuleDict().toString(), 'ModuleDict()');
});

test('ModuleDict: bad keys and values, and no forward', () => {
  const d = new ModuleDict();
  assert.throws(() => d.set('', new ReLU()), mox.ValueError);
  assert.throws(() => d.set('a.b', new ReLU()), mox.ValueError);
  assert.throws(() => d.set('x', {} as mox.nn.Module), mox.ValueError);
  assert.throws(() => d.forward(), mox.ValueError);
});

test("GPT's transformer is a ModuleDict whose forward gives the hidden states the head reads", () => {
  mox.seed(0);
  const m = new GPT({ vocabSize: 20, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 16 });
  m.eval();
  assert.ok(m.transformer instanceof ModuleDict);
  assert.deepEqual([...m.transformer.keys()], ['wte', 'wpe', 'drop', 'h', 'ln_f']);
  assert.equal(m.transformer.h.length, 2);
  const idx = mox.tensor([[1, 2, 3, 4, 5]], { dtype: 'int32' });
  const hidden = m.transformer.forward(idx);
  assert.deepEqual(hidden.shape, [1, 5, 16]);
  const { logits } = m.forward(idx);
  assert.deepEqual(Array.from(m.lm_head.forward(hidden).dataSync()), Array.from(logits.dataSync()));
});

test('ModuleDict: delete, pop and clear take a module out of parameters() and stateDict()', () => {
  const d = new ModuleDict({ a: new Linear(2, 2), b: new Linear(2, 1), c: new ReLU() });
  assert.equal(d.delete('a'), true);
  assert.equal(d.delete('a'), false);
  assert.deepEqual(Object.keys(d.stateDict()), ['b.weight', 'b.bias']);
  const b = d.get('b');
  assert.equal(d.pop('b'), b);
  assert.equal(d.parameters().length, 0);
  assert.throws(
    () => d.pop('b'),
    (e: Error) => e instanceof mox.ValueError && /no module under 'b' \(keys: c\)/.test(e.message),
  );
  d.clear();
  assert.equal(d.size, 0);
  assert.equal(String(d), 'ModuleDict()');
});
