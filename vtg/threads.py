"""Intra-op threads that follow the cores other processes leave free, for training on a shared machine.

A small model's training step is thousands of short operations, each split over PyTorch's intra-op
threads, which wait for one another at its end. When another process takes one of two cores, every such
wait lasts until the descheduled thread gets a time slice back: measured on the demo student
(benchmarks/simulation_speed.py), one competing busy process slowed its 2-thread training step 3.7x,
where losing half the machine should cost 2x, while a 1-thread step was not slowed at all.

:class:`ThreadGovernor` samples, every ``interval_s`` seconds, how many cores the *other* processes kept
busy (the machine's busy time in /proc/stat minus this process's own in /proc/self/stat, so that this
process's threads, spinning or working, are not counted as competition) and sets

    threads = clamp(round(cores - others), 1, threads at start)

with ``torch.set_num_threads``. ``vtg train`` and ``vtg distill`` poll one before every training batch
(vtg/engine/trainer.py) unless the user chose the threads (``OMP_NUM_THREADS`` set); where /proc is
missing (not Linux) there is none.

The price is reproducibility: a reduction split over another number of threads rounds differently, and a
training run carries the difference on (make demo's SDST, trained while another process was briefly busy:
MR-full-R1@0.5 22.6 against 39.7 alone). The demo and the benchmarks fix the threads of the commands they
run (vtg/scripts.py); a user who needs a run to repeat exactly sets ``OMP_NUM_THREADS``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import torch

PROC_STAT = Path("/proc/stat")
SELF_STAT = Path("/proc/self/stat")
BUSY_FIELDS = (0, 1, 2, 5, 6, 7)  # user, nice, system, irq, softirq, steal of /proc/stat's cpu line


def machine_busy_ticks() -> int:
    """Clock ticks the whole machine has spent busy since boot (every process, every core)."""
    fields = PROC_STAT.read_text().split("\n", 1)[0].split()[1:]  # "cpu  user nice system idle ..."
    return sum(int(fields[i]) for i in BUSY_FIELDS if i < len(fields))


def own_busy_ticks() -> int:
    """Clock ticks this process has spent busy (user + system time of all its threads)."""
    # the command name (field 2) may hold spaces; the fields after its closing parenthesis are fixed
    fields = SELF_STAT.read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))


class ThreadGovernor:
    """Sets torch's intra-op threads to the cores other processes leave free (module docstring).

    ``poll()`` is cheap between samples (one clock read); ``clock``, ``machine`` and ``own`` are there
    so that tests can drive it without a busy machine.
    """

    def __init__(
        self,
        interval_s: float = 2.0,
        cores: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        machine: Callable[[], int] = machine_busy_ticks,
        own: Callable[[], int] = own_busy_ticks,
    ) -> None:
        self.interval_s = interval_s
        self.cores = cores or os.cpu_count() or 1
        self.most = torch.get_num_threads()
        self.clock, self.machine, self.own = clock, machine, own
        self.ticks_per_s = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.changes: list[tuple[float, int, float]] = []  # (seconds since start, threads, others) per change
        self._start = self._last = clock()
        self._machine, self._own = machine(), own()

    @classmethod
    def for_this_run(cls) -> ThreadGovernor | None:
        """A governor unless the user fixed the threads (``OMP_NUM_THREADS``) or /proc cannot be read."""
        if os.environ.get("OMP_NUM_THREADS") or torch.get_num_threads() < 2:
            return None
        try:
            return cls()
        except (OSError, ValueError, IndexError):
            return None

    def others(self, machine: int, own: int, seconds: float) -> float:
        """Cores the other processes kept busy since the last sample."""
        return max(0.0, (machine - self._machine) - (own - self._own)) / (self.ticks_per_s * seconds)

    def poll(self) -> int:
        """Resample when ``interval_s`` has passed and set the threads; return the threads in use."""
        now = self.clock()
        seconds = now - self._last
        if seconds < self.interval_s:
            return torch.get_num_threads()
        machine, own = self.machine(), self.own()
        others = self.others(machine, own, seconds)
        self._last, self._machine, self._own = now, machine, own
        threads = max(1, min(self.most, round(self.cores - others)))
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
            self.changes.append((round(now - self._start, 1), threads, round(others, 2)))
        return threads
