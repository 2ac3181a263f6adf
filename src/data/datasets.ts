// Named datasets: loadDataset('mnist' | 'fashion-mnist' | 'cifar10' | 'tinyshakespeare' | 'rt-polarity', {split}).
// The files are looked for, in order, in the `dataDir` option, in $MOX_DATA_DIR, and in the cache
// folder ($XDG_CACHE_HOME/mox or ~/.cache/mox), each under the dataset's folder name (docs/data.md
// lists the layouts); a file found nowhere is downloaded from its canonical URL into the cache, with
// a sha256 check. Offline, the error names every folder searched and the reason the download failed.

import '../ops/tensor-methods.js';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DataError, DatasetNotFoundError, ValueError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { TensorDataset } from './dataset.js';
import { readMnistImages, readMnistLabels } from './formats/idx.js';
import { CIFAR10_CLASSES, readCifar10 } from './formats/cifar.js';
import { readLines, readText } from './formats/text.js';
import { readTar } from './formats/tar.js';
import { readBytes } from './formats/file.js';
import { downloadFile } from './download.js';
import { textClassificationSplit, type TextClassificationDataset } from './text-classification.js';
import { createHash } from 'node:crypto';

/** A named image dataset loadDataset knows: MNIST, Fashion-MNIST or CIFAR-10. */
export type ImageDatasetName = 'mnist' | 'fashion-mnist' | 'cifar10';
/** A named dataset loadDataset knows: the image datasets, Tiny Shakespeare or rt-polarity. */
export type DatasetName = ImageDatasetName | 'tinyshakespeare' | 'rt-polarity';

/** One file of a dataset: its cache name, mirrors, checksum and (for an archive) its members. */
export interface RemoteFile {
  /** The file name, as saved in the cache. */
  file: string;
  /** Where it can be fetched, tried in order. */
  urls: string[];
  /** null where none is published: the archive's members are checked instead. */
  sha256: string | null;
  /** For an archive: the files taken out of it (path inside it -> sha256); each is saved under its base name. */
  members?: Readonly<Record<string, string>>;
}

/**
 * Where a dataset lives: the cache folder names to try, and the remote files with their checksums.
 * @inline
 */
interface Source {
  /** Folder names tried under each root, the first is the one the cache uses. */
  folders: string[];
  /** The files to fetch when none is found locally. */
  remote: RemoteFile[];
}

const MNIST_MIRRORS = [
  'https://ossci-datasets.s3.amazonaws.com/mnist/',
  'https://storage.googleapis.com/cvdf-datasets/mnist/',
  'http://yann.lecun.com/exdb/mnist/',
];
const FASHION_MIRRORS = [
  'https://fashion-mnist.s3.eu-central-1.amazonaws.com/',
  'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/',
];
const idxFiles = (mirrors: string[], sums: Record<string, string>): RemoteFile[] =>
  Object.entries(sums).map(([file, sha256]) => ({ file, sha256, urls: mirrors.map((m) => m + file) }));

