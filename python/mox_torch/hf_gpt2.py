"""GPT-2 in plain PyTorch with Hugging Face's layout, and its folders.

The module tree gives GPT2LMHeadModel's parameter names ('transformer.wte.weight',
'transformer.h.0.attn.c_attn.weight', ..., 'lm_head.weight'), and c_attn / c_proj / c_fc are GPT-2's
Conv1D, whose weight is stored [in, out] (y = x @ W + b), so a folder's tensors load with no transpose.
The head is tied to the token embedding unless config.json says tie_word_embeddings false. The MLP's
activation is config.json's activation_function ("gelu_new" and its twins: the tanh approximation;
"gelu": the exact one), LayerNorms use layer_norm_epsilon, and config.pruned_heads leaves a layer with
fewer heads. This is the same function as mox's GPT (src/models/gpt.ts, nanoGPT's, dropout 0) and as
transformers' GPT2LMHeadModel, so the logits agree to float tolerance (test/scale-out.test.ts).

load_hf_gpt2(dir) reads config.json and model.safetensors (GPT2LMHeadModel's keys, or bare GPT2Model's
without 'transformer.'); save_hf_gpt2(model, dir) writes them back (config.json kept as it was read,
the tokenizer files of the source folder copied), every file written atomically.
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Dict, List, Mapping, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .atomic import atomic_write
from .safetensors_io import read_safetensors, write_safetensors

# transformers' ACT2FN names this model computes, as mox's hf-gpt2.ts reads them
_GELU = {"gelu": "none", "gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "gelu_fast": "tanh"}

# the files of a Hugging Face folder that describe the tokenizer and generation, copied along with the weights
TOKENIZER_FILES = (
    "vocab.json",
    "merges.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "generation_config.json",
)


class ConfigError(ValueError):
    """A config.json or weights file that does not describe a GPT-2 this module can build."""


class GPT2Config:
    """The fields of a GPT-2 config.json the model uses; `raw` keeps the whole JSON object."""

    def __init__(self, raw: Mapping[str, object], source: str = "config.json"):
        self.raw = dict(raw)

        def bad(msg: str) -> ConfigError:
            return ConfigError(f"hf-gpt2: {source}: {msg}")

        def positive_int(key: str, fallback: Optional[str] = None) -> int:
            v = raw.get(key, raw.get(fallback) if fallback else None)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise bad(f"{key} must be a positive integer, got {v!r}")
            return v

        if raw.get("model_type", "gpt2") != "gpt2":
            raise bad(f"model_type is {raw.get('model_type')!r}, only \"gpt2\" is supported")
        self.vocab_size = positive_int("vocab_size")
        self.n_positions = positive_int("n_positions", "n_ctx")
        self.n_embd = positive_int("n_embd")
        self.n_layer = positive_int("n_layer")
        self.n_head = positive_int("n_head")
        if self.n_embd % self.n_head:
            raise bad(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        inner = raw.get("n_inner")
        self.n_inner = 4 * self.n_embd if inner is None else inner
        if not isinstance(self.n_inner, int) or self.n_inner < 1:
            raise bad(f"n_inner must be null or a positive integer, got {inner!r}")
        act = raw.get("activation_function", "gelu_new")
        if act not in _GELU:
            raise bad(f"activation_function {act!r} is not supported ({', '.join(_GELU)})")
        self.gelu_approximate = _GELU[act]
        self.layer_norm_epsilon = float(raw.get("layer_norm_epsilon", 1e-5))
        self.tie_word_embeddings = raw.get("tie_word_embeddings", True) is not False
        if raw.get("scale_attn_weights") is False or raw.get("scale_attn_by_inverse_layer_idx") or raw.get("add_cross_attention"):
            raise bad("scale_attn_weights false, scale_attn_by_inverse_layer_idx and add_cross_attention are not supported")
        self.embd_pdrop = float(raw.get("embd_pdrop", 0.0) or 0.0)
        self.attn_pdrop = float(raw.get("attn_pdrop", 0.0) or 0.0)
        self.resid_pdrop = float(raw.get("resid_pdrop", 0.0) or 0.0)
        pruned = raw.get("pruned_heads") or {}
        if not isinstance(pruned, dict):
            raise bad(f"pruned_heads must map layers to lists of heads, got {pruned!r}")
        self.pruned_heads: Dict[int, List[int]] = {}
        for k, heads in pruned.items():
            layer = int(k)
            if not (0 <= layer < self.n_layer) or not all(isinstance(h, int) and 0 <= h < self.n_head for h in heads):
                raise bad(f"pruned_heads {{{k!r}: {heads!r}}} names a layer or head the model lacks")
            if len(set(heads)) >= self.n_head:
                raise bad(f"pruned_heads removes every head of layer {layer}")
            if heads:
                self.pruned_heads[layer] = sorted(set(heads))

    def heads_of(self, layer: int) -> int:
        """The number of attention heads layer keeps."""
        return self.n_head - len(self.pruned_heads.get(layer, []))


class Conv1D(nn.Module):
    """GPT-2's Conv1D: a linear layer whose weight is stored [in, out] (y = x @ W + b)."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).view(*x.shape[:-1], self.weight.shape[1])


