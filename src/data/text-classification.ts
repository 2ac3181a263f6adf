// Labelled sentences (rt-polarity): plain arrays rather than tensors, because a text has to be
// tokenized before it is a tensor and the tokenizer's vocabulary must come from the training split
// only. textClassificationSplit is the fixed, seeded, stratified train/test split such a corpus
// needs when it is published without one.

import '../ops/tensor-methods.js';
import { ValueError } from '../errors.js';
import { Generator } from '../tensor/random.js';
import { randperm } from './dataset.js';

/** A labelled text dataset (rt-polarity): sentences, their class indices, the class names. */
export interface TextClassificationDataset {
  /** The dataset's name. */
  name: string;
  /** Which split this is. */
  split: 'train' | 'test' | 'all';
  /** One sentence per example. */
  texts: string[];
  /** labels[i] is the class index of texts[i]. */
  labels: Int32Array;
  /** classes[k] names class k. */
  classes: readonly string[];
  /** The files read. */
  files: string[];
}

/** Options of textClassificationSplit: the test share and the seed. */
export interface TextClassificationSplitOptions {
  /** The share of each class that goes to the test split, rounded down (default 0.1). */
  testFraction?: number;
  /** Seed of the per-class shuffles (default 0): equal seeds give equal splits on every machine. */
  seed?: number;
}

/**
 * Splits a dataset into `[train, test]`, stratified: from each class, floor(count * testFraction) examples
 * chosen by a seeded shuffle go to test, the rest to train, so both keep the class balance. Each split lists its examples in their
 * original order.
 */
export function textClassificationSplit(
  ds: TextClassificationDataset,
  opts: TextClassificationSplitOptions = {},
): [TextClassificationDataset, TextClassificationDataset] {
  const fraction = opts.testFraction ?? 0.1;
  const seed = opts.seed ?? 0;
  if (!(fraction > 0 && fraction < 1)) throw new ValueError('textClassificationSplit', `testFraction must be in (0, 1), got ${fraction}`);
  if (!Number.isInteger(seed)) throw new ValueError('textClassificationSplit', `seed must be an integer, got ${seed}`);
  if (ds.texts.length !== ds.labels.length) {
    throw new ValueError('textClassificationSplit', `${ds.name}: ${ds.texts.length} texts but ${ds.labels.length} labels`);
  }
  const g = new Generator(seed);
  const inTest = new Uint8Array(ds.texts.length);
  for (let k = 0; k < ds.classes.length; k++) {
    const members: number[] = [];
    ds.labels.forEach((l, i) => {
      if (l === k) members.push(i);
    });
    const order = randperm(members.length, g);
    const nTest = Math.floor(members.length * fraction);
    for (let j = 0; j < nTest; j++) inTest[members[order[j]!]!] = 1;
  }
  const pick = (split: 'train' | 'test', want: number): TextClassificationDataset => {
    const idx: number[] = [];
    inTest.forEach((t, i) => {
      if (t === want) idx.push(i);
    });
    return {
      ...ds,
      split,
      texts: idx.map((i) => ds.texts[i]!),
      labels: Int32Array.from(idx, (i) => ds.labels[i]!),
      classes: ds.classes,
      files: ds.files,
    };
  };
  return [pick('train', 0), pick('test', 1)];
}