/** Where each dataset comes from, with the sha256 of every file. */
export const DATASET_SOURCES: Readonly<Record<DatasetName, Source>> = {
  mnist: {
    folders: ['mnist', 'MNIST/raw', 'MNIST'],
    remote: idxFiles(MNIST_MIRRORS, {
      'train-images-idx3-ubyte.gz': '440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609',
      'train-labels-idx1-ubyte.gz': '3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c',
      't10k-images-idx3-ubyte.gz': '8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6',
      't10k-labels-idx1-ubyte.gz': 'f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6',
    }),
  },
  'fashion-mnist': {
    folders: ['fashion-mnist', 'fashion_mnist', 'FashionMNIST/raw', 'FashionMNIST'],
    remote: idxFiles(FASHION_MIRRORS, {
      'train-images-idx3-ubyte.gz': '3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84',
      'train-labels-idx1-ubyte.gz': 'a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845',
      't10k-images-idx3-ubyte.gz': '346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073',
      't10k-labels-idx1-ubyte.gz': '67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5',
    }),
  },
  cifar10: {
    folders: ['cifar10', 'cifar10/cifar-10-batches-bin', 'cifar-10-batches-bin', 'cifar-10', 'cifar-10/cifar-10-batches-bin'],
    remote: [
      {
        file: 'cifar-10-binary.tar.gz',
        urls: ['https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz'],
        sha256: 'c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd',
      },
    ],
  },
  tinyshakespeare: {
    folders: ['tinyshakespeare', 'shakespeare'],
    remote: [
      {
        file: 'input.txt',
        urls: ['https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt'],
        sha256: '86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed',
      },
    ],
  },
  // Pang & Lee's sentence polarity v1.0 is published only as a tarball, with no checksum: the two
  // files inside are checked against the sha256 of the published files instead.
  'rt-polarity': {
    folders: ['rt-polarity', 'rt-polaritydata'],
    remote: [
      {
        file: 'rt-polaritydata.tar.gz',
        urls: ['https://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz'],
        sha256: null,
        members: {
          'rt-polaritydata/rt-polarity.pos': 'd79ef14009bbf87cd6be21f91c3ea1a3cbcb73b34dfb4231aef7bbcd7677abc4',
          'rt-polaritydata/rt-polarity.neg': '4af43bf489620b498a0852c5a8c6a535155dec7985fdfea782b8f7756b957ccc',
        },
      },
    ],
  },
};

/** Files that are not a dataset but are found and fetched by the same rule: GPT-2's BPE vocabulary. */
export type FileSetName = 'gpt2-bpe';

const GPT2_BASE = 'https://openaipublic.blob.core.windows.net/gpt-2/models/124M/';
/** Where the non-dataset file sets (GPT-2's BPE vocabulary) are cached and fetched from. */
export const FILE_SET_SOURCES: Readonly<Record<FileSetName, Source>> = {
  'gpt2-bpe': {
    folders: ['gpt2-bpe', 'gpt2'],
    remote: [
      {
        file: 'encoder.json',
        urls: [GPT2_BASE + 'encoder.json'],
        sha256: '196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783',
      },
      { file: 'vocab.bpe', urls: [GPT2_BASE + 'vocab.bpe'], sha256: '1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5' },
    ],
  },
};

type SourceName = DatasetName | FileSetName;
const sourceOf = (name: SourceName): Source =>
  Object.hasOwn(FILE_SET_SOURCES, name) ? FILE_SET_SOURCES[name as FileSetName] : DATASET_SOURCES[name as DatasetName];
/** rt-polarity's classes, by label. */
export const RT_POLARITY_CLASSES = ['negative', 'positive'] as const;

const FASHION_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

/** Options of loadDataset: split, where to look and download, checksums, limits and scaling. */
export interface LoadDatasetOptions {
  /**
   * 'train' (default) or 'test'; tinyshakespeare: the first 90% of the text, the last 10%, or 'all';
   * rt-polarity: 'all' (default), or the fixed 90/10 split of textClassificationSplit (seed 0).
   */
  split?: 'train' | 'test' | 'all';
  /** Searched first: the folder holding the files, or a folder holding `<dataset>/`. */
  dataDir?: string;
  /** Where downloads go and are looked for; default $XDG_CACHE_HOME/mox or ~/.cache/mox. */
  cacheDir?: string;
  /** Download files found nowhere (default true; false when $MOX_DATA_OFFLINE is set). */
  download?: boolean;
  /** A base URL to fetch every file from by its name instead of the canonical URLs (or $MOX_DATA_MIRROR). */
  mirror?: string;
  /** sha256 per file name, replacing the known ones (null: no check), for a mirror serving other builds. */
  checksums?: Record<string, string | null>;
  /** Images only: keep the first `limit` examples. */
  limit?: number;
  /** Images only: 'float' (default) float32 in [0, 1]; 'raw' float32 values 0..255. */
  scale?: 'float' | 'raw';
  /** Print download progress to stderr (default true). */
  verbose?: boolean;
}

