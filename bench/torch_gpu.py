#!/usr/bin/env python3
"""PyTorch side of mox's GPU benchmark (`npm run bench:gpu` runs it when torch sees a CUDA device).

fp32 GEMM and nanoGPT's Shakespeare GPU training step on CUDA with TF32 off (and, for reference, on),
timed with torch.cuda.synchronize(). Prints one JSON object on stdout; progress goes to stderr.
"""
import argparse
import json
import statistics
import sys
import time

import torch

from torch_bench import gpt_step


def timed(step, reps, warmup):
    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        s = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - s) * 1000)
    return {"medianMs": statistics.median(times), "minMs": min(times), "reps": reps}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="1024,2048,4096")
    p.add_argument("--gpt", default="6,6,384,256,64", help="layers,heads,width,block,batch")
    p.add_argument("--gpt-reps", type=int, default=20)
    a = p.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"error": "torch.cuda.is_available() is False"}))
        return
    torch.manual_seed(1234)
    results = {}
    for tf32 in (False, True):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        tag = "tf32" if tf32 else "fp32"
        for n in [int(s) for s in a.sizes.split(",") if s]:
            x, y = torch.randn(n, n, device="cuda"), torch.randn(n, n, device="cuda")
            reps = max(5, min(200, int(2e12 / (2 * n ** 3))))
            t = timed(lambda: x @ y, reps, 3)
            t["tflops"] = 2 * n ** 3 / (t["medianMs"] / 1000) / 1e12
            results[f"gemm-{n}-{tag}"] = t
            print(f"  torch {tag} gemm {n}: {t['tflops']:.1f} TFLOP/s", file=sys.stderr)
        L, H, C, T, B = (int(v) for v in a.gpt.split(","))
        step = gpt_step(V=65, T=T, C=C, H=H, L=L, B=B, dropout=0.2, device="cuda")
        t = timed(step, a.gpt_reps, 3)
        results[f"gpt-step-{tag}"] = t
        print(f"  torch {tag} gpt step: {t['medianMs']:.1f} ms", file=sys.stderr)
    info = {"version": torch.__version__, "device": torch.cuda.get_device_name(0)}
    print(json.dumps({"info": info, "results": results}))


if __name__ == "__main__":
    main()
