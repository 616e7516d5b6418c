"""What every SpikingVTG process model shares: its number system, the query clock and activity records.

Each model timestep is one Lava step. Within a step, messages flow input -> layer 0 -> ... -> layer
N-1 -> decoder without delay (each process receives, computes and sends in its run_spk), and the
input/SFG process sends its spikes before it receives the last layer's, so the feedback of step t
acts at step t + 1 exactly as in :meth:`spiking.model.SpikingVTG.step` (no phase cycle is needed).
A query is Tc consecutive steps; every process resets its own state at the first of them
(``(time_step - 1) mod Tc == 0``), so the runner only runs Tc steps per query and never rebuilds.
"""

from __future__ import annotations

import numpy as np
import torch
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType

from hw_sim.arithmetic import ARITHMETIC


class SpikingProcessModel(PyLoihiProcessModel):
    """Base of the models: ``self.arithmetic`` (fixed or float), ``self.step_in_query``, records.

    Subclasses set ``precision`` ("fixed" or "float") and declare the types of their process's Vars
    and spike ports; every process has the InPort ``features``, the OutPort ``record`` and the Vars
    ``lengths`` and ``counts``.
    """

    precision = "float"
    features: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    record: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        # Lava forks this OS process from the caller's; if the caller had already run torch's OpenMP
        # thread pool (any earlier torch work, e.g. in the same pytest run), the child's first parallel
        # torch op waits forever on the pool's copied state. One thread keeps torch off that pool here.
        torch.set_num_threads(1)
        self.tc = proc_params["tc"]
        self.arithmetic = ARITHMETIC[self.precision](
            proc_params["arrays"], proc_params["scalars"], proc_params["architecture"]
        )
        self.max_video, self.max_text = proc_params["max_video"], proc_params["max_text"]
        self.record_shape = proc_params["record_shape"]  # None: nobody listens to ``record``

    def receive_query(self) -> np.ndarray:
        """This step's injected packet; at a query's first step its real lengths go to ``lengths``."""
        packet = self.features.recv()
        if self.step_in_query == 0:
            self.lengths[:] = packet[:2]
        return packet

    @property
    def step_in_query(self) -> int:
        return (self.time_step - 1) % self.tc

    def masks(self) -> tuple[np.ndarray, np.ndarray]:
        """(video_mask (Lv_max,), token_mask (Lv_max + Lq_max,)) from the ``lengths`` Var."""
        n_video, n_text = (int(n) for n in self.lengths)
        video = np.arange(self.max_video) < n_video
        return video, np.concatenate([video, np.arange(self.max_text) < n_text])

    def count(self, population: int, spikes: np.ndarray, mask: np.ndarray) -> None:
        """``counts[t, population]`` = sum |s| over the real tokens (the activity of ARCHITECTURE.md)."""
        self.counts[self.step_in_query, population] = np.abs(spikes[mask]).sum()

    def send_record(self, populations: list[np.ndarray]) -> None:
        """Send this step's spikes of every population, (P, tokens, width) zero-padded, to ``record``."""
        if self.record_shape is None:
            return
        out = np.zeros(self.record_shape)
        for p, spikes in enumerate(populations):
            out[p, : spikes.shape[0], : spikes.shape[1]] = spikes
        self.record.send(out)
