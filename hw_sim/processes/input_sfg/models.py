"""Floating- and fixed-point behaviour of :class:`InputSFG` (one timestep per Lava step)."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from hw_sim.processes.base import SpikingProcessModel
from hw_sim.processes.input_sfg.process import InputSFG


class AbstractInputSFGModel(SpikingProcessModel):
    """The step of :class:`InputSFG`; subclasses fix the number system."""

    def _unpack(self, packet: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The injected packets (B, packet) -> video (B, Lv_max, Dv), text (B, Lq_max, Dt)."""
        split = 2 + self.max_video * self.proc_params["architecture"]["video_dim"]
        video = packet[:, 2:split].reshape(self.batch, self.max_video, -1)
        return video, packet[:, split:].reshape(self.batch, self.max_text, -1)

    def run_spk(self) -> None:
        packet = self.receive_query()
        if self.step_in_query == 0:  # new queries: their features, and the state from rest
            video, text = self._unpack(packet)
            # once per query, not per step: a loop over the batch costs little here
            contexts = [self.arithmetic.prepare(v, t, int(n)) for v, t, n in zip(video, text, self.lengths[:, 1])]
            self.context = {name: np.stack([c[name] for c in contexts]) for name in contexts[0]}
            self.sfg_state = self.arithmetic.new_trace(self.trace.shape)
            self.gate[:] = self.arithmetic.first_gate(self.masks()[0])
            self.u[:] = 0
            self.drive_state = self.arithmetic.new_drive(self.u.shape) if self.arithmetic.arch["rate_driven"] else None
        video_mask, token_mask = self.masks()
        current = self.arithmetic.input_current(self.context, self.gate, token_mask)
        if self.drive_state is not None:  # rate-driven: the increment whose running mean is this current
            self.arithmetic.advance(self.drive_state)
            current = self.arithmetic.drive(self.drive_state, current)
        spikes = self.arithmetic.lif(self.u, current, "input")
        self.s_out.send(spikes)
        self.count(0, spikes, token_mask)
        last = self.a_in.recv()  # the last encoder layer's spikes of this same step
        self.score[:], self.gate[:] = self.arithmetic.sfg(
            self.sfg_state, last[:, : self.max_video], self.context, video_mask
        )
        self.trace[:] = self.sfg_state["trace"]
        self.send_report([spikes], self.score, self.gate)


@implements(proc=InputSFG, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyInputSFGModelFloat(AbstractInputSFGModel):
    precision = "float"
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    lengths: np.ndarray = LavaPyType(np.ndarray, np.int64)
    w_video: np.ndarray = LavaPyType(np.ndarray, float)
    b_video: np.ndarray = LavaPyType(np.ndarray, float)
    w_text: np.ndarray = LavaPyType(np.ndarray, float)
    b_text: np.ndarray = LavaPyType(np.ndarray, float)
    w_pool: np.ndarray = LavaPyType(np.ndarray, float)
    threshold: np.ndarray = LavaPyType(np.ndarray, float)
    fire: np.ndarray = LavaPyType(np.ndarray, float)
    u: np.ndarray = LavaPyType(np.ndarray, float)
    trace: np.ndarray = LavaPyType(np.ndarray, float)
    score: np.ndarray = LavaPyType(np.ndarray, float)
    gate: np.ndarray = LavaPyType(np.ndarray, float)
    counts: np.ndarray = LavaPyType(np.ndarray, np.int64)


@implements(proc=InputSFG, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyInputSFGModelFixed(AbstractInputSFGModel):
    """Integer model: ternary spikes on the ports, 24-bit membranes, integer trace, score and gate."""

    precision = "fixed"
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int64, precision=2)
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64, precision=2)
    lengths: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=16)
    w_video: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=2)  # signs
    b_video: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    w_text: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=2)
    b_text: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    w_pool: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    threshold: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    fire: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    u: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    trace: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    score: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=18)
    gate: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=13)
    counts: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)
