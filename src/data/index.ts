// mox.data: datasets and loaders (torch.utils.data's shape), transforms and seeded augmentation,
// readers for IDX, CIFAR-10, CSV and text files, tar archives, and named datasets with download.

export {
  Dataset,
  TensorDataset,
  Subset,
  randomSplit,
  trainValidationSplit,
  randperm,
  type TrainValidationSplitOptions,
} from './dataset.js';
export { DataLoader, defaultCollate, type DataLoaderOptions } from './dataloader.js';
export {
  compose,
  normalize,
  oneHot,
  toOneHot,
  toTensor,
  type Transform,
  type NormalizeOptions,
  type RawImage,
  type ToTensorOptions,
} from './transforms.js';
export {
  randomCrop,
  randomHorizontalFlip,
  randomVerticalFlip,
  randomAffine,
  randomRotation,
  randomScale,
  type AugmentOptions,
  type AffineOptions,
} from './augment.js';
export {
  parseIdx,
  readIdx,
  readMnistImages,
  readMnistLabels,
  type IdxArray,
  type IdxDType,
  type IdxOptions,
  type MnistImageOptions,
} from './formats/idx.js';
export { parseCifar10, readCifar10, CIFAR10_CLASSES, CIFAR10_RECORD_BYTES, type Cifar10Options } from './formats/cifar.js';
export {
  parseCsv,
  csvToTensors,
  readCsv,
  isHeaderRow,
  type CsvParseOptions,
  type CsvTable,
  type ReadCsvOptions,
  type CsvData,
} from './formats/csv.js';
export { readText, readLines, type ReadTextOptions, type TextEncoding } from './formats/text.js';
export { writeTokenFile, readTokenFile, tokenDType, tokenInfoPath, type TokenDType, type TokenFileInfo } from './formats/tokens.js';
export { decodeWindows1252, WINDOWS_1252 } from './formats/windows-1252.js';
export { textClassificationSplit, type TextClassificationDataset, type TextClassificationSplitOptions } from './text-classification.js';
export { readTar, writeTar, type TarEntry } from './formats/tar.js';
export { isGzip } from './formats/file.js';
export { downloadFile, sha256File, type DownloadOptions, type DownloadResult } from './download.js';
export {
  loadDataset,
  loadDatasetSync,
  defaultCacheDir,
  ImageDataset,
  DATASET_SOURCES,
  RT_POLARITY_CLASSES,
  fetchFileSet,
  findFileSetSync,
  FILE_SET_SOURCES,
  type DatasetName,
  type FileSetName,
  type ImageDatasetName,
  type LoadDatasetOptions,
  type TextDataset,
  type RemoteFile,
} from './datasets.js';
