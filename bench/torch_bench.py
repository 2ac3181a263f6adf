#!/usr/bin/python3
"""PyTorch side of mox's CPU benchmark (`npm run bench:cpu` runs it once per thread setting and group).

Same workloads and shapes as bench/common.ts, NCHW, torch.nn modules and torch.optim.Adam, run the way a
training script runs them, because the state of the process changes PyTorch's step time by up to 4x:
- The dataset is loaded first (real MNIST, and Tiny Shakespeare for the GPT; bench/torch_data.py). A
  fresh process that has loaded nothing keeps glibc's malloc at its default thresholds: every buffer
  over 128 KiB is mmap'ed and unmapped again each step, and each step pays the page faults. Loading a
  dataset frees large buffers, which raises glibc's dynamic thresholds, as in any real script.
- The training steps read their batches from that data (MNIST slices; nanoGPT's get_batch).
- No dead modules: dropout 0 builds no nn.Dropout (torch 1.13 draws a mask even for p = 0).
- torch.no_grad for inference, zero_grad(set_to_none=True).
Prints one JSON object on stdout; progress goes to stderr. The caller sets OPENBLAS_NUM_THREADS /
OMP_NUM_THREADS; this sets torch's and OpenBLAS's pools to --threads as well, and runs OpenBLAS on its
own kernel choice (bench/torch_env.py).
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch_env

torch_env.native_openblas()

import torch  # noqa: E402 (after native_openblas)
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

import torch_gpt  # noqa: E402
from torch_data import get_batch, load_mnist, load_shakespeare  # noqa: E402

MLP_BATCH, CNN_BATCH, CONV_BATCH = 32, 64, 64
CONV_LAYERS = {"conv1": (1, 32, 28, False), "conv2": (32, 64, 13, True)}
GPT = dict(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128, batch=12)


def minor_faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_sync(step, budget_ms, warmup, min_reps, max_reps, slow_ms):
    """bench/common.ts's timeSync: warmup reps, then timed reps until the budget is spent."""
    warm = 0
    while warm < warmup:
        s = time.perf_counter()
        step()
        dt = (time.perf_counter() - s) * 1000
        if warm == 0 and dt > slow_ms:  # one cold rep is the only sample
            return {"medianMs": dt, "meanMs": dt, "minMs": dt, "reps": 1, "warmup": 0, "cold": True, "minorFaultsPerRep": None}
        warm += 1
        if dt > budget_ms / 2:
            break
    times = []
    faults = minor_faults()
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
        # page faults per timed rep: glibc returning freed buffers to the kernel shows here, whatever the load
        "minorFaultsPerRep": (minor_faults() - faults) / len(times),
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


class Data:
    """The datasets, loaded once at start-up as a training script loads them before its first step."""

    def __init__(self, ids, load=True):
        self.notes = []
        self.text = None
        if not load:  # --no-data: the state of a process that has loaded nothing, to show what it costs
            self.mnist = (torch.rand(640, 1, 28, 28), torch.randint(0, 10, (640,)))
            self.text = torch.randint(0, GPT["vocab_size"], (100_000,))
            self.notes.append("no data loaded (--no-data): 640 random images, 100,000 random ids")
            self.epoch_images = 640
            return
        # every workload, a GEMM too, runs in a process that has loaded its dataset, as a script's does:
        # the training and the test split (a script evaluates on it; kept, as a script keeps it)
        x, y, src = load_mnist("train")
        self.mnist = (x, y)
        self.mnist_test = load_mnist("test")
        self.notes.append(f"MNIST: {src} and {self.mnist_test[2]}")
        self.epoch_images = len(y)
        if any(i.startswith("gpt") for i in ids):
            train, _, vocab, src = load_shakespeare()
            self.text = train
            self.notes.append(f"GPT: {src}" + ("" if vocab == GPT["vocab_size"] else f" (vocab {vocab}, the bench's model has {GPT['vocab_size']})"))


def mnist_batches(data, batch):
    """Consecutive batches of the loaded images, round and round (views, no copy)."""
    x, y = data.mnist
    n = len(y) // batch
    state = {"i": 0}

    def next_batch():
        i = state["i"]
        state["i"] = (i + 1) % n
        return x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch]
    return next_batch


def trainer(model, next_batch):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        x, y = next_batch()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def mlp_model():
    nn = torch.nn
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


def mlp(data):
    return trainer(mlp_model(), mnist_batches(data, MLP_BATCH))


def cnn(data):
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
        nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10),
    )
    return trainer(model, mnist_batches(data, CNN_BATCH))


