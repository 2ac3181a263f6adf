"""Token files as `mox tokenize --out-bin FILE` writes them: the ids as one flat little-endian uint16
array (uint32 when the vocabulary exceeds 65536), nanoGPT's train.bin, and FILE.json describing it
(dtype, count, vocab_size, tokenizer, source, sha256). read_token_file memory-maps the ids, so a file
larger than memory trains as well as a small one."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Tuple

import numpy as np


class TokenFileError(ValueError):
    """A token file that does not match its FILE.json (size, dtype, checksum) or has none."""


def read_token_file(path: str, verify: bool = True) -> Tuple[np.memmap, dict]:
    """Memory-maps a token file; returns (ids, FILE.json). verify also checks the bytes' sha256."""
    info_path = path + ".json"
    if not os.path.isfile(path):
        raise TokenFileError(f"token file: {path}: no such file")
    if not os.path.isfile(info_path):
        raise TokenFileError(f"token file: {path}: no {info_path} beside it (mox tokenize --out-bin writes both)")
    with open(info_path, encoding="utf-8") as f:
        try:
            info = json.load(f)
        except json.JSONDecodeError as e:
            raise TokenFileError(f"token file: {info_path} is not valid JSON ({e})") from None
    if info.get("format") != "mox-tokens":
        raise TokenFileError(f"token file: {info_path}: format is {info.get('format')!r}, expected 'mox-tokens'")
    dtype = {"uint16": np.dtype("<u2"), "uint32": np.dtype("<u4")}.get(info.get("dtype"))
    if dtype is None or info.get("byte_order", "little") != "little":
        raise TokenFileError(f"token file: {info_path}: dtype {info.get('dtype')!r} (uint16 or uint32, little-endian)")
    count = info.get("count")
    size = os.path.getsize(path)
    if not isinstance(count, int) or size != count * dtype.itemsize:
        raise TokenFileError(f"token file: {path} holds {size} bytes, {info_path} says {count} {info['dtype']} tokens")
    if verify:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 24), b""):
                h.update(chunk)
        if h.hexdigest() != info.get("sha256"):
            raise TokenFileError(f"token file: {path}: sha256 {h.hexdigest()} differs from {info_path}'s {info.get('sha256')!r}")
    ids = np.memmap(path, dtype=dtype, mode="r") if count > 0 else np.zeros(0, dtype=dtype)
    return ids, info
