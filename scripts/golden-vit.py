#!/usr/bin/python3
"""The PyTorch reference for mox.models.ViT: test/fixtures/vit-tiny.safetensors.

Builds a tiny Vision Transformer in plain PyTorch, structured and named as timm's VisionTransformer
(patch_embed.proj, cls_token, pos_embed, blocks.N.norm1 / attn.qkv / attn.proj / norm2 / mlp.fc1 /
mlp.fc2, norm, head; LayerNorm eps 1e-6, exact GELU, class-token pooling), written here from the paper
and timm's code rather than imported, so the file needs only torch. Its weights are fixed random
draws (larger than timm's initialisation, so every layer's nonlinearity shows in the output), stored
in float32; the forward and backward run in float64 on those float32 values.

The file (safetensors, written by hand: no safetensors package needed) holds
  in.0                 the images [B, C, H, W], float32
  param.<timm name>    every parameter, float32
  out                  the logits [B, numClasses], float64
  gout                 an upstream gradient for the logits, float64
  grad.in.0            d sum(out * gout) / d images, float64
  grad.param.<name>    d sum(out * gout) / d parameter, float64
and its metadata holds the config (JSON) and the torch version. test/vit.test.ts loads it (no Python
needed there) and compares mox's forward and backward with it.

    /usr/bin/python3 scripts/golden-vit.py            # rewrites test/fixtures/vit-tiny.safetensors
"""

import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIG = {
    "imageSize": [8, 12],
    "patchSize": [4, 4],
    "inChannels": 3,
    "numClasses": 5,
    "dim": 16,
    "depth": 2,
    "heads": 4,
    "mlpRatio": 4,
    "lnEps": 1e-6,
}
BATCH = 3
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "vit-tiny.safetensors")


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        hd = c // self.heads
        # timm: qkv(x).reshape(B, N, 3, heads, hd).permute(2, 0, 3, 1, 4)
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, hd).permute(2, 0, 3, 1, 4).unbind(0)
        attn = (q @ k.transpose(-2, -1)) * hd**-0.5
        attn = attn.softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))  # exact GELU, as timm's nn.GELU


class Block(nn.Module):
    def __init__(self, dim, heads, hidden, eps):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, hidden)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch, in_chans, dim):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # [B, N, D]


class VisionTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        dim = c["dim"]
        gh, gw = c["imageSize"][0] // c["patchSize"][0], c["imageSize"][1] // c["patchSize"][1]
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, gh * gw + 1, dim))
        self.patch_embed = PatchEmbed(tuple(c["patchSize"]), c["inChannels"], dim)
        hidden = int(c["mlpRatio"] * dim)
        self.blocks = nn.Sequential(*[Block(dim, c["heads"], hidden, c["lnEps"]) for _ in range(c["depth"])])
        self.norm = nn.LayerNorm(dim, eps=c["lnEps"])
        self.head = nn.Linear(dim, c["numClasses"])

    def forward(self, x):
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


def fixed_weights(model, gen):
    """Every parameter a seeded draw: LayerNorm scales near 1, the rest centred normals."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            z = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            if "norm" in name and name.endswith("weight"):
                v = 1 + 0.2 * z
            elif name.endswith("bias"):
                v = 0.1 * z
            elif name in ("cls_token", "pos_embed"):
                v = 0.5 * z
            else:
                fan_in = math.prod(p.shape[1:])
                v = z / math.sqrt(fan_in)
            p.copy_(v.float().double())  # float32 values, held in float64


DTYPES = {torch.float32: "F32", torch.float64: "F64"}


def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        data = t.detach().contiguous().numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def main():
    gen = torch.Generator().manual_seed(14)
    model = VisionTransformer(CONFIG).double()
    fixed_weights(model, gen)
    x = torch.randn(BATCH, CONFIG["inChannels"], *CONFIG["imageSize"], generator=gen, dtype=torch.float64).float().double()
    x.requires_grad_(True)
    out = model(x)
    gout = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    (out * gout).sum().backward()

    tensors = {"in.0": x.float()}
    for name, p in model.named_parameters():
        tensors[f"param.{name}"] = p.float()
    tensors["out"] = out
    tensors["gout"] = gout
    tensors["grad.in.0"] = x.grad
    for name, p in model.named_parameters():
        tensors[f"grad.param.{name}"] = p.grad
    metadata = {
        "config": json.dumps(CONFIG),
        "torch_version": torch.__version__,
        "description": "timm-structured VisionTransformer (plain torch), float64 forward/backward on float32 weights; scripts/golden-vit.py",
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    write_safetensors(OUT, tensors, metadata)
    n = sum(p.numel() for p in model.parameters())
    print(f"wrote {os.path.relpath(OUT)}: {n} parameters, logits {list(out.shape)}, {os.path.getsize(OUT)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
