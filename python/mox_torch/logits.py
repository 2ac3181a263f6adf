"""Print a GPT-2 folder's logits for given token ids as JSON, to compare PyTorch's numbers with mox's.

    python -m mox_torch.logits DIR --ids 1,2,3            one sequence
    python -m mox_torch.logits DIR --ids '[[1,2],[3,4]]'  a batch of equal-length sequences
    echo '[1,2,3]' | python -m mox_torch.logits DIR       the ids on stdin

Prints {"shape": [B, T, V], "logits": [...]} (row-major, float32 values written exactly).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional

import torch

from .hf_gpt2 import ConfigError, load_hf_gpt2
from .safetensors_io import SafetensorsError


def parse_ids(text: str) -> List[List[int]]:
    """Ids as a JSON array (of arrays) or integers separated by commas/spaces -> a batch of sequences."""
    text = text.strip()
    v = json.loads(text) if text.startswith("[") else [int(s) for s in text.replace(",", " ").split()]
    batch = v if v and isinstance(v[0], list) else [v]
    if not batch or not batch[0] or any(len(r) != len(batch[0]) for r in batch):
        raise SystemExit("mox_torch.logits: give one or more non-empty sequences of equal length")
    if not all(isinstance(i, int) and i >= 0 for r in batch for i in r):
        raise SystemExit("mox_torch.logits: ids must be non-negative integers")
    return batch


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mox_torch.logits", description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="a Hugging Face GPT-2 folder")
    p.add_argument("--ids", help="the ids (default: read from stdin)")
    a = p.parse_args(argv)
    batch = parse_ids(a.ids if a.ids is not None else sys.stdin.read())
    try:
        model = load_hf_gpt2(a.model).eval()
    except (ConfigError, SafetensorsError) as e:
        raise SystemExit(f"mox_torch.logits: {e}") from None
    v = model.config.vocab_size
    if any(i >= v for r in batch for i in r):
        raise SystemExit(f"mox_torch.logits: an id is outside the vocabulary [0, {v})")
    with torch.no_grad():
        logits = model(torch.tensor(batch, dtype=torch.int64))
    json.dump({"shape": list(logits.shape), "logits": logits.reshape(-1).tolist()}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