class Attention(nn.Module):
    """Causal multi-head self-attention: one packed c_attn for q, k, v, scaled by 1/sqrt(head size), c_proj."""

    def __init__(self, cfg: GPT2Config, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.head_dim = cfg.n_embd // cfg.n_head
        inner = n_head * self.head_dim
        self.c_attn = Conv1D(cfg.n_embd, 3 * inner)
        self.c_proj = Conv1D(inner, cfg.n_embd)
        self.attn_dropout = nn.Dropout(cfg.attn_pdrop)
        self.resid_dropout = nn.Dropout(cfg.resid_pdrop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        inner = self.n_head * self.head_dim
        q, k, v = self.c_attn(x).split(inner, dim=2)
        q, k, v = (z.view(b, t, self.n_head, self.head_dim).transpose(1, 2) for z in (q, k, v))
        if hasattr(F, "scaled_dot_product_attention"):  # PyTorch 2: the fused kernels
            p = self.attn_dropout.p if self.training else 0.0
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
            mask = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
            att = att.masked_fill(~mask, float("-inf"))
            y = self.attn_dropout(F.softmax(att, dim=-1)) @ v
        return self.resid_dropout(self.c_proj(y.transpose(1, 2).reshape(b, t, inner)))


class MLP(nn.Module):
    """c_fc, GELU (tanh approximation or exact, as config.json says), c_proj."""

    def __init__(self, cfg: GPT2Config):
        super().__init__()
        self.c_fc = Conv1D(cfg.n_embd, cfg.n_inner)
        self.c_proj = Conv1D(cfg.n_inner, cfg.n_embd)
        self.approximate = cfg.gelu_approximate
        self.dropout = nn.Dropout(cfg.resid_pdrop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate=self.approximate)))


class Block(nn.Module):
    """The pre-LayerNorm block: x + attn(ln_1(x)), then + mlp(ln_2(x))."""

    def __init__(self, cfg: GPT2Config, layer: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.attn = Attention(cfg, cfg.heads_of(layer))
        self.ln_2 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT2Model(nn.Module):
    """GPT2Model: token and position embeddings, the blocks, ln_f; ids [B, T] -> hidden states [B, T, C]."""

    def __init__(self, cfg: GPT2Config):
        super().__init__()
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.n_positions, cfg.n_embd)
        self.drop = nn.Dropout(cfg.embd_pdrop)
        self.h = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.h:
            x = block(x)
        return self.ln_f(x)


class GPT2LMHeadModel(nn.Module):
    """GPT2LMHeadModel: GPT2Model and a bias-free head, tied to wte unless the config unties it."""

    def __init__(self, cfg: GPT2Config):
        super().__init__()
        self.config = cfg
        self.transformer = GPT2Model(cfg)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        for name, p in self.named_parameters():
            if name.endswith("weight") and p.ndim == 2:
                # GPT-2's init: N(0, 0.02), the residual projections scaled by 1/sqrt(2 n_layer)
                std = 0.02 / math.sqrt(2 * cfg.n_layer) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p, std=std)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.transformer.wte.weight
        self.source_dir: Optional[str] = None

    def forward(self, idx: torch.Tensor, targets: Optional[torch.Tensor] = None):
        """ids [B, T] -> logits [B, T, V]; with targets, (logits, mean cross-entropy ignoring -1)."""
        if idx.shape[1] > self.config.n_positions:
            raise ValueError(f"GPT2: a sequence of length {idx.shape[1]} exceeds n_positions {self.config.n_positions}")
        logits = self.lm_head(self.transformer(idx))
        if targets is None:
            return logits
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    def hf_state_dict(self) -> Dict[str, torch.Tensor]:
        """The weights under GPT2LMHeadModel's names, as a folder stores them (lm_head only when untied)."""
        return hf_weights(self.state_dict(), self.config)


# buffers a GPT-2 file may carry that are not weights (the causal mask and its fill value)
_IGNORED = re.compile(r"transformer\.h\.\d+\.attn\.(bias|masked_bias)")

