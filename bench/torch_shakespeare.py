#!/usr/bin/python3
"""nanoGPT's Shakespeare char run in PyTorch, set up exactly as `mox train gpt --dataset tinyshakespeare`
runs it (src/cli/commands/train-gpt.ts and its defaults), to put the two end to end side by side:

  4 layers, 4 heads, width 128, block 64, batch 12, vocab of the sorted characters, bias, no dropout;
  the first 90% of the ids train, the last 10% validate; 2000 iterations of AdamW (betas 0.9/0.99, eps
  1e-8, weight decay 0.1 on 2-D parameters only), lr 1e-3 with 100 warmup iterations then cosine decay
  to 1e-4 at the last iteration, gradient clipping 1.0, seed 1337; every 250 iterations and at the end
  the mean loss of 20 batches of each split (model.eval(), torch.no_grad()).

The model is nanoGPT's model.py layout (bench/torch_gpt.py); the loop is its train.py on the CPU
(no torch.compile, float32). Like mox, ms/iter times the training iterations only (batch, forward,
backward, clip, step), not the evaluations; `seconds` is the whole loop, evaluations included.
`--threads auto` (the default) times a few steps at 1 and at every core on a throwaway model first and
trains at the faster setting, as a user tuning a script would. OpenBLAS runs on its own kernel choice
and with the same thread count as torch (bench/torch_env.py).

  /usr/bin/python3 bench/torch_shakespeare.py [--max-iters 2000] [--threads auto|N] [--eval-interval 250] [--eval-iters 20]

Prints the evaluations as it goes and ends with `RESULT {json}`.
"""
import argparse
import json
import math
import os
import sys
import time

import torch_env

torch_env.native_openblas()

import torch  # noqa: E402 (after native_openblas)

import torch_gpt  # noqa: E402
from torch_data import get_batch, load_shakespeare  # noqa: E402


def lr_at(it, lr, min_lr, warmup, decay_iters):
    """nanoGPT's get_lr, as mox's lrAt."""
    if it < warmup:
        return lr * (it + 1) / (warmup + 1)
    if it > decay_iters:
        return min_lr
    ratio = (it - warmup) / max(1, decay_iters - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


def build(a, vocab):
    model = torch_gpt.GPT(vocab, a.block_size, a.n_layer, a.n_head, a.n_embd, dropout=0.0, bias=True)
    opt = torch_gpt.adamw(model, lr=a.lr, weight_decay=0.1, betas=(0.9, 0.99))
    return model, opt


def train_step(model, opt, data, a, lr):
    for g in opt.param_groups:
        g["lr"] = lr
    x, y = get_batch(data, a.block_size, a.batch_size)
    loss = model(x, y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss


def best_threads(a, train, vocab):
    """Times 8 steps (after 3 warm-up steps) at 1 thread and at every core, on a throwaway model."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    times = {}
    for n in sorted({1, cores}):
        torch_env.set_threads(n)
        model, opt = build(a, vocab)
        for i in range(11):
            if i == 3:
                t0 = time.perf_counter()
            train_step(model, opt, train, a, a.lr)
        times[n] = (time.perf_counter() - t0) / 8 * 1000
    best = min(times, key=times.get)
    print(f"threads: {', '.join(f'{n}: {ms:.1f} ms/iter' for n, ms in times.items())} -> {best}", flush=True)
    return best, times


@torch.no_grad()
def estimate_loss(model, splits, a):
    model.eval()
    out = {}
    for name, data in splits.items():
        losses = torch.zeros(a.eval_iters)
        for k in range(a.eval_iters):
            x, y = get_batch(data, a.block_size, a.batch_size)
            losses[k] = model(x, y).item()
        out[name] = losses.mean().item()
    model.train()
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--max-iters", type=int, default=2000)
    p.add_argument("--eval-interval", type=int, default=250)
    p.add_argument("--eval-iters", type=int, default=20)
    p.add_argument("--threads", default="auto", help="'auto' or a number")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--batch-size", type=int, default=12)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=1e-4)
    p.add_argument("--warmup-iters", type=int, default=100)
    a = p.parse_args()
    if a.max_iters < 1 or a.eval_interval < 1 or a.eval_iters < 1:
        p.error("--max-iters, --eval-interval and --eval-iters must be positive")

    t_load = time.perf_counter()
    train, val, vocab, source = load_shakespeare()
    print(f"data: {source}: {len(train)} ids train, {len(val)} validate (loaded in {time.perf_counter() - t_load:.1f} s)", flush=True)
    if a.threads == "auto":
        threads, probe = best_threads(a, train, vocab)
    else:
        threads, probe = int(a.threads), None
    torch_env.set_threads(threads)

    torch.manual_seed(a.seed)
    model, opt = build(a, vocab)
    n_params = sum(p.numel() for p in model.parameters()) - model.transformer.wpe.weight.numel()
    print(f"training: GPT {a.n_layer} layers, {a.n_head} heads, width {a.n_embd}, block {a.block_size}, vocab {vocab}; "
          f"{n_params / 1e6:.2f}M parameters (without position embeddings); batch {a.batch_size}, {a.max_iters} iterations, "
          f"torch {torch.__version__}, OpenBLAS {(torch_env.openblas_core() or {}).get('corename', 'none')}, {threads} threads, attention {'sdpa' if torch_gpt.HAS_SDPA else 'manual (no F.scaled_dot_product_attention)'}", flush=True)
    splits = {"train": train, "val": val}
    iter_s = window_s = 0.0
    window_n = 0
    losses = {}
    start = time.perf_counter()
    for it in range(a.max_iters + 1):
        if it % a.eval_interval == 0 or it == a.max_iters:
            t0 = time.perf_counter()
            losses = estimate_loss(model, splits, a)
            rate = f", {window_s / window_n * 1000:.1f} ms/iter, {round(a.batch_size * a.block_size * window_n / window_s)} tokens/s" if window_n else ""
            print(f"step {it}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}{rate} (eval {time.perf_counter() - t0:.1f} s)", flush=True)
            window_s, window_n = 0.0, 0
        if it == a.max_iters:
            break
        t0 = time.perf_counter()
        loss = train_step(model, opt, train, a, lr_at(it, a.lr, a.min_lr, a.warmup_iters, a.max_iters))
        loss.item()
        dt = time.perf_counter() - t0
        iter_s += dt
        window_s += dt
        window_n += 1
    seconds = time.perf_counter() - start
    ms_per_iter = iter_s / a.max_iters * 1000
    print(f"done: {a.max_iters} iterations, {ms_per_iter:.1f} ms/iter, {seconds:.1f} s with the evaluations", flush=True)
    result = {
        "example": "gpt-pytorch", "val_loss": round(losses["val"], 4), "train_loss": round(losses["train"], 4),
        "seconds": round(seconds, 2), "ms_per_iter": round(ms_per_iter, 2), "threads": threads,
        "iters": a.max_iters, "torch": torch.__version__, "openblas": (torch_env.openblas_core() or {}).get("corename"), "sdpa": torch_gpt.HAS_SDPA, "data": source,
        "threads_probe_ms": {str(k): round(v, 2) for k, v in probe.items()} if probe else None,
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
