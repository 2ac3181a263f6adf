#!/usr/bin/python3
"""PyTorch side of mox's CPU benchmark (`npm run bench:cpu` runs it once per thread setting).

Same workloads and shapes as bench/common.ts, NCHW, torch.nn modules and torch.optim.Adam.
Prints one JSON object on stdout; progress goes to stderr. The caller sets OPENBLAS_NUM_THREADS /
OMP_NUM_THREADS; this sets torch.set_num_threads to --threads as well.
"""
import argparse
import ctypes
import json
import statistics
import sys
import time

import torch

MLP_BATCH, CNN_BATCH, CONV_BATCH = 32, 64, 64
CONV_LAYERS = {"conv1": (1, 32, 28, False), "conv2": (32, 64, 13, True)}


def time_sync(step, budget_ms, warmup, min_reps, max_reps, slow_ms):
    warm = 0
    while warm < warmup:
        s = time.perf_counter()
        step()
        dt = (time.perf_counter() - s) * 1000
        if warm == 0 and dt > slow_ms:  # one cold rep is the only sample
            return {"medianMs": dt, "meanMs": dt, "minMs": dt, "reps": 1, "warmup": 0, "cold": True}
        warm += 1
        if dt > budget_ms / 2:
            break
    times = []
    start = time.perf_counter()
    while len(times) < max_reps:
        s = time.perf_counter()
        step()
        times.append((time.perf_counter() - s) * 1000)
        elapsed = (time.perf_counter() - start) * 1000
        if elapsed >= budget_ms and (len(times) >= min_reps or elapsed >= 2 * budget_ms):
            break
    return {
        "medianMs": statistics.median(times),
        "meanMs": sum(times) / len(times),
        "minMs": min(times),
        "reps": len(times),
        "warmup": warm,
    }


def gemm(n):
    a, b = torch.randn(n, n), torch.randn(n, n)
    return lambda: torch.mm(a, b)


def conv(layer, backward):
    cin, cout, hw, input_grad = CONV_LAYERS[layer]
    m = torch.nn.Conv2d(cin, cout, 3)
    x = torch.randn(CONV_BATCH, cin, hw, hw, requires_grad=backward and input_grad)
    dy = torch.randn(CONV_BATCH, cout, hw - 2, hw - 2)
    if not backward:
        def fwd():
            with torch.no_grad():
                m(x)
        return fwd

    def fwdbwd():
        m(x).backward(dy)
        m.zero_grad(set_to_none=True)
        x.grad = None
    return fwdbwd


def trainer(model, x, y):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def mlp():
    model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    return trainer(model, torch.randn(MLP_BATCH, 784), torch.randint(0, 10, (MLP_BATCH,)))


def cnn():
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
        nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10),
    )
    return trainer(model, torch.randn(CNN_BATCH, 1, 28, 28), torch.randint(0, 10, (CNN_BATCH,)))


def gpt_step(V=65, T=64, C=128, H=4, L=4, B=12, dropout=0.0, device="cpu"):
    """nanoGPT's model (model.py's layout) with AdamW + clipping as its train.py; defaults: its CPU
    Shakespeare configuration. Returns one training step on fixed random data."""
    import math
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(s):
            super().__init__()
            s.ln_1, s.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
            s.c_attn, s.c_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
            s.c_fc, s.mlp_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)
            s.drop = nn.Dropout(dropout)
            s.register_buffer("mask", torch.tril(torch.ones(T, T)).view(1, 1, T, T))

        def forward(s, x):
            b, t, c = x.shape
            q, k, v = s.c_attn(s.ln_1(x)).split(C, dim=2)
            q, k, v = (z.view(b, t, H, c // H).transpose(1, 2) for z in (q, k, v))
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(c // H))
            att = s.drop(att.masked_fill(s.mask[:, :, :t, :t] == 0, float("-inf")).softmax(-1))
            x = x + s.drop(s.c_proj((att @ v).transpose(1, 2).contiguous().view(b, t, c)))
            return x + s.drop(s.mlp_proj(F.gelu(s.c_fc(s.ln_2(x)), approximate="tanh")))

    class GPT(nn.Module):
        def __init__(s):
            super().__init__()
            s.wte, s.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
            s.drop = nn.Dropout(dropout)
            s.h = nn.ModuleList([Block() for _ in range(L)])
            s.ln_f = nn.LayerNorm(C)
            s.head = nn.Linear(C, V, bias=False)
            s.head.weight = s.wte.weight

        def forward(s, idx, tgt):
            x = s.drop(s.wte(idx) + s.wpe(torch.arange(idx.shape[1], device=idx.device)))
            for blk in s.h:
                x = blk(x)
            return F.cross_entropy(s.head(s.ln_f(x)).view(-1, V), tgt.view(-1))

    model = GPT().to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-3, betas=(0.9, 0.99))
    x, y = torch.randint(0, V, (B, T), device=device), torch.randint(0, V, (B, T), device=device)

    def step():
        loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss
    return step


WORKLOADS = {
    "gemm-256": lambda: gemm(256),
    "gemm-512": lambda: gemm(512),
    "gemm-1024": lambda: gemm(1024),
    "conv1-fwd": lambda: conv("conv1", False),
    "conv1-fwdbwd": lambda: conv("conv1", True),
    "conv2-fwd": lambda: conv("conv2", False),
    "conv2-fwdbwd": lambda: conv("conv2", True),
    "mlp-step": mlp,
    "cnn-step": cnn,
    "gpt-step": gpt_step,
}


def openblas_core():
    """The OpenBLAS kernel in use, when the BLAS torch loaded is OpenBLAS (else None)."""
    for name in ("libblas.so.3", "libopenblas.so.0"):
        try:
            lib = ctypes.CDLL(name)
            fn = lib.openblas_get_corename
        except (OSError, AttributeError):
            continue
        fn.restype = ctypes.c_char_p
        info = {"library": name, "corename": fn().decode()}
        try:
            cfg = lib.openblas_get_config
            cfg.restype = ctypes.c_char_p
            info["config"] = cfg().decode()
        except AttributeError:
            pass
        return info
    return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--budget", type=float, default=None, help="seconds of timed reps per workload")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", default="", help="comma-separated workload ids")
    a = p.parse_args()
    if a.budget is None:
        a.budget = 0.4 if a.quick else 2.5
    torch.set_num_threads(a.threads)
    torch.manual_seed(1234)
    ids = [i for i in a.only.split(",") if i] or list(WORKLOADS)
    budget_ms = a.budget * 1000
    warmup, min_reps, max_reps, slow_ms = (1, 1, 20, 3000) if a.quick else (2, 5, 500, max(10000, 4 * budget_ms))
    results = {}
    for wid in ids:
        try:
            t = time_sync(WORKLOADS[wid](), budget_ms, warmup, min_reps, max_reps, slow_ms)
            results[wid] = t
            print(f"  torch@{a.threads} {wid}: {t['medianMs']:.2f} ms", file=sys.stderr)
        except Exception as e:  # report, do not crash the whole run
            results[wid] = {"error": f"{type(e).__name__}: {e}"}
            print(f"  torch@{a.threads} {wid}: error {e}", file=sys.stderr)
    info = {
        "version": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas": openblas_core(),
        "mkldnn": torch.backends.mkldnn.is_available(),
    }
    print(json.dumps({"info": info, "results": results}))


if __name__ == "__main__":
    main()
