#!/usr/bin/python3
"""The PyTorch reference for mox.nn.functional.distillationLoss: test/fixtures/distillation-loss.json.

Hinton, Vinyals & Dean's loss written with PyTorch's own functions, in float64:

    alpha * T**2 * F.kl_div(F.log_softmax(s / T, -1), F.log_softmax(t / T, -1),
                            reduction='batchmean', log_target=True)
    + (1 - alpha) * F.cross_entropy(s, labels)

Each case holds the student and teacher logits, the labels, T and alpha, the loss, and the gradient of
the loss with respect to the student's logits (the teacher's are detached). Sequence logits [B, T, C]
are flattened to rows [B*T, C] first, as a language model's loss does.

    /usr/bin/python3 scripts/golden-distillation.py   # rewrites test/fixtures/distillation-loss.json
    npx biome format --write test/fixtures/distillation-loss.json   # the layout npm run lint checks
"""

import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(15)


def case(shape, temperature, alpha, ignore=None):
    c = shape[-1]
    s = (torch.randn(*shape, dtype=torch.float64) * 2).requires_grad_(True)
    t = torch.randn(*shape, dtype=torch.float64) * 3
    labels = torch.randint(0, c, shape[:-1])
    if ignore is not None:
        labels.view(-1)[ignore] = -100
    s2, t2, y2 = s.reshape(-1, c), t.reshape(-1, c), labels.reshape(-1)
    soft = F.kl_div(F.log_softmax(s2 / temperature, -1), F.log_softmax(t2 / temperature, -1), reduction="batchmean", log_target=True)
    hard = F.cross_entropy(s2, y2, ignore_index=-100)
    loss = alpha * temperature**2 * soft + (1 - alpha) * hard
    loss.backward()
    return {
        "shape": list(shape),
        "temperature": temperature,
        "alpha": alpha,
        "student": s.detach().reshape(-1).tolist(),
        "teacher": t.reshape(-1).tolist(),
        "labels": labels.reshape(-1).tolist(),
        "loss": loss.item(),
        "grad": s.grad.reshape(-1).tolist(),
    }


cases = [
    case((4, 5), 1.0, 0.5),
    case((6, 10), 4.0, 0.9),
    case((3, 7), 2.5, 0.0),
    case((3, 7), 2.0, 1.0),
    case((2, 3, 6), 3.0, 0.7, ignore=2),
]
out = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "distillation-loss.json")
with open(out, "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f)
    f.write("\n")
print(f"wrote {out}: {len(cases)} cases")
