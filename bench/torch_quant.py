"""PyTorch's peer for `npm run bench:quant`: GPT-2 small's shape (random weights, the layout of
bench/torch_gpt.py's nanoGPT) decoding one token at a time with a KV cache, batch 1, greedy, in fp32 and
after torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, torch.qint8) (fbgemm: int8 weights per
tensor, activations quantized at run time), the way a PyTorch user shrinks a model for the CPU.

Prints one JSON line: {"threads": T, "fp32": tokens/s, "dynamic_int8": tokens/s}.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, c, h):
        super().__init__()
        self.h = h
        self.ln_1 = nn.LayerNorm(c)
        self.c_attn = nn.Linear(c, 3 * c)
        self.c_proj = nn.Linear(c, c)
        self.ln_2 = nn.LayerNorm(c)
        self.c_fc = nn.Linear(c, 4 * c)
        self.mlp_proj = nn.Linear(4 * c, c)

    def forward(self, x, cache):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (z.view(B, T, self.h, C // self.h).transpose(1, 2) for z in (q, k, v))
        if cache is not None:
            k = torch.cat([cache[0], k], dim=2)
            v = torch.cat([cache[1], v], dim=2)
        # one new query sees every cached key: no mask (torch 1.13, Debian's, has no scaled_dot_product_attention)
        y = F.softmax((q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1))), dim=-1) @ v
        x = x + self.c_proj(y.transpose(1, 2).reshape(B, T, C))
        x = x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))
        return x, (k, v)


class GPT(nn.Module):
    def __init__(self, vocab, block, layers, heads, c):
        super().__init__()
        self.wte = nn.Embedding(vocab, c)
        self.wpe = nn.Embedding(block, c)
        self.h = nn.ModuleList([Block(c, heads) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(c)
        self.lm_head = nn.Linear(c, vocab, bias=False)
        self.lm_head.weight = self.wte.weight
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0, 0.02)

    def forward(self, idx, caches, past):
        x = self.wte(idx) + self.wpe(torch.arange(past, past + idx.shape[1]))
        new = []
        for i, b in enumerate(self.h):
            x, c = b(x, caches[i] if caches else None)
            new.append(c)
        return self.lm_head(self.ln_f(x[:, -1:])), new


@torch.inference_mode()
def decode(model, tokens, runs):
    best = 0.0
    for _ in range(runs):
        idx = torch.zeros(1, 1, dtype=torch.long)
        caches, past = None, 0
        t0 = time.perf_counter()
        for _ in range(tokens):
            logits, caches = model(idx, caches, past)
            past += idx.shape[1]
            idx = logits.argmax(-1)
        best = max(best, tokens / (time.perf_counter() - t0))
    return best


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tokens", type=int, default=32)
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = GPT(50257, 1024, 12, 12, 768).eval()
    out = {"threads": a.threads, "torch": torch.__version__, "fp32": decode(model, a.tokens, a.runs)}
    q = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    out["dynamic_int8"] = decode(q, a.tokens, a.runs)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
