"""Floating- and fixed-point behaviour of :class:`DecoderReadout` (one timestep per Lava step)."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyInPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from hw_sim.processes.base import SpikingProcessModel
from hw_sim.processes.decoder_readout.process import DecoderReadout
from spiking.config import decoder_warmup_steps


class AbstractDecoderReadoutModel(SpikingProcessModel):
    """The step of :class:`DecoderReadout`; subclasses fix the number system."""

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self.warmup = decoder_warmup_steps(proc_params["architecture"]["decoder_warmup"], self.tc)

    def run_spk(self) -> None:
        self.receive_query()
        spikes = self.s_in.recv()
        if self.step_in_query == self.warmup:  # the decoders start from rest once the warm-up steps are over
            self.u_f[:], self.u_d[:] = 0, 0
            self.foreground[:], self.boundary[:] = 0, 0
        if self.step_in_query < self.warmup:  # the encoder's spikes are not read yet: nothing integrates or fires
            self.counts[:, self.step_in_query] = 0
            self.send_report([], self.foreground, self.boundary)
            return
        video_mask, _ = self.masks()
        keep = video_mask[..., None]
        x = spikes[:, : self.max_video] * keep  # (B, Lv, D) real clips only
        self.count(0, x, video_mask)
        populations = []
        for head, readout in (("f", self.foreground), ("d", self.boundary)):
            layers = self.proc_params["architecture"][f"{head}_layers"]
            membranes = getattr(self, f"u_{head}")
            h = x
            for j in range(layers - 1):
                key = f"decoder.{head}.{j}"
                h = self.arithmetic.lif(membranes[:, j], self.arithmetic.conv(h, key), key) * keep
                self.count(1 + len(populations), h, video_mask)
                populations.append(h)
            readout += self.arithmetic.conv(h, f"decoder.{head}.{layers - 1}")
        self.send_report(populations, self.foreground, self.boundary)


@implements(proc=DecoderReadout, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyDecoderReadoutModelFloat(AbstractDecoderReadoutModel):
    precision = "float"
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    lengths: np.ndarray = LavaPyType(np.ndarray, np.int64)
    w_f: np.ndarray = LavaPyType(np.ndarray, float)
    b_f: np.ndarray = LavaPyType(np.ndarray, float)
    w_d: np.ndarray = LavaPyType(np.ndarray, float)
    b_d: np.ndarray = LavaPyType(np.ndarray, float)
    threshold: np.ndarray = LavaPyType(np.ndarray, float)
    fire: np.ndarray = LavaPyType(np.ndarray, float)
    u_f: np.ndarray = LavaPyType(np.ndarray, float)
    u_d: np.ndarray = LavaPyType(np.ndarray, float)
    foreground: np.ndarray = LavaPyType(np.ndarray, float)
    boundary: np.ndarray = LavaPyType(np.ndarray, float)
    counts: np.ndarray = LavaPyType(np.ndarray, np.int64)


@implements(proc=DecoderReadout, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyDecoderReadoutModelFixed(AbstractDecoderReadoutModel):
    """Integer model: 24-bit IF membranes; the read-outs are sums of integer currents."""

    precision = "fixed"
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64, precision=2)
    lengths: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=16)
    w_f: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=2)  # signs
    b_f: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    w_d: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=2)
    b_d: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    threshold: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    fire: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    u_f: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    u_d: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    foreground: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=48)
    boundary: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=48)
    counts: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)
