"""Safetensors files: an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
shape and byte range (plus an optional "__metadata__" of strings), then the raw little-endian bytes.

The `safetensors` package reads and writes them when it is importable; otherwise this module does, with
NumPy, so the package needs only PyTorch and NumPy. Both paths give the same tensors, and the writer
renames a finished temporary file into place (atomic_write), so a reader never sees half a file.
"""

from __future__ import annotations

import json
import struct
from typing import Dict, Mapping, Optional, Tuple

import numpy as np
import torch

from .atomic import atomic_write

try:  # the real package when present: faster, and the reference implementation
    from safetensors.torch import load_file as _st_load_file
    from safetensors.torch import save as _st_save
    from safetensors import safe_open as _st_safe_open

    HAVE_SAFETENSORS = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_SAFETENSORS = False

# safetensors dtype names -> (NumPy dtype of the stored bytes, torch dtype); BF16 has no NumPy dtype, so its
# 16-bit patterns travel as int16 (PyTorch < 2.3 has no uint16 to view them as)
_DTYPES = {
    "F64": (np.float64, torch.float64),
    "F32": (np.float32, torch.float32),
    "F16": (np.float16, torch.float16),
    "BF16": (np.int16, torch.bfloat16),
    "I64": (np.int64, torch.int64),
    "I32": (np.int32, torch.int32),
    "I16": (np.int16, torch.int16),
    "I8": (np.int8, torch.int8),
    "U8": (np.uint8, torch.uint8),
    "BOOL": (np.bool_, torch.bool),
}
_NAMES = {t: name for name, (_, t) in _DTYPES.items()}

# a header longer than this is not a model's (safetensors itself refuses 100 MB)
_MAX_HEADER = 100_000_000


class SafetensorsError(ValueError):
    """A safetensors file that cannot be read: the message names the file and what is wrong."""


def _parse_header(path: str, blob: bytes, size: int) -> Tuple[dict, int]:
    if size < 8:
        raise SafetensorsError(f"safetensors: {path} is {size} bytes, too short for the 8-byte header length")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > _MAX_HEADER or 8 + n > size:
        raise SafetensorsError(f"safetensors: {path}: header length {n} exceeds the file size {size}")
    try:
        header = json.loads(blob[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"safetensors: {path}: the header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"safetensors: {path}: the header must be a JSON object")
    return header, 8 + n


def read_safetensors(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Reads a safetensors file: its tensors (CPU, their stored dtype) and its metadata."""
    if HAVE_SAFETENSORS:
        with _st_safe_open(path, framework="pt") as f:
            metadata = dict(f.metadata() or {})
        return dict(_st_load_file(path)), metadata
    with open(path, "rb") as f:
        blob = f.read()
    header, start = _parse_header(path, blob, len(blob))
    metadata = header.pop("__metadata__", None) or {}
    data_len = len(blob) - start
    tensors: Dict[str, torch.Tensor] = {}
    for name, entry in header.items():
        try:
            dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise SafetensorsError(f"safetensors: {path}: tensor {name!r} needs dtype, shape and data_offsets") from None
        if dtype not in _DTYPES:
            raise SafetensorsError(f"safetensors: {path}: tensor {name!r} has dtype {dtype!r} (known: {', '.join(_DTYPES)})")
        np_dtype, torch_dtype = _DTYPES[dtype]
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if not (0 <= begin <= end <= data_len) or end - begin != count * np.dtype(np_dtype).itemsize:
            raise SafetensorsError(
                f"safetensors: {path}: tensor {name!r} ({dtype} {shape}) has data_offsets [{begin}, {end}], "
                f"which do not fit its size ({count * np.dtype(np_dtype).itemsize} bytes) in {data_len} bytes of data"
            )
        arr = np.frombuffer(blob, dtype=np.dtype(np_dtype).newbyteorder("<"), count=count, offset=start + begin).reshape(shape)
        t = torch.from_numpy(arr.astype(np_dtype, copy=True))
        tensors[name] = t.view(torch.bfloat16) if torch_dtype is torch.bfloat16 else t
    return tensors, {str(k): str(v) for k, v in metadata.items()}


def _serialize(tensors: Mapping[str, torch.Tensor], metadata: Optional[Mapping[str, str]]) -> bytes:
    header: dict = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        if t.dtype not in _NAMES:
            raise SafetensorsError(f"safetensors: tensor {name!r} has dtype {t.dtype}, which safetensors cannot store")
        raw = (t.view(torch.int16) if t.dtype is torch.bfloat16 else t).numpy()
        data = raw.astype(raw.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned, as safetensors writes it
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def write_safetensors(path: str, tensors: Mapping[str, torch.Tensor], metadata: Optional[Mapping[str, str]] = None) -> None:
    """Writes tensors (any device; stored contiguous, on the CPU) and string metadata to path, atomically."""
    if HAVE_SAFETENSORS:
        data = _st_save({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, metadata=dict(metadata or {}) or None)
    else:
        data = _serialize(tensors, metadata)
    atomic_write(path, data)


__all__ = ["read_safetensors", "write_safetensors", "SafetensorsError", "HAVE_SAFETENSORS"]
