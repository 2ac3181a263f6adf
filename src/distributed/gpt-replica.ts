// The replica factory of `mox train gpt --workers N`: a GPT's config is all a worker needs to build
// the same model (rank 0 then broadcasts the weights), as torchrun's ranks each build theirs.

import { ValueError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { GPT, type GPTConfig } from '../models/gpt.js';
import { DataParallel } from './data-parallel.js';
import type { ReplicaFactory } from './protocol.js';

/** Builds a GPT from its config (a worker calls it; the weights come from rank 0). */
export function gptReplica(config: GPTConfig): GPT {
  return new GPT(config);
}

/** The factory that makes a worker call gptReplica(config). */
export function gptReplicaFactory(config: GPTConfig): ReplicaFactory {
  return { module: import.meta.url, export: 'gptReplica', args: [config] };
}

/**
 * The data-parallel group of `mox train gpt --workers N` (null for one process): N - 1 workers, each
 * with a GPT of `model`'s config and `threads` CPU threads (default: the cores divided by N).
 * Fine-tuning and distillation (a base model, LoRA adapters, a teacher) run in one process for now.
 */
export async function startGptDataParallel(
  model: GPT,
  o: { workers: number | undefined; threads: number | undefined; seed: number; finetune: unknown; distill: unknown },
): Promise<DataParallel | null> {
  const workers = o.workers ?? 1;
  if (!Number.isInteger(workers) || workers < 1) throw new ValueError('train gpt', `workers must be a positive integer, got ${workers}`);
  if (workers === 1) return null;
  if (o.finetune || o.distill)
    throw new ValueError('train gpt', `--workers ${workers}: fine-tuning and distillation run in one process (--workers 1) for now`);
  return DataParallel.start(model, {
    workers,
    factory: gptReplicaFactory(model.config),
    loss: 'model',
    seed: o.seed,
    ...(o.threads !== undefined ? { threads: o.threads } : {}),
  });
}

/** A GPT batch as the ranks split it: the inputs, then the targets. */
export const batchOf = (b: { x: Tensor; y: Tensor }): { inputs: Tensor[]; target: Tensor } => ({ inputs: [b.x], target: b.y });
