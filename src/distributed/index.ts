// mox.distributed: training across processes. Data parallelism on one machine (DataParallel, fit's
// `dataParallel` option, `mox train gpt --workers N`); see docs/data-parallel.md.

export {
  DataParallel,
  shardRanges,
  resolveFactory,
  type DataParallelOptions,
  type ModelFactory,
  type ShardStep,
} from './data-parallel.js';
export { gptReplica, gptReplicaFactory } from './gpt-replica.js';
export type { LossMode, ReplicaFactory } from './protocol.js';
