"""How the PyTorch peers set up the process: OpenBLAS on its own kernel choice, and one thread count
for every pool torch uses. Import this module, and call native_openblas(), before importing torch.

- This VM exports OPENBLAS_CORETYPE=Haswell and OPENBLAS_L2_SIZE=512 (for other tools). They force
  OpenBLAS onto its AVX2 kernel on a CPU where it would pick its AVX-512 one (Cooperlake), and they
  are read once, when the library loads: so the script runs itself again without them.
- torch.set_num_threads sizes torch's OpenMP pool, not the pthreads pool of Debian's OpenBLAS
  (libopenblas0-pthread), which starts with one thread per core: set_threads sets both.
"""
import ctypes
import os
import sys

FORCED = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def native_openblas():
    """Re-executes this script without the variables that force an OpenBLAS kernel, if any is set."""
    forced = [k for k in FORCED if k in os.environ]
    if not forced:
        return
    if not os.path.isfile(sys.argv[0]):  # python -c or a REPL: nothing to run again
        print(f"torch_env: {', '.join(forced)} set: OpenBLAS runs the kernel they force", file=sys.stderr)
        return
    env = {k: v for k, v in os.environ.items() if k not in FORCED}
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def _openblas():
    for name in ("libblas.so.3", "libopenblas.so.0"):
        try:
            lib = ctypes.CDLL(name)
            lib.openblas_get_corename  # raises AttributeError when this BLAS is not OpenBLAS
            return lib
        except (OSError, AttributeError):
            continue
    return None


def set_threads(n):
    import torch
    torch.set_num_threads(n)
    lib = _openblas()
    if lib is not None:
        lib.openblas_set_num_threads(ctypes.c_int(n))


def openblas_core():
    """The OpenBLAS kernel in use and its build, when the BLAS torch loaded is OpenBLAS (else None)."""
    lib = _openblas()
    if lib is None:
        return None
    lib.openblas_get_corename.restype = ctypes.c_char_p
    info = {"corename": lib.openblas_get_corename().decode()}
    try:
        lib.openblas_get_config.restype = ctypes.c_char_p
        info["config"] = lib.openblas_get_config().decode()
    except AttributeError:
        pass
    return info