def mlp_epoch(data, images, dataloader):
    """One epoch of the MLP over the first `images` training images, shuffled, batch 32, Adam, no
    metrics: a fast user's loop (a permutation, then x[idx] per batch) or a typical user's
    DataLoader(TensorDataset(x, y), shuffle=True)."""
    x, y = data.mnist
    x, y = x[:images], y[:images]
    model = mlp_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    loader = DataLoader(TensorDataset(x, y), batch_size=MLP_BATCH, shuffle=True) if dataloader else None

    def batches():
        if loader is not None:
            yield from loader
            return
        perm = torch.randperm(len(y))
        for i in range(0, len(y), MLP_BATCH):
            idx = perm[i:i + MLP_BATCH]
            yield x[idx], y[idx]

    def epoch():
        for xb, yb in batches():
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
    return epoch


def gpt_step(V=65, T=64, C=128, H=4, L=4, B=12, dropout=0.0, device="cpu", data=None):
    """nanoGPT's model (bench/torch_gpt.py) with AdamW + clipping as its train.py; defaults: its CPU
    Shakespeare configuration. Each step draws its batch as nanoGPT's get_batch, from the Tiny
    Shakespeare ids when `data` is given, else from ids drawn at random (the GPU bench)."""
    model = torch_gpt.GPT(V, T, L, H, C, dropout=dropout).to(device)
    model.train()
    opt = torch_gpt.adamw(model, lr=1e-3, weight_decay=0.1, betas=(0.9, 0.99))
    ids = data if data is not None else torch.randint(0, V, (100_000,))

    def step():
        x, y = get_batch(ids, T, B)
        if device != "cpu":
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss
    return step


WORKLOADS = {
    "gemm-256": lambda data: gemm(256),
    "gemm-512": lambda data: gemm(512),
    "gemm-1024": lambda data: gemm(1024),
    "conv1-fwd": lambda data: conv("conv1", False),
    "conv1-fwdbwd": lambda data: conv("conv1", True),
    "conv2-fwd": lambda data: conv("conv2", False),
    "conv2-fwdbwd": lambda data: conv("conv2", True),
    "mlp-step": mlp,
    "cnn-step": cnn,
    "gpt-step": lambda data: gpt_step(data=data.text),
    "mlp-epoch-loop": lambda data: mlp_epoch(data, data.epoch_images, False),
    "mlp-epoch-dataloader": lambda data: mlp_epoch(data, data.epoch_images, True),
}
# mox-only workloads: the row shows this instead of a PyTorch figure
NO_COUNTERPART = {
    "mlp-epoch-fit": "no counterpart: PyTorch has no fit()",
    "mlp-epoch-fit-v1": "no counterpart: PyTorch has no fit()",
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--budget", type=float, default=None, help="seconds of timed reps per workload")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", default="", help="comma-separated workload ids")
    p.add_argument("--no-data", action="store_true", help="load no dataset (a fresh process's malloc state)")
    p.add_argument("--epoch-images", type=int, default=None, help="images in the epoch workloads (default all 60,000)")
    a = p.parse_args()
    if a.budget is None:
        a.budget = 0.4 if a.quick else 2.5
    torch_env.set_threads(a.threads)
    torch.manual_seed(1234)
    ids = [i for i in a.only.split(",") if i] or list(WORKLOADS)
    t0 = time.perf_counter()
    data = Data(ids, load=not a.no_data)
    if a.epoch_images:
        data.epoch_images = min(a.epoch_images, data.epoch_images)
    print(f"  torch@{a.threads}: data loaded in {time.perf_counter() - t0:.1f} s ({'; '.join(data.notes)})", file=sys.stderr)
    budget_ms = a.budget * 1000
    warmup, min_reps, max_reps, slow_ms = (1, 1, 20, 3000) if a.quick else (2, 5, 500, max(10000, 4 * budget_ms))
    results = {}
    for wid in ids:
        if wid in NO_COUNTERPART:
            results[wid] = {"note": NO_COUNTERPART[wid]}
            continue
        try:
            t = time_sync(WORKLOADS[wid](data), budget_ms, warmup, min_reps, max_reps, slow_ms)
            results[wid] = t
            print(f"  torch@{a.threads} {wid}: {t['medianMs']:.2f} ms, {t['minorFaultsPerRep'] if t['minorFaultsPerRep'] is not None else '?'} page faults a rep", file=sys.stderr)
        except Exception as e:  # report, do not crash the whole run
            results[wid] = {"error": f"{type(e).__name__}: {e}"}
            print(f"  torch@{a.threads} {wid}: error {e}", file=sys.stderr)
    info = {
        "version": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas": torch_env.openblas_core(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "sdpa": torch_gpt.HAS_SDPA,
        "data": data.notes,
        "epochImages": data.epoch_images if any(i.startswith("mlp-epoch") for i in ids) else None,
        "mallocEnv": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")},
    }
    print(json.dumps({"info": info, "results": results}))


if __name__ == "__main__":
    main()
