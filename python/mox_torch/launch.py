"""torchrun, with one fix for PyTorch < 2.0 on Python 3.11.

    python -m mox_torch.launch --standalone --nproc_per_node 2 -m mox_torch.train ...

takes torchrun's arguments and runs torch.distributed.run (what `torchrun` is). PyTorch 1.x parses
torchrun's default --redirects/--tee "0" by iterating its Std flag enum, and Python 3.11 no longer
iterates a flag's zero (NONE) or multi-bit (ALL) members, so every launch stops at start with
"'NoneType' object has no attribute 'get'". Std.from_str is replaced by one that looks values up
directly; on PyTorch 2, where this is fixed, the replacement gives the same answers.
"""

from __future__ import annotations

import re
import sys

from torch.distributed.elastic.multiprocessing import api


def _from_str(vm: str):
    """Std.from_str with Std(int) lookups: "0" -> NONE, "3" -> ALL, "0:3,1:0" -> {0: ALL, 1: NONE}."""
    if re.fullmatch(r"[0-3]", vm):
        return api.Std(int(vm))
    if re.fullmatch(r"([0-9]+:[0-3],)*[0-9]+:[0-3]", vm):
        return {int(i): api.Std(int(v)) for i, v in (m.split(":") for m in vm.split(","))}
    raise ValueError(f"{vm} does not match: <0-3> or <local_rank:0-3>,... (torchrun's --redirects / --tee)")


def main() -> None:
    """Runs torch.distributed.run's main on sys.argv, with the fixed Std.from_str."""
    api.Std.from_str = staticmethod(_from_str)  # type: ignore[method-assign]
    from torch.distributed.run import main as torchrun

    torchrun()


if __name__ == "__main__":
    sys.argv[0] = "torchrun"
    main()
