// Freezing parameters by name, for the command line (`mox finetune gpt --freeze 'transformer.h.0.*'`)
// and for code that knows a model by its parameter names rather than its modules.

import { ValueError } from '../errors.js';
import type { Module } from './module.js';

/**
 * A glob over dotted parameter names as a RegExp: `*` matches any run of characters, dots included
 * (so `transformer.h.0.*` takes every parameter of block 0, and `*.bias` every bias at any depth), `?`
 * one character; everything else matches itself.
 */
export function parameterGlob(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\*?]/g, (ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : `\\${ch}`));
  return new RegExp(`^${body}$`);
}

/**
 * Freezes (requiresGrad = false, as torch's `p.requires_grad_(False)`) every parameter of `model` whose
 * dotted name (namedParameters()) matches one of `patterns` (see parameterGlob), and returns the names
 * frozen, in the model's order. A pattern that matches no parameter is a ValueError listing some of the
 * real names, so a typo never trains what was meant to stay fixed. Freeze before compile(), or let
 * fit() pick the change up (it does for an optimizer compile() made from a name).
 */
export function freezeParameters(model: Module, patterns: readonly string[]): string[] {
  if (!Array.isArray(patterns) || !patterns.every((p) => typeof p === 'string' && p.length > 0))
    throw new ValueError('freezeParameters', `patterns must be a list of non-empty strings, got ${JSON.stringify(patterns)}`);
  const named = model.namedParameters();
  const globs = patterns.map((p) => [p, parameterGlob(p)] as const);
  const unmatched = globs.filter(([, re]) => !named.some(([k]) => re.test(k))).map(([p]) => p);
  if (unmatched.length > 0) {
    const some = named.slice(0, 8).map(([k]) => k);
    throw new ValueError(
      'freezeParameters',
      `${unmatched.map((p) => `'${p}'`).join(', ')} matched no parameter of ${model.name}; its ${named.length} parameters are named ` +
        `like ${some.join(', ')}${named.length > some.length ? ', ...' : ''} ('*' matches any run of characters, dots included)`,
    );
  }
  const frozen: string[] = [];
  for (const [k, p] of named) {
    if (globs.some(([, re]) => re.test(k))) {
      p.requiresGrad = false;
      frozen.push(k);
    }
  }
  return frozen;
}
