"""Thread behaviour that holds up on a shared machine (set before torch loads its OpenMP runtime).

PyTorch's CPU kernels run on an OpenMP thread pool whose idle threads spin, waiting for the next
parallel region, for a while before they sleep (libgomp's default). A spiking simulation is thousands
of small operations, so its threads wait between regions all the time; when another busy process holds
one of the cores, a spinning thread steals the time slice the working one needs and every region waits
for a descheduled thread. ``OMP_WAIT_POLICY=PASSIVE`` makes waiting threads sleep instead: with one
competing process the slowdown stays about that of the lost core (measured: benchmarks/simulation_speed.py,
"contention"). A user's own setting wins.
"""

from __future__ import annotations

import os

WAIT_POLICY = "PASSIVE"


def configure_threads() -> None:
    """Set OpenMP's wait policy unless the user chose one; only effective before torch is imported."""
    os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)