/** Images [N, C, H, W] float32 and labels [N] int32, usable directly as a TensorDataset of [image, label]. */
export class ImageDataset extends TensorDataset {
  /** A dataset of images x and labels y (loadDataset builds it). */
  constructor(
    /** Which dataset this is. */
    readonly name: ImageDatasetName,
    /** 'train' or 'test'. */
    readonly split: 'train' | 'test',
    /** Images [N, C, H, W] float32. */
    readonly x: Tensor,
    /** Labels [N] int32. */
    readonly y: Tensor,
    /** classes[k] names class k. */
    readonly classes: readonly string[],
    /** The files read. */
    readonly files: readonly string[],
  ) {
    super(x, y);
  }
}

/** Tiny Shakespeare as loadDataset returns it: the text of one split and the files read. */
export interface TextDataset {
  /** The dataset's name. */
  name: 'tinyshakespeare';
  /** Which part of the text: the first 90% (train), the last 10% (test), or all of it. */
  split: 'train' | 'test' | 'all';
  /** The text. */
  text: string;
  /** The files read. */
  files: string[];
}

/** The cache folder: $XDG_CACHE_HOME/mox, or ~/.cache/mox. */
export function defaultCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return xdg ? join(xdg, 'mox') : join(homedir(), '.cache', 'mox');
}

interface Root {
  /** How the error message names it: `MOX_DATA_DIR (/x/mnist)`. */
  label: string;
  dirs: string[];
}

function roots(name: SourceName, opts: LoadDatasetOptions): Root[] {
  const { folders } = sourceOf(name);
  const out: Root[] = [];
  if (opts.dataDir)
    out.push({
      label: `dataDir (${join(opts.dataDir, folders[0]!)})`,
      dirs: [...folders.map((f) => join(opts.dataDir!, f)), opts.dataDir],
    });
  const env = process.env.MOX_DATA_DIR;
  if (env) out.push({ label: `MOX_DATA_DIR (${join(env, folders[0]!)})`, dirs: folders.map((f) => join(env, f)) });
  else out.push({ label: 'MOX_DATA_DIR (not set)', dirs: [] });
  const cache = cacheFolder(name, opts);
  out.push({ label: cache, dirs: [cache] });
  return out;
}

const cacheFolder = (name: SourceName, opts: LoadDatasetOptions): string =>
  join(opts.cacheDir ?? defaultCacheDir(), sourceOf(name).folders[0]!);

/** The first existing path among dirs x names. */
function findFile(rs: Root[], names: readonly string[]): string | null {
  for (const r of rs) for (const d of r.dirs) for (const n of names) if (existsSync(join(d, n))) return join(d, n);
  return null;
}

function where(rs: Root[]): string {
  const labels = rs.map((r) => r.label);
  return labels.length > 1 ? `${labels.slice(0, -1).join(', ')} or ${labels[labels.length - 1]}` : labels[0]!;
}

/** A file that has to come from the network, with what to say if it cannot. */
interface Missing {
  remote: RemoteFile;
  /** How the error names it. */
  display: string;
}

type Located<T> = { ok: true; read: () => T } | { ok: false; missing: Missing[] };

function checkSplit(name: string, split: string, allowed: readonly string[]): void {
  if (!allowed.includes(split))
    throw new ValueError('loadDataset', `${name}: unknown split '${split}' (expected ${allowed.map((s) => `'${s}'`).join(' or ')})`);
}

function remoteFile(name: DatasetName, file: string): RemoteFile {
  return DATASET_SOURCES[name].remote.find((r) => r.file === file)!;
}

