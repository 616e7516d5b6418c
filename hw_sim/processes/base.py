"""What every SpikingVTG process model shares: its number system, the query clock and activity records.

Each model timestep is one Lava step. Within a step, messages flow input -> layer 0 -> ... -> layer
N-1 -> decoder without delay (each process receives, computes and sends in its run_spk), and the
input/SFG process sends its spikes before it receives the last layer's, so the feedback of step t
acts at step t + 1 exactly as in :meth:`spiking.model.SpikingVTG.step` (no phase cycle is needed).
A query is Tc consecutive steps; every process resets its own state at the first of them
(``(time_step - 1) mod Tc == 0``), so the runner only runs Tc steps per batch of queries and never
rebuilds. B queries run side by side on a leading axis of every array: the lock-step handshake and the
messages of a step are paid once for B queries, and numpy does B queries' work per call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType

from hw_sim.arithmetic import ARITHMETIC


def _one_blas_thread() -> None:
    """Limit this OS process's BLAS to one thread (threadpoolctl, in requirements.lock; without it the
    environment's OPENBLAS_NUM_THREADS / OMP_NUM_THREADS decide)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=1, user_api="blas")


class VarValues(Mapping):
    """Bundle name -> its value, read from the model's Vars where the process put it (``places``), else
    from the bundle's proc_params (formats, shifts, look-up tables). Read at every use, so a Var changed
    by ``set`` between runs acts from the next step on."""

    def __init__(self, model: PyLoihiProcessModel, places: dict[str, tuple[str, Any]], fallback: dict) -> None:
        self.model, self.places, self.fallback = model, places, fallback

    def __getitem__(self, name: str) -> Any:
        place = self.places.get(name)
        if place is None:
            return self.fallback[name]
        value = getattr(self.model, place[0])
        return value if place[1] is None else value[place[1]]

    def __iter__(self):
        return iter({**self.fallback, **self.places})

    def __len__(self) -> int:
        return len({**self.fallback, **self.places})


class SpikingProcessModel(PyLoihiProcessModel):
    """Base of the models: ``self.arithmetic`` (fixed or float), ``self.step_in_query``, reports.

    Subclasses set ``precision`` ("fixed" or "float") and declare the types of their process's Vars
    and spike ports; every process has the InPort ``features``, the OutPort ``report`` and the Vars
    ``lengths``, ``counts``, ``threshold`` and ``fire``. Arrays carry B queries on their leading axis.
    """

    precision = "float"
    features: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    report: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        # Lava forks this OS process from the caller's; if the caller had already run torch's OpenMP
        # thread pool (any earlier torch work, e.g. in the same pytest run), the child's first parallel
        # torch op waits forever on the pool's copied state. One thread keeps torch off that pool here.
        torch.set_num_threads(1)
        # Likewise numpy's BLAS (the exact float64 products of hw_sim/arithmetic.py): N + 3 processes,
        # each with a thread per core, spin against one another and against any other busy process
        # (measured: 0.1 s of CPU took 13 s of wall time per step under one competing process).
        _one_blas_thread()
        self.tc, self.batch = proc_params["tc"], proc_params["batch"]
        places = proc_params["places"]
        # the Vars are set on the model after its constructor: VarValues reads them when used
        self.arithmetic = ARITHMETIC[self.precision](
            VarValues(self, places, proc_params["arrays"]),
            VarValues(self, places, proc_params["scalars"]),
            proc_params["architecture"],
        )
        self.max_video, self.max_text = proc_params["max_video"], proc_params["max_text"]
        self.record_shape = proc_params["record_shape"]  # None: spikes are not recorded

    def receive_query(self) -> np.ndarray:
        """This step's injected packets (B, packet); at a query's first step the real lengths go to ``lengths``."""
        packet = self.features.recv()
        if self.step_in_query == 0:
            self.lengths[:] = packet[:, :2]
        return packet

    @property
    def step_in_query(self) -> int:
        return (self.time_step - 1) % self.tc

    def masks(self) -> tuple[np.ndarray, np.ndarray]:
        """(video_mask (B, Lv_max), token_mask (B, Lv_max + Lq_max)) from the ``lengths`` Var."""
        video = np.arange(self.max_video) < self.lengths[:, :1]
        return video, np.concatenate([video, np.arange(self.max_text) < self.lengths[:, 1:2]], axis=1)

    def count(self, population: int, spikes: np.ndarray, mask: np.ndarray) -> None:
        """``counts[b, t, population]`` = sum |s| over query b's real tokens (the activity of ARCHITECTURE.md)."""
        self.counts[:, self.step_in_query, population] = (np.abs(spikes) * mask[..., None]).sum((1, 2))

    def send_report(self, populations: list[np.ndarray], *readouts: np.ndarray) -> None:
        """Send this step's counts, ``readouts`` and (when recording) the spikes of every population,
        (B, P, tokens, width) zero-padded, as one flat message: one transfer per step, where reading
        Vars would move every value in a message of its own."""
        parts = [self.counts[:, self.step_in_query].ravel(), *(r.ravel() for r in readouts)]
        if self.record_shape is not None:
            record = np.zeros(self.record_shape)
            for p, spikes in enumerate(populations):
                record[:, p, : spikes.shape[1], : spikes.shape[2]] = spikes
            parts.append(record.ravel())
        self.report.send(np.concatenate(parts))