# what DDP, FSDP, activation checkpointing and torch.compile put into parameter names
_WRAPPERS = ("_fsdp_wrapped_module.", "_checkpoint_wrapped_module.", "_orig_mod.")


def _bare_name(k: str) -> str:
    for w in _WRAPPERS:
        k = k.replace(w, "")
    return k[len("module.") :] if k.startswith("module.") else k


def hf_weights(state: Mapping[str, torch.Tensor], cfg: GPT2Config) -> Dict[str, torch.Tensor]:
    """A state dict of GPT2LMHeadModel (as state_dict() or FSDP's full state dict gives it) as a folder stores it."""
    out = {}
    for k, v in state.items():
        k = _bare_name(k)
        if k == "lm_head.weight" and cfg.tie_word_embeddings:
            continue  # tied: the head is wte, as transformers saves it
        out[k] = v.detach().float().cpu().contiguous()
    return out


def load_hf_gpt2(folder: str, device: str | torch.device = "cpu") -> GPT2LMHeadModel:
    """Loads a Hugging Face GPT-2 folder (config.json + model.safetensors) as a GPT2LMHeadModel in float32."""
    cfg_file = os.path.join(folder, "config.json")
    weights = os.path.join(folder, "model.safetensors")
    if not os.path.isfile(cfg_file):
        raise ConfigError(f"hf-gpt2: {folder} has no config.json (a Hugging Face GPT-2 folder holds config.json and model.safetensors)")
    if not os.path.isfile(weights):
        raise ConfigError(f"hf-gpt2: {folder} has no model.safetensors")
    with open(cfg_file, encoding="utf-8") as f:
        try:
            raw = json.load(f)
        except json.JSONDecodeError as e:
            raise ConfigError(f"hf-gpt2: {cfg_file} is not valid JSON ({e})") from None
    if isinstance(raw, dict) and "gpt" in raw and "n_embd" not in raw:
        raise ConfigError(f"hf-gpt2: {folder} is a mox checkpoint, not a Hugging Face folder: write one with mox export-hf --model {folder} --out DIR")
    cfg = GPT2Config(raw, cfg_file)
    model = GPT2LMHeadModel(cfg)
    tensors, _ = read_safetensors(weights)
    sd = {}
    for k, t in tensors.items():
        name = k if k.startswith("transformer.") or k == "lm_head.weight" else f"transformer.{k}"
        if _IGNORED.fullmatch(name):
            continue
        sd[name] = t.float()
    own = model.state_dict()
    if cfg.tie_word_embeddings:
        sd.pop("lm_head.weight", None)  # transformers ties over a stored head too
        sd["lm_head.weight"] = sd.get("transformer.wte.weight", own["lm_head.weight"])
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    if missing or unexpected:
        raise ConfigError(
            f"hf-gpt2: {weights} does not fit config.json (n_layer {cfg.n_layer}, n_embd {cfg.n_embd}): "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    for k, t in sd.items():
        if tuple(t.shape) != tuple(own[k].shape):
            raise ConfigError(
                f"hf-gpt2: {weights}: {k} has shape {list(t.shape)}, expected {list(own[k].shape)} (Conv1D weights are stored [in, out])"
            )
    model.load_state_dict(sd)
    model.source_dir = os.path.abspath(folder)
    return model.to(device)


def save_hf_gpt2(
    model: GPT2LMHeadModel,
    folder: str,
    state: Optional[Mapping[str, torch.Tensor]] = None,
    tokenizer_from: Optional[str] = None,
    metadata: Optional[Mapping[str, str]] = None,
) -> None:
    """Writes model (or `state`, e.g. FSDP's gathered full state dict) as a Hugging Face GPT-2 folder.

    config.json is the one the model was loaded with; the tokenizer files of tokenizer_from (default: the
    folder the model came from) are copied; model.safetensors is float32 with transformers' key names.
    """
    cfg = model.config
    os.makedirs(folder, exist_ok=True)
    weights = hf_weights(state if state is not None else model.state_dict(), cfg)
    write_safetensors(os.path.join(folder, "model.safetensors"), weights, {"format": "pt", **(metadata or {})})
    raw = dict(cfg.raw)
    raw["torch_dtype"] = "float32"
    atomic_write(os.path.join(folder, "config.json"), (json.dumps(raw, indent=2) + "\n").encode("utf-8"))
    src = tokenizer_from or model.source_dir
    if src and os.path.abspath(src) != os.path.abspath(folder):
        for name in TOKENIZER_FILES:
            path = os.path.join(src, name)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    atomic_write(os.path.join(folder, name), f.read())