function locateIdx(name: 'mnist' | 'fashion-mnist', opts: LoadDatasetOptions): Located<ImageDataset> {
  const split = opts.split ?? 'train';
  checkSplit(name, split, ['train', 'test']);
  const prefix = split === 'train' ? 'train' : 't10k';
  const rs = roots(name, opts);
  const images = findFile(rs, [`${prefix}-images-idx3-ubyte.gz`, `${prefix}-images-idx3-ubyte`, `${prefix}-images.idx3-ubyte`]);
  const labels = findFile(rs, [`${prefix}-labels-idx1-ubyte.gz`, `${prefix}-labels-idx1-ubyte`, `${prefix}-labels.idx1-ubyte`]);
  const missing: Missing[] = [];
  if (!images) missing.push({ remote: remoteFile(name, `${prefix}-images-idx3-ubyte.gz`), display: `${prefix}-images-idx3-ubyte.gz` });
  if (!labels) missing.push({ remote: remoteFile(name, `${prefix}-labels-idx1-ubyte.gz`), display: `${prefix}-labels-idx1-ubyte.gz` });
  if (missing.length) return { ok: false, missing };
  return {
    ok: true,
    read: () => {
      const x = readMnistImages(images!, { limit: opts.limit, scale: opts.scale });
      const y = readMnistLabels(labels!, { limit: opts.limit });
      if (x.shape[0] !== y.shape[0]) throw new DataError(name, `${images} has ${x.shape[0]} images but ${labels} has ${y.shape[0]} labels`);
      const classes = name === 'mnist' ? Array.from({ length: 10 }, (_, i) => String(i)) : FASHION_CLASSES;
      return new ImageDataset(name, split as 'train' | 'test', x, y, classes, [images!, labels!]);
    },
  };
}

/** data_batch_<k>.bin files of a folder, in order of k. */
function trainBatches(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map((n) => /^data_batch_(\d+)\.bin(\.gz)?$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(a[1]) - Number(b[1]) || a[0].length - b[0].length)
    .filter((m, i, all) => i === 0 || all[i - 1]![1] !== m[1])
    .map((m) => join(dir, m[0]));
}

/** Takes the .bin members and batches.meta.txt out of a CIFAR-10 tarball into `dest`. */
function extractCifar(tarball: string, dest: string): void {
  const entries = readTar(readBytes('cifar10', tarball), tarball);
  const wanted = entries.filter((e) => e.type === 'file' && /(^|\/)(data_batch_\d+\.bin|test_batch\.bin|batches\.meta\.txt)$/.test(e.name));
  if (!wanted.some((e) => e.name.endsWith('test_batch.bin')))
    throw new DataError('cifar10', `${tarball}: the archive holds no test_batch.bin; is it the CIFAR-10 binary version?`);
  mkdirSync(dest, { recursive: true });
  for (const e of wanted) {
    const base = e.name.slice(e.name.lastIndexOf('/') + 1);
    const tmp = join(dest, `${base}.${process.pid}.part`);
    writeFileSync(tmp, e.data);
    renameSync(tmp, join(dest, base));
  }
}

function locateCifar(opts: LoadDatasetOptions): Located<ImageDataset> {
  const split = opts.split ?? 'train';
  checkSplit('cifar10', split, ['train', 'test']);
  const rs = roots('cifar10', opts);
  const findBatches = (): { files: string[]; dir: string } | null => {
    for (const r of rs) {
      for (const d of r.dirs) {
        const files =
          split === 'train'
            ? trainBatches(d)
            : ['test_batch.bin', 'test_batch.bin.gz']
                .map((f) => join(d, f))
                .filter(existsSync)
                .slice(0, 1);
        if (files.length) return { files, dir: d };
      }
    }
    return null;
  };
  let found = findBatches();
  if (!found) {
    const tarball = findFile(rs, ['cifar-10-binary.tar.gz']);
    if (tarball) {
      extractCifar(tarball, cacheFolder('cifar10', opts));
      found = findBatches();
    }
  }
  if (!found) {
    const display = split === 'train' ? 'data_batch_*.bin (or cifar-10-binary.tar.gz)' : 'test_batch.bin (or cifar-10-binary.tar.gz)';
    return { ok: false, missing: [{ remote: DATASET_SOURCES.cifar10.remote[0]!, display }] };
  }
  const { files, dir } = found;
  return {
    ok: true,
    read: () => {
      const { images, labels } = readCifar10(files, { limit: opts.limit, scale: opts.scale });
      const meta = join(dir, 'batches.meta.txt');
      let classes: string[] = [...CIFAR10_CLASSES];
      if (existsSync(meta)) {
        const names = readFileSync(meta, 'utf8')
          .split(/\r?\n/)
          .map((s) => s.trim())
          .filter(Boolean);
        if (names.length === 10) classes = names;
      }
      return new ImageDataset('cifar10', split as 'train' | 'test', images, labels, classes, files);
    },
  };
}

