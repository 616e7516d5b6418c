"""Floating- and fixed-point behaviour of :class:`EncoderLayer` (one timestep per Lava step)."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from hw_sim.processes.base import SpikingProcessModel
from hw_sim.processes.encoder_layer.process import EncoderLayer
from spiking.populations import ENCODER_POPULATIONS


class AbstractEncoderLayerModel(SpikingProcessModel):
    """The step of :class:`EncoderLayer`; subclasses fix the number system."""

    def run_spk(self) -> None:
        self.receive_query()
        x = self.s_in.recv()
        a, key = self.arithmetic, f"layer{self.proc_params['index']}"
        if self.step_in_query == 0:
            for name in ENCODER_POPULATIONS:
                getattr(self, f"u_{name}")[:] = 0
            # rate-driven intermediate current: its state and the self-output's ASR trace, from rest
            self.drive_state = a.new_drive(self.u_int.shape, self.u_so.shape) if a.arch["rate_driven"] else None
        _, token_mask = self.masks()

        def lif(name: str, current: np.ndarray) -> np.ndarray:
            return a.lif(getattr(self, f"u_{name}"), current, f"{key}.{name}")

        q = a.linear(x, f"{key}.q")
        k = lif("k", a.linear(x, f"{key}.k"))
        v = lif("v", a.linear(x, f"{key}.v"))
        attn = lif("attn", a.attention(q, k, v, token_mask, self.proc_params["index"]))
        so = lif("so", a.linear(attn, f"{key}.so") + a.residual(x, f"{key}.so"))
        if self.drive_state is None:
            inter = lif("int", a.activation(a.linear(so, f"{key}.int"), f"{key}.int"))
        else:  # act(W_int a_so + b_int) at the self-output's running ASR, as its increment
            a.advance(self.drive_state)
            value = a.activation(a.rate_linear(self.drive_state, so, f"{key}.int"), f"{key}.int")
            inter = lif("int", a.drive(self.drive_state, value))
        out = lif("out", a.linear(inter, f"{key}.out") + a.residual(so, f"{key}.out"))
        self.s_out.send(out)
        populations = [k, v, attn, so, inter, out]
        for p, spikes in enumerate(populations):
            self.count(p, spikes, token_mask)
        self.send_report(populations)


@implements(proc=EncoderLayer, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyEncoderLayerModelFloat(AbstractEncoderLayerModel):
    precision = "float"
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    lengths: np.ndarray = LavaPyType(np.ndarray, np.int64)
    w_q: np.ndarray = LavaPyType(np.ndarray, float)
    b_q: np.ndarray = LavaPyType(np.ndarray, float)
    w_k: np.ndarray = LavaPyType(np.ndarray, float)
    b_k: np.ndarray = LavaPyType(np.ndarray, float)
    w_v: np.ndarray = LavaPyType(np.ndarray, float)
    b_v: np.ndarray = LavaPyType(np.ndarray, float)
    w_so: np.ndarray = LavaPyType(np.ndarray, float)
    b_so: np.ndarray = LavaPyType(np.ndarray, float)
    w_int: np.ndarray = LavaPyType(np.ndarray, float)
    b_int: np.ndarray = LavaPyType(np.ndarray, float)
    w_out: np.ndarray = LavaPyType(np.ndarray, float)
    b_out: np.ndarray = LavaPyType(np.ndarray, float)
    threshold: np.ndarray = LavaPyType(np.ndarray, float)
    fire: np.ndarray = LavaPyType(np.ndarray, float)
    u_k: np.ndarray = LavaPyType(np.ndarray, float)
    u_v: np.ndarray = LavaPyType(np.ndarray, float)
    u_attn: np.ndarray = LavaPyType(np.ndarray, float)
    u_so: np.ndarray = LavaPyType(np.ndarray, float)
    u_int: np.ndarray = LavaPyType(np.ndarray, float)
    u_out: np.ndarray = LavaPyType(np.ndarray, float)
    counts: np.ndarray = LavaPyType(np.ndarray, np.int64)


@implements(proc=EncoderLayer, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyEncoderLayerModelFixed(AbstractEncoderLayerModel):
    """Integer model: ternary spikes in and out, 24-bit membranes."""

    precision = "fixed"
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64, precision=2)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int64, precision=2)
    lengths: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=16)
    w_q: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=2)
    b_q: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    w_k: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=2)
    b_k: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    w_v: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=2)
    b_v: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    w_so: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=2)
    b_so: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    w_int: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=2)
    b_int: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    w_out: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=2)
    b_out: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    threshold: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    fire: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    u_k: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    u_v: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    u_attn: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    u_so: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    u_int: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    u_out: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    counts: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)
