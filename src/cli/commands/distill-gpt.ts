// What makes `train gpt`'s loop a distillation run (`mox distill gpt --teacher DIR`): a trained GPT
// (the teacher, frozen, in eval mode) whose tokenizer and block size the new, smaller student takes, and
// the loss the student trains on: Hinton et al.'s mix of the teacher's softened next-token
// distributions and the true next tokens (mox.nn.functional.distillationLoss). The run itself
// (optimizer, schedule, evaluation, checkpoints, --resume) is train-gpt.ts's; evaluations report the
// student's plain cross-entropy, so its losses compare with a student trained alone.

import '../../ops/tensor-methods.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError, ValueError } from '../../errors.js';
import type { Tensor } from '../../tensor/tensor.js';
import { noGrad } from '../../autograd/grad-mode.js';
import { distillationLoss } from '../../ops/loss.js';
import type { GPT } from '../../models/gpt.js';
import { readJson } from '../../io/files.js';
import { type UnknownPolicy, loadBase } from './finetune-gpt.js';
import type { GptTokenizer } from './gpt-tokenizer.js';

/** A distillation run's own settings, kept in its config.json under "distill" for --resume. */
export interface DistillSpec {
  /** The teacher's folder (absolute): a mox GPT checkpoint or a Hugging Face GPT-2 folder. */
  teacher: string;
  /** Softening temperature T > 0. */
  temperature: number;
  /** Weight of the teacher's (soft) term in [0, 1]; the true next tokens get 1 - alpha. */
  alpha: number;
  /** What to do with text a character tokenizer of the teacher's cannot encode (as `finetune gpt --unknown`). */
  unknown: UnknownPolicy;
}

/** Checks a spec's values (from flags or from a checkpoint); `where` names their source in the message. */
export function checkDistillSpec(spec: DistillSpec, where: string): void {
  if (!(spec.temperature > 0) || !Number.isFinite(spec.temperature))
    throw new ValueError('distill gpt', `${where}: the temperature must be a finite number > 0, got ${spec.temperature}`);
  if (!(spec.alpha >= 0 && spec.alpha <= 1)) throw new ValueError('distill gpt', `${where}: alpha must be in [0, 1], got ${spec.alpha}`);
  if (!fs.existsSync(spec.teacher)) throw new DataError('distill gpt', `${where}: the teacher ${spec.teacher} does not exist`);
}

/** A checkpoint folder's "distill" entry (null for a run that is not a distillation), checked. */
export function readDistillSpec(dir: string): DistillSpec | null {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) return null;
  const v = readJson(file)['distill'];
  if (v === undefined || v === null) return null;
  const o = v as Record<string, unknown>;
  if (
    typeof o !== 'object' ||
    typeof o['teacher'] !== 'string' ||
    typeof o['temperature'] !== 'number' ||
    typeof o['alpha'] !== 'number' ||
    typeof o['unknown'] !== 'object'
  )
    throw new DataError('distill gpt', `${file}: "distill" must hold teacher (a folder), temperature and alpha (numbers) and unknown`);
  const spec = o as unknown as DistillSpec;
  checkDistillSpec(spec, file);
  return spec;
}

/** The teacher: loaded, frozen, in eval mode, on the device. */
export function loadTeacher(spec: DistillSpec, device: string): { teacher: GPT; tok: GptTokenizer } {
  const { model, tok } = loadBase('distill gpt', spec.teacher);
  model.requiresGrad_(false);
  model.eval();
  model.to(device);
  return { teacher: model, tok };
}

/**
 * The student's training loss on a batch (x [B, T] token ids, y [B, T] the next tokens): the teacher's
 * logits computed under noGrad, then distillationLoss (ignoreIndex -1, as GPT's own loss).
 */
export function distillStepLoss(student: GPT, teacher: GPT, spec: DistillSpec, x: Tensor, y: Tensor): Tensor {
  const logits = student.forward(x).logits;
  const t = noGrad(() => teacher.forward(x).logits);
  return distillationLoss(logits, t, y, { temperature: spec.temperature, alpha: spec.alpha, ignoreIndex: -1 });
}