function locateText(opts: LoadDatasetOptions): Located<TextDataset> {
  const split = opts.split ?? 'train';
  checkSplit('tinyshakespeare', split, ['train', 'test', 'all']);
  const rs = roots('tinyshakespeare', opts);
  const env = process.env.MOX_DATA_DIR;
  const path =
    findFile(rs, ['input.txt', 'tinyshakespeare.txt']) ??
    (env && existsSync(join(env, 'tinyshakespeare.txt')) ? join(env, 'tinyshakespeare.txt') : null);
  if (!path) return { ok: false, missing: [{ remote: DATASET_SOURCES.tinyshakespeare.remote[0]!, display: 'input.txt' }] };
  return {
    ok: true,
    read: () => {
      const all = readText(path);
      const cut = Math.floor(all.length * 0.9);
      const text = split === 'all' ? all : split === 'train' ? all.slice(0, cut) : all.slice(cut);
      return { name: 'tinyshakespeare', split: split as TextDataset['split'], text, files: [path] };
    },
  };
}

// Both files are read whole: negatives first (label 0), then positives (label 1), each in file
// order, every line without its line end (most keep the space before it, as published).
function locateRtPolarity(opts: LoadDatasetOptions): Located<TextClassificationDataset> {
  const split = opts.split ?? 'all';
  checkSplit('rt-polarity', split, ['train', 'test', 'all']);
  const rs = roots('rt-polarity', opts);
  const neg = findFile(rs, ['rt-polarity.neg']);
  const pos = findFile(rs, ['rt-polarity.pos']);
  if (!neg || !pos) {
    const display = [neg ? null : 'rt-polarity.neg', pos ? null : 'rt-polarity.pos'].filter(Boolean).join(' and ');
    return {
      ok: false,
      missing: [{ remote: DATASET_SOURCES['rt-polarity'].remote[0]!, display: `${display} (or rt-polaritydata.tar.gz)` }],
    };
  }
  return {
    ok: true,
    read: () => {
      const negatives = readLines(neg, { encoding: 'windows-1252' });
      const positives = readLines(pos, { encoding: 'windows-1252' });
      const labels = new Int32Array(negatives.length + positives.length);
      labels.fill(1, negatives.length);
      const all: TextClassificationDataset = {
        name: 'rt-polarity',
        split: 'all',
        texts: [...negatives, ...positives],
        labels,
        classes: RT_POLARITY_CLASSES,
        files: [neg, pos],
      };
      if (split === 'all') return all;
      const [train, test] = textClassificationSplit(all, { testFraction: 0.1, seed: 0 });
      return split === 'train' ? train : test;
    },
  };
}

/**
 * Takes the members of a downloaded archive into the cache folder and removes the archive. Every
 * member is checked against its known sha256 before any is written (each under a temporary name,
 * then renamed), so a bad archive leaves nothing behind.
 */
