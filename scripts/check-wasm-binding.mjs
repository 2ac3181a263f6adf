#!/usr/bin/env node
// Checks that the hand-written binding (src/backend/cpu/wasm/kernels.ts) says what assembly/index.ts
// exports: the same functions, each with the same parameters (names and AssemblyScript types, in
// order), and a result where the kernel returns one. tsc checks every call against the binding, so this check is what
// makes those calls true to the kernels. `npm run build` runs it before compiling the kernels (a
// mismatch fails the build); test/wasm-binding.test.ts runs it too.
//
//   node scripts/check-wasm-binding.mjs    exit 1 with one line per problem

import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const BINDING_FILE = 'src/backend/cpu/wasm/kernels.ts';

/** Splits a parameter list at top-level commas (no parameter of a kernel has a nested one). */
const params = (list) =>
  list
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      const m = /^(\w+)\s*:\s*(\w+)$/.exec(p);
      return m ? { name: m[1], type: m[2] } : { name: p, type: '?' };
    });

/** The exports of assembly/index.ts: functions as { params, returns }, and the names of constants. */
export function assemblyExports(read = (file) => readFileSync(join(root, file), 'utf8')) {
  const functions = new Map();
  const constants = [];
  const index = read('assembly/index.ts');
  for (const m of index.matchAll(/export\s*\{([^}]*)\}\s*from\s*'\.\/(\w+)'/g)) {
    const file = `assembly/${m[2]}.ts`;
    const text = read(file);
    for (const name of m[1]
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      const fn = new RegExp(`export function ${name}\\(([^)]*)\\)\\s*:\\s*(\\w+)`).exec(text);
      if (fn) functions.set(name, { params: params(fn[1]), returns: fn[2] === 'void' ? 'void' : 'number', file });
      else if (new RegExp(`export const ${name}\\b`).test(text)) constants.push(name);
      else functions.set(name, { params: [], returns: '?', file, missing: true });
    }
  }
  return { functions, constants };
}

/** The binding's view: the methods of `interface KernelExports` and the keys of `interface KernelConstants`. */
export function bindingExports(text) {
  const body = (name) => {
    const m = new RegExp(`export interface ${name} \\{([\\s\\S]*?)\\n\\}`).exec(text);
    return m ? m[1].replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '') : '';
  };
  const functions = new Map();
  for (const m of body('KernelExports').matchAll(/(\w+)\(([^)]*)\)\s*:\s*(\w+);/g)) {
    functions.set(m[1], { params: params(m[2]), returns: m[3] });
  }
  const constants = [...body('KernelConstants').matchAll(/(\w+)\s*:/g)].map((m) => m[1]);
  return { functions, constants };
}

/** One line per disagreement between assembly/ and the binding text; empty when they agree. */
export function bindingProblems(bindingText, read) {
  const asm = assemblyExports(read);
  const bind = bindingExports(bindingText);
  const out = [];
  for (const [name, f] of asm.functions) {
    if (f.missing) {
      out.push(`${name}: exported by assembly/index.ts but no 'export function ${name}' or 'export const' in ${f.file}`);
      continue;
    }
    const b = bind.functions.get(name);
    if (!b) {
      out.push(`${name}: exported by assembly/index.ts (${f.file}) but missing from ${BINDING_FILE}`);
      continue;
    }
    const want = f.params.map((p) => `${p.name}: ${p.type}`).join(', ');
    const have = b.params.map((p) => `${p.name}: ${p.type}`).join(', ');
    if (want !== have) out.push(`${name}: parameters (${have}) in the binding, (${want}) in ${f.file}`);
    if (b.returns !== f.returns) out.push(`${name}: returns ${b.returns} in the binding, ${f.returns} in ${f.file}`);
  }
  for (const name of bind.functions.keys()) {
    if (!asm.functions.has(name)) out.push(`${name}: in ${BINDING_FILE} but not exported by assembly/index.ts`);
  }
  for (const name of asm.constants) {
    if (!bind.constants.includes(name)) out.push(`${name}: a constant exported by assembly/index.ts but missing from KernelConstants`);
  }
  for (const name of bind.constants) {
    if (!asm.constants.includes(name)) out.push(`${name}: in KernelConstants but not a constant exported by assembly/index.ts`);
  }
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const problems = bindingProblems(readFileSync(join(root, BINDING_FILE), 'utf8'));
  for (const p of problems) console.error(`check-wasm-binding: ${p}`);
  if (problems.length) process.exit(1);
  console.log(`check-wasm-binding: ${BINDING_FILE} matches assembly/index.ts`);
}
