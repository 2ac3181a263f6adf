#!/usr/bin/python3
"""PyTorch's reference for mox's dynamic-int8 Linear: test/fixtures/quant-dynamic.json.

Each case: x [M, K], w [N, K], bias [N] (float32), and y [M, N] from PyTorch's dynamic quantized Linear
(torch.ops.quantized.linear_dynamic with reduce_range=True, fbgemm: activations quantized at run time to
7 unsigned bits), one row of x at a time (PyTorch quantizes a whole input tensor with one scale; mox
quantizes each row, so the reference feeds it rows). The weight is quantized per output channel with
mox's rule (scale = max|w| / 127 in float32, q = round half to even of w * (1 / scale)), so both hold
the same int8 weights and differ only where the activation quantization does.

    /usr/bin/python3 scripts/golden-quant.py   # rewrites test/fixtures/quant-dynamic.json
    npx biome format --write test/fixtures/quant-dynamic.json
"""

import json
import os

import numpy as np
import torch

torch.manual_seed(15)
torch.backends.quantized.engine = "onednn" if "onednn" in torch.backends.quantized.supported_engines else "fbgemm"


def case(m, n, k):
    x = torch.randn(m, k) * 2 + 0.3
    w = torch.randn(n, k) * 0.1
    b = torch.randn(n)
    wn = w.numpy().astype(np.float32)
    scale = (np.abs(wn).max(axis=1) / np.float32(127)).astype(np.float32)
    inv = (np.float32(1) / scale).astype(np.float32)
    q = np.clip(np.rint((wn * inv[:, None]).astype(np.float32)), -127, 127).astype(np.int8)
    qw = torch._make_per_channel_quantized_tensor(torch.from_numpy(q), torch.from_numpy(scale.astype(np.float64)), torch.zeros(n, dtype=torch.long), 0)
    packed = torch.ops.quantized.linear_prepack(qw, b)
    y = torch.cat([torch.ops.quantized.linear_dynamic(x[i : i + 1], packed, True) for i in range(m)])
    return {"m": m, "n": n, "k": k, "x": x.flatten().tolist(), "w": w.flatten().tolist(), "bias": b.tolist(), "y": y.flatten().tolist()}


cases = [case(1, 8, 16), case(3, 33, 70), case(2, 12, 200)]
out = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "quant-dynamic.json")
with open(out, "w") as f:
    json.dump({"torch": torch.__version__, "engine": torch.backends.quantized.engine, "cases": cases}, f)
print(f"wrote {out}")
