// mox.train: the Keras-style training loop. Importing it installs compile/fit/evaluate/predict on
// every nn.Module (see model.ts); the rest is the callbacks, metrics, losses and progress bar.

import './model.js';

export type { CompileConfig, OptimizerName } from './model.js';
export type { FitOptions } from './fit.js';
export type { EvaluateOptions } from './evaluate.js';
export type { PredictOptions } from './predict.js';
export type { DataSource, Batch } from './batches.js';
export {
  Callback,
  CallbackList,
  History,
  type FitControl,
  type FitInfo,
  type FitSnapshot,
  type Logs,
  type TrainParams,
} from './callback.js';
export {
  EarlyStopping,
  MaxNorm,
  ModelCheckpoint,
  LearningRateScheduler,
  SchedulerCallback,
  TerminateOnNaN,
  formatPath,
  type EarlyStoppingOptions,
  type ModelCheckpointOptions,
  type MonitorMode,
  type SchedulerCallbackOptions,
  type SteppableScheduler,
} from './callbacks.js';
export { CSVLogger, JSONLLogger, type FileLoggerOptions } from './loggers.js';
export {
  RunLog,
  readRunLog,
  METRICS_FILE,
  type RunData,
  type RunKind,
  type RunLogOptions,
  type MetricsRecord,
  type RunRecord,
  type ScalarsRecord,
  type ConfusionRecord,
  type SamplesRecord,
  type Split,
} from './run-log.js';
export { RunLogger, confusionCounts, type RunLoggerOptions } from './run-logger.js';
export { BackupAndRestore, type BackupAndRestoreOptions } from './backup-and-restore.js';
export { Distiller, type DistillerCompileConfig } from './distiller.js';
export { ProgressBar, formatValue, type OutputStream, type ProgressBarOptions } from './progress.js';
export { LiveProgress, interruptProgress, progressSettings, formatInterval, type LiveProgressOptions } from './live-progress.js';
/** Classification metrics (accuracy, precision, recall, F1, confusion matrix) and the Metric classes compile() takes. */
export * as metrics from './metrics.js';
/** Losses by Keras's names for compile(), each (yPred, yTrue) => scalar tensor. */
export * as losses from './losses.js';
export {
  Metric,
  Accuracy,
  Precision,
  Recall,
  F1Score,
  MeanMetric,
  accuracy,
  precision,
  recall,
  f1Score,
  confusionMatrix,
} from './metrics.js';
