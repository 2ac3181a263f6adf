// Knowledge distillation with fit(), in the shape of Keras's "Knowledge Distillation" example: a
// Distiller wraps a student and a frozen teacher; its compile() takes the optimizer, the metrics, the
// student's (hard-label) loss, alpha and the temperature, and its fit() trains the student on
//
//   alpha * T^2 * KL(softmax(teacher(x) / T) || softmax(student(x) / T)) + (1 - alpha) * studentLoss(student(x), y)
//
// (Hinton, Vinyals & Dean 2015; the KL averaged over rows, as PyTorch's reduction='batchmean').
// alpha weights the teacher's term, as in Hinton's paper and mox.nn.functional.distillationLoss; Keras's
// example weights the student's loss by its alpha instead (its alpha=0.1 is this alpha=0.9).
//
//   const distiller = new mox.train.Distiller(student, teacher);
//   distiller.compile({ optimizer: 'adam', metrics: ['accuracy'], alpha: 0.9, temperature: 4 });
//   await distiller.fit(x, y, { epochs: 3 });
//   distiller.evaluate(xTest, yTest);   // the student's loss and metrics
//
// The teacher runs in eval mode under noGrad, once per batch, on the batch the student sees; its
// parameters are frozen (requiresGrad false), so only the student's reach the optimizer. evaluate and
// predict use the student alone (evaluate reports the student's loss, as Keras's test_step does).

import '../ops/tensor-methods.js';
import { ValueError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/grad-mode.js';
import { klDiv } from '../ops/loss.js';
import { logSoftmax } from '../ops/softmax.js';
import { Module } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizer.js';
import { type LossFn, type LossName, lossByName } from './losses.js';
import type { Metric, MetricFn, MetricName } from './metrics.js';
import './model.js';
import { modelOutput } from './model-output.js';
import type { NonFiniteMode } from './step.js';
import type { OptimizerName } from './model.js';

/** What Distiller.compile takes: optimizer, metrics, the two losses, alpha, temperature. */
export interface DistillerCompileConfig {
  /** As compile's: a name or an Optimizer (made over the student's trainable parameters). Default 'adam'. */
  optimizer?: OptimizerName | Optimizer;
  /** As compile's; computed on the student's outputs. */
  metrics?: (MetricName | Metric | MetricFn)[];
  /** The hard-label loss of the student (Keras's student_loss_fn). Default 'sparseCategoricalCrossentropy' on logits. */
  studentLoss?: LossName | LossFn;
  /**
   * The soft loss between the softened distributions (Keras's distillation_loss_fn), given the student's
   * log-probabilities log softmax(s / T) and the teacher's log softmax(t / T); it is multiplied by T^2.
   * Default KL(teacher || student) averaged over rows (kl_div with reduction 'batchmean').
   */
  distillationLoss?: (studentLogProbs: Tensor, teacherLogProbs: Tensor) => Tensor;
  /** Weight of the distillation term in [0, 1]; the student's loss gets 1 - alpha. Default 0.9. */
  alpha?: number;
  /** Softening temperature T > 0. Default 3 (Keras's example uses 10 on MNIST; Hinton et al. 2 to 20). */
  temperature?: number;
  /** Learning rate for a named optimizer. */
  lr?: number;
  /** What to do when a loss or gradient is not finite (as compile's). */
  nonFinite?: NonFiniteMode;
}

const klBatchmean = (s: Tensor, t: Tensor): Tensor => klDiv(s, t, { reduction: 'batchmean', logTarget: true });

/** A student trained by fit() on a frozen teacher's softened outputs mixed with the true labels. */
export class Distiller extends Module {
  /** The model trained. */
  readonly student: Module;
  /** The frozen model it learns from. */
  readonly teacher: Module;
  /** The teacher's logits for the batch whose student output is `out` (set by a training forward). */
  private pending: { out: Tensor; teacher: Tensor } | null = null;
  private settings = { alpha: 0.9, temperature: 3 };

  /** Distils `teacher` into `student`; the teacher is frozen and kept in eval mode. */
  constructor(student: Module, teacher: Module) {
    super();
    if (!(student instanceof Module) || !(teacher instanceof Module)) {
      throw new ValueError('Distiller', 'expected (student, teacher) modules');
    }
    if (student === teacher) throw new ValueError('Distiller', 'the student and the teacher must be different modules');
    this.student = student;
    this.teacher = teacher;
    teacher.requiresGrad_(false);
    teacher.eval();
  }

  /** Weight of the distillation term (the student's loss gets 1 - alpha). */
  get alpha(): number {
    return this.settings.alpha;
  }

  /** The softening temperature T. */
  get temperature(): number {
    return this.settings.temperature;
  }

  /** Sets the student's mode; the teacher stays in eval mode. */
  override train(mode = true): this {
    super.train(mode);
    this.teacher.eval();
    return this;
  }

  /** The student's outputs; in training mode the teacher's logits for the same input are kept for the loss. */
  forward(...inputs: Tensor[]): Tensor {
    const out = modelOutput('Distiller', this.student, this.student.forward(...inputs));
    this.pending = null;
    if (this.training) {
      const teacher = noGrad(() => modelOutput('Distiller', this.teacher, this.teacher.forward(...inputs)).detach());
      if (teacher.shape.join() !== out.shape.join()) {
        throw new ValueError(
          'Distiller',
          `the teacher's outputs [${teacher.shape.join(', ')}] and the student's [${out.shape.join(', ')}] must have the same shape`,
        );
      }
      this.pending = { out, teacher };
    }
    return out;
  }

  override compile(config: DistillerCompileConfig = {}): this {
    const op = 'Distiller.compile';
    const alpha = config.alpha ?? 0.9;
    const temperature = config.temperature ?? 3;
    if (!(alpha >= 0 && alpha <= 1)) throw new ValueError(op, `alpha must be in [0, 1], got ${alpha}`);
    if (!(temperature > 0) || !Number.isFinite(temperature)) {
      throw new ValueError(op, `temperature must be a finite number > 0, got ${temperature}`);
    }
    const sl = config.studentLoss ?? 'sparseCategoricalCrossentropy';
    const studentLoss: LossFn = typeof sl === 'function' ? sl : lossByName(sl);
    const soft = config.distillationLoss ?? klBatchmean;
    this.settings = { alpha, temperature };
    const loss: LossFn = (yPred, yTrue) => {
      const hard = studentLoss(yPred, yTrue);
      const p = this.pending;
      this.pending = null;
      // evaluation (and a forward that was not this batch's): the student's loss alone, as Keras's test_step
      if (!p || p.out !== yPred) return hard;
      const c = yPred.shape[yPred.ndim - 1]!;
      const s = yPred.ndim === 2 ? yPred : yPred.reshape([-1, c]);
      const t = p.teacher.ndim === 2 ? p.teacher : p.teacher.reshape([-1, c]);
      const kd = soft(logSoftmax(s.div(temperature), 1), logSoftmax(t.div(temperature), 1));
      return kd.mul(alpha * temperature * temperature).add(hard.mul(1 - alpha));
    };
    const base = Module.prototype.compile as (this: Module, c: unknown) => Module;
    base.call(this, {
      optimizer: config.optimizer ?? 'adam',
      loss,
      metrics: config.metrics ?? [],
      ...(config.lr !== undefined ? { lr: config.lr } : {}),
      ...(config.nonFinite !== undefined ? { nonFinite: config.nonFinite } : {}),
    });
    return this;
  }
}
