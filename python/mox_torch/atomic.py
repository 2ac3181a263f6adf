"""Atomic file writes: the bytes go to a hidden temporary file in the same folder, are flushed to disk,
and the file is renamed into place, so a crash leaves the old file or the whole new one, never half."""

from __future__ import annotations

import os
import secrets


def atomic_write(path: str, data: bytes) -> None:
    """Writes data to path atomically (temporary name, fsync, rename); the temporary file goes on failure."""
    folder, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
        raise
