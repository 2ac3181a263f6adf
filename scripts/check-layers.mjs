#!/usr/bin/env node
// Checks that every import in src/ points down the floors of docs/architecture.md, and that no
// import cycle exists at all. Fails (exit 1) with one line per violation. Type-only imports count
// too: a type that lives on a higher floor is in the wrong place.
//
//   node scripts/check-layers.mjs            check, print a summary
//   node scripts/check-layers.mjs --graph    also print each folder's imports

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');

// Floors, bottom to top. A file may import its own floor or any floor below; within a floor, the
// folders may use each other as long as no cycle forms.
export const FLOORS = [
  ['errors.ts', 'base'],
  ['backend'],
  ['tensor', 'autograd', 'ops'],
  ['nn', 'optim', 'data', 'text', 'io'],
  ['train', 'models', 'adapters', 'prune', 'quant', 'onnx', 'distributed', 'report', 'federated'],
  ['cli', 'serve', 'core.ts', 'index.ts', 'browser.ts', 'types', 'web'],
];
// Inside the core floor the order is stricter: tensor below autograd below ops (the Tensor class
// gets its chainable methods from ops/, never imports them).
const SUBFLOOR = { tensor: 0, autograd: 1, ops: 2 };

function listTs(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listTs(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The top-level entry of src/ a file belongs to: a folder name, or the file name itself. */
const unitOf = (file) => relative(src, file).split('/')[0];
const floorOf = (unit) => FLOORS.findIndex((f) => f.includes(unit));

const IMPORT_RE =
  /(?:^|\n)\s*(?:import|export)\s+(type\s+)?[^'";]*?\s*from\s+['"]([^'"]+)['"]|(?:^|\n)\s*import\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function importsOf(file) {
  const text = readFileSync(file, 'utf8');
  const out = [];
  for (const m of text.matchAll(IMPORT_RE)) {
    const spec = m[2] ?? m[3] ?? m[4];
    if (!spec?.startsWith('.')) continue;
    const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
    out.push({ target, typeOnly: Boolean(m[1]) });
  }
  return out;
}

const files = listTs(src);
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const problems = [];

for (const f of files) {
  const u = unitOf(f);
  const fl = floorOf(u);
  if (fl < 0) problems.push(`${relative(root, f)}: folder '${u}' has no floor in scripts/check-layers.mjs`);
  for (const { target } of graph.get(f)) {
    if (!graph.has(target)) {
      problems.push(`${relative(root, f)}: imports ${relative(root, target)}, which is not a source file`);
      continue;
    }
    const tu = unitOf(target);
    const tf = floorOf(tu);
    const up = tf > fl || (tf === fl && u in SUBFLOOR && tu in SUBFLOOR && SUBFLOOR[tu] > SUBFLOOR[u]);
    if (up) problems.push(`${relative(root, f)}: upward import of ${relative(root, target)} (${u} -> ${tu})`);
  }
}

// The Tensor class gets its chainable methods from ops/tensor-methods.ts (declaration merging plus
// prototype assignment). A module above the core that imports the core must import the installer
// too, so the methods exist whichever module a program loads first.
const INSTALLER = join(src, 'ops', 'tensor-methods.ts');
const CORE = new Set(['tensor', 'autograd', 'ops']);
for (const f of files) {
  if (floorOf(unitOf(f)) <= floorOf('ops')) continue;
  const imps = graph.get(f).map((i) => i.target);
  const usesCore = graph.get(f).some((i) => !i.typeOnly && CORE.has(unitOf(i.target)));
  if (usesCore && !imps.includes(INSTALLER)) {
    problems.push(`${relative(root, f)}: uses the core but does not import ops/tensor-methods.js (Tensor's methods)`);
  }
}

// Cycles: Tarjan's strongly connected components over every import, type-only included.
let index = 0;
const idx = new Map();
const low = new Map();
const stack = [];
const onStack = new Set();
const sccs = [];
function strongConnect(v) {
  idx.set(v, index);
  low.set(v, index++);
  stack.push(v);
  onStack.add(v);
  for (const { target: w } of graph.get(v)) {
    if (!graph.has(w)) continue;
    if (!idx.has(w)) {
      strongConnect(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
  }
  if (low.get(v) === idx.get(v)) {
    const comp = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      comp.push(w);
    } while (w !== v);
    if (comp.length > 1 || graph.get(v).some((i) => i.target === v)) sccs.push(comp);
  }
}
for (const f of files) if (!idx.has(f)) strongConnect(f);
for (const comp of sccs) {
  problems.push(
    `import cycle of ${comp.length} files: ${comp
      .map((f) => relative(src, f))
      .sort()
      .join(', ')}`,
  );
}

if (process.argv.includes('--graph')) {
  const edges = new Map();
  for (const [f, imps] of graph) {
    for (const { target } of imps) {
      if (!graph.has(target) || unitOf(target) === unitOf(f)) continue;
      const k = unitOf(f);
      if (!edges.has(k)) edges.set(k, new Set());
      edges.get(k).add(unitOf(target));
    }
  }
  for (const [k, v] of [...edges].sort()) console.log(`${k} -> ${[...v].sort().join(', ')}`);
}

if (problems.length) {
  for (const p of problems) console.error(`check-layers: ${p}`);
  console.error(`check-layers: ${problems.length} problem(s) in ${files.length} files`);
  process.exit(1);
}
console.log(`check-layers: ${files.length} files, every import points down, no cycles`);
