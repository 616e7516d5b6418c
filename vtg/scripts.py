"""The toolkit's console scripts run as subprocesses: where they are, and the ``--json`` answer they print.

The demo (:mod:`vtg.demo`) and the benchmarks (``benchmarks/common.py``) run each step as the command a
user would type (``vtg train ...``, ``vtg-export ...``) with ``--json``, which prints exactly one JSON
object as the last line of stdout (docs/ARCHITECTURE.md); this module starts them and reads that object.

Their intra-op threads are fixed (``OMP_NUM_THREADS``, the caller's own count unless it set one): left to
``vtg train``'s thread governor (vtg/threads.py) they follow the machine's load, and a reduction split over
another number of threads rounds differently, which a training run carries on. Measured on make demo's SDST,
trained while another process was busy for a few seconds: MR-full-R1@0.5 22.6 against 39.7 alone, its best
epoch 12 against 26. Fixed, a demo's or a benchmark's numbers do not depend on what else the machine runs
(its time does).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


class CommandFailed(RuntimeError):
    """A command ended with a non-zero exit status; ``returncode`` is that status."""

    def __init__(self, command: list[str], returncode: int, tail: str):
        super().__init__(f"{' '.join(command)} failed with exit status {returncode}\n{tail}")
        self.returncode = returncode


def tool(name: str) -> str:
    """The console script ``name`` (``vtg``, ``vtg-export``) of the running environment.

    Beside ``sys.executable`` rather than looked up on PATH: the commands must run with the same
    interpreter and installed packages as the caller, whatever environment happens to be active.
    """
    return str(Path(sys.executable).with_name(name))


def fixed_threads() -> dict[str, str]:
    """The environment for a subprocess with the intra-op threads fixed (module docstring)."""
    import torch  # here: the module itself is read by tools that need no torch

    return {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS") or str(torch.get_num_threads())}


def run_json(command: list[str], log: Path | None = None, cwd: Path | None = None) -> dict[str, Any]:
    """Run ``command`` (in ``cwd``, default the caller's working directory) and return the JSON object it
    prints last on stdout.

    stderr (progress bars) goes to ``log`` when given, else through to the caller's stderr. A non-zero exit
    status raises :class:`CommandFailed` with the log's last 2000 characters.
    """
    stderr = open(log, "w") if log is not None else None  # noqa: SIM115 - closed below
    try:
        done = subprocess.run(command, cwd=cwd, stdout=subprocess.PIPE, stderr=stderr, text=True, env=fixed_threads())
    finally:
        if stderr is not None:
            stderr.close()
    if done.returncode != 0:
        tail = log.read_text()[-2000:] if log is not None else ""
        raise CommandFailed(command, done.returncode, tail)
    return json.loads(done.stdout.strip().splitlines()[-1])
