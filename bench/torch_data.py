"""The real data of mox's benchmarks, read the way a PyTorch script reads it (numpy + gzip, no
torchvision): MNIST's IDX files and Tiny Shakespeare as character ids, from $MOX_DATA_DIR (default
../shared/data beside the repository). When a file is missing the loaders return data of the same size
and type drawn at random, and say so in `source`, so a benchmark still runs and its report shows it.
"""
import gzip
import os

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def data_dir():
    return os.environ.get("MOX_DATA_DIR") or os.path.join(ROOT, "..", "shared", "data")


def _idx(path, magic, header):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if int.from_bytes(raw[:4], "big") != magic:
        raise ValueError(f"{path}: IDX magic {int.from_bytes(raw[:4], 'big'):#x}, expected {magic:#x}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header)


def load_mnist(split="train"):
    """(x float32 [N, 1, 28, 28] in [0, 1], y int64 [N], source): x / 255 as the Keras quickstart."""
    prefix = "train" if split == "train" else "t10k"
    n = 60000 if split == "train" else 10000
    d = os.path.join(data_dir(), "mnist")
    img, lab = (os.path.join(d, f"{prefix}-{k}-idx{m}-ubyte.gz") for k, m in (("images", 3), ("labels", 1)))
    if os.path.exists(img) and os.path.exists(lab):
        x = _idx(img, 0x803, 16).reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
        y = _idx(lab, 0x801, 8).astype(np.int64)
        return torch.from_numpy(x), torch.from_numpy(y), f"mnist/{prefix} ({len(y)} images)"
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return x, y, f"random ({n} images of MNIST's size: {img} missing)"


def load_shakespeare():
    """(train ids int64, val ids int64, vocab size, source): nanoGPT's shakespeare_char prepare.py
    (sorted unique characters, the first 90% of the ids train, the last 10% validate)."""
    path = os.path.join(data_dir(), "tinyshakespeare", "input.txt")
    if os.path.exists(path):
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
        chars = sorted(set(text))
        stoi = {c: i for i, c in enumerate(chars)}
        ids = torch.tensor([stoi[c] for c in text], dtype=torch.long)
        source, vocab = f"tinyshakespeare/input.txt ({len(ids)} characters, vocab {len(chars)})", len(chars)
    else:
        vocab = 65
        ids = torch.randint(0, vocab, (1115394,), generator=torch.Generator().manual_seed(0))
        source = f"random (1115394 ids, vocab 65: {path} missing)"
    n = int(len(ids) * 0.9)
    return ids[:n], ids[n:], vocab, source


def get_batch(data, block_size, batch_size, generator=None):
    """nanoGPT's get_batch: batch_size random windows and the windows one to the right."""
    ix = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    x = torch.stack([data[i:i + block_size] for i in ix])
    y = torch.stack([data[i + 1:i + 1 + block_size] for i in ix])
    return x, y