function extractMembers(name: DatasetName, remote: RemoteFile, opts: LoadDatasetOptions): void {
  const dest = cacheFolder(name, opts);
  const tarball = join(dest, remote.file);
  try {
    const entries = readTar(readBytes(name, tarball), tarball);
    const checked = Object.entries(remote.members ?? {}).map(([member, known]) => {
      const base = member.slice(member.lastIndexOf('/') + 1);
      const entry = entries.find((e) => e.type === 'file' && e.name.replace(/^\.\//, '') === member);
      if (!entry) throw new DataError(name, `${tarball}: the archive holds no ${member}`);
      const expected = opts.checksums && base in opts.checksums ? opts.checksums[base] : known;
      const got = createHash('sha256').update(entry.data).digest('hex');
      if (expected && got !== expected.toLowerCase()) {
        throw new DataError(
          name,
          `${tarball}: ${member}: sha256 mismatch: expected ${expected.toLowerCase()}, got ${got} (${entry.size} bytes); the file was not kept`,
        );
      }
      return { base, data: entry.data };
    });
    for (const { base, data } of checked) {
      const tmp = join(dest, `${base}.${process.pid}.part`);
      writeFileSync(tmp, data);
      renameSync(tmp, join(dest, base));
    }
  } finally {
    rmSync(tarball, { force: true });
  }
}

function locate(name: DatasetName, opts: LoadDatasetOptions): Located<ImageDataset | TextDataset | TextClassificationDataset> {
  switch (name) {
    case 'mnist':
    case 'fashion-mnist':
      return locateIdx(name, opts);
    case 'cifar10':
      return locateCifar(opts);
    case 'tinyshakespeare':
      return locateText(opts);
    case 'rt-polarity':
      return locateRtPolarity(opts);
    default:
      throw new ValueError('loadDataset', `unknown dataset '${String(name)}' (expected one of ${Object.keys(DATASET_SOURCES).join(', ')})`);
  }
}

function notFound(name: SourceName, opts: LoadDatasetOptions, missing: Missing[], why: string): DatasetNotFoundError {
  const files = missing.map((m) => m.display);
  const rs = roots(name, opts);
  const message = `${files.join(' and ')} not found in ${where(rs)}, and ${why}: put the files in one of those folders (see docs/data.md)`;
  return new DatasetNotFoundError(
    name,
    message,
    files,
    rs.map((r) => r.label),
    why,
  );
}

function downloadAllowed(opts: LoadDatasetOptions): boolean {
  if (opts.download !== undefined) return opts.download;
  const off = process.env.MOX_DATA_OFFLINE;
  return !off || off === '0' || off.toLowerCase() === 'false';
}

/** Fetches one missing file into the cache, trying each URL; returns why each failed, or null on success. */
async function fetchMissing(name: SourceName, m: Missing, opts: LoadDatasetOptions): Promise<string | null> {
  const mirror = opts.mirror ?? process.env.MOX_DATA_MIRROR;
  const urls = mirror ? [`${mirror.replace(/\/+$/, '')}/${m.remote.file}`] : m.remote.urls;
  const sha256 = opts.checksums && m.remote.file in opts.checksums ? opts.checksums[m.remote.file] : m.remote.sha256;
  const dest = join(cacheFolder(name, opts), m.remote.file);
  const reasons: string[] = [];
  for (const url of urls) {
    try {
      await downloadFile(url, dest, { sha256, verbose: opts.verbose ?? true });
      return null;
    } catch (e) {
      reasons.push(e instanceof DataError ? e.message.replace(/^download: /, '') : `${url}: ${(e as Error).message}`);
    }
  }
  return reasons.join('; ');
}

/**
 * Loads a named dataset, downloading what is missing. Images come as an ImageDataset (x [N,C,H,W]
 * float32, y [N] int32, a TensorDataset of [image, label]); tinyshakespeare as its text; rt-polarity
 * as { texts, labels (0 negative, 1 positive), classes }.
 */
export async function loadDataset(name: 'tinyshakespeare', opts?: LoadDatasetOptions): Promise<TextDataset>;
export async function loadDataset(name: 'rt-polarity', opts?: LoadDatasetOptions): Promise<TextClassificationDataset>;
export async function loadDataset(name: ImageDatasetName, opts?: LoadDatasetOptions): Promise<ImageDataset>;
export async function loadDataset(
  name: DatasetName,
  opts?: LoadDatasetOptions,
): Promise<ImageDataset | TextDataset | TextClassificationDataset>;
export async function loadDataset(
  name: DatasetName,
  opts: LoadDatasetOptions = {},
): Promise<ImageDataset | TextDataset | TextClassificationDataset> {
  let found = locate(name, opts);
  if (found.ok) return found.read();
  if (!downloadAllowed(opts)) throw notFound(name, opts, found.missing, 'downloading is off');
  for (const m of found.missing) {
    const failure = await fetchMissing(name, m, opts);
    if (failure !== null) throw notFound(name, opts, found.missing, `the download failed (${failure})`);
    if (m.remote.members) extractMembers(name, m.remote, opts);
  }
  if (name === 'cifar10') {
    const tarball = join(cacheFolder(name, opts), 'cifar-10-binary.tar.gz');
    extractCifar(tarball, cacheFolder(name, opts));
    rmSync(tarball, { force: true });
  }
  found = locate(name, opts);
  if (!found.ok) throw notFound(name, opts, found.missing, 'the downloaded files were not usable');
  return found.read();
}

/** loadDataset without the download: reads local files only, and says where to put them when they are missing. */
export function loadDatasetSync(name: 'tinyshakespeare', opts?: LoadDatasetOptions): TextDataset;
export function loadDatasetSync(name: 'rt-polarity', opts?: LoadDatasetOptions): TextClassificationDataset;
export function loadDatasetSync(name: ImageDatasetName, opts?: LoadDatasetOptions): ImageDataset;
export function loadDatasetSync(name: DatasetName, opts?: LoadDatasetOptions): ImageDataset | TextDataset | TextClassificationDataset;
export function loadDatasetSync(name: DatasetName, opts: LoadDatasetOptions = {}): ImageDataset | TextDataset | TextClassificationDataset {
  const found = locate(name, opts);
  if (!found.ok) throw notFound(name, opts, found.missing, 'loadDatasetSync does not download (use await loadDataset)');
  return found.read();
}

/** A file set's folder: the first searched folder holding every file of the set (they belong together). */
function locateFileSet(name: FileSetName, opts: LoadDatasetOptions): Located<string> {
  const { remote } = FILE_SET_SOURCES[name];
  for (const r of roots(name, opts))
    for (const d of r.dirs) if (remote.every((f) => existsSync(join(d, f.file)))) return { ok: true, read: () => d };
  // what the cache lacks is what a download has to bring
  const cache = cacheFolder(name, opts);
  const missing = remote.filter((f) => !existsSync(join(cache, f.file)));
  return { ok: false, missing: missing.map((f) => ({ remote: f, display: f.file })) };
}

/**
 * The folder holding a file set ('gpt2-bpe': GPT-2's encoder.json and vocab.bpe), found by loadDataset's
 * rule (dataDir, $MOX_DATA_DIR/<name>, the cache) or downloaded into the cache with a sha256 check.
 */
export async function fetchFileSet(name: FileSetName, opts: LoadDatasetOptions = {}): Promise<string> {
  let found = locateFileSet(name, opts);
  if (found.ok) return found.read();
  if (!downloadAllowed(opts)) throw notFound(name, opts, found.missing, 'downloading is off');
  for (const m of found.missing) {
    const failure = await fetchMissing(name, m, opts);
    if (failure !== null) throw notFound(name, opts, found.missing, `the download failed (${failure})`);
  }
  found = locateFileSet(name, opts);
  if (!found.ok) throw notFound(name, opts, found.missing, 'the downloaded files were not usable');
  return found.read();
}

/** fetchFileSet without the download: local folders only. */
export function findFileSetSync(name: FileSetName, opts: LoadDatasetOptions = {}): string {
  const found = locateFileSet(name, opts);
  if (!found.ok) throw notFound(name, opts, found.missing, 'this call does not download (use await fetchFileSet)');
  return found.read();
}
