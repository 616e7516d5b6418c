"""Both spiking 1-D convolution decoders of SpikingVTG and their read-out as one Lava process."""

from __future__ import annotations

from typing import Any

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var

from hw_sim.processes.common import packet_size, process_params


def decoder_populations(architecture: dict[str, Any]) -> list[str]:
    """The IF populations, in record order: ``f.0 .. f.{n_f - 2}``, then ``d.0 ..``."""
    return [f"{head}.{j}" for head in ("f", "d") for j in range(architecture[f"{head}_layers"] - 1)]


class DecoderReadout(AbstractProcess):
    """The f and d decoders on the last encoder layer's spikes of the real clips, and their read-outs.

    With h_0 = s_in[t] on the clips (0 on padding) and IF(I): u <- u + I, s = [u >= Vth] - [u <= -Vth],
    u <- u - Vth s (gamma = 1):

    .. math::

        h_j = IF_j(\\text{Conv}_j(h_{j-1})) \\odot m_v, \\quad j = 1..n-1; \\qquad
        y \\mathrel{+}= \\text{Conv}_n(h_{n-1})

    ``foreground`` (Lv, 1) and ``boundary`` (Lv, 2) accumulate y over the query's Tc steps (integer
    currents of units beta_n 2^-F in fixed point; the runner divides by Tc and rescales).

    Ports: ``features`` (the injected packet; its first two entries are the real lengths),
    ``s_in`` (L, D), ``record`` (P, Lv, D) for the P IF populations.
    Vars: ``lengths`` (2,), ``u_f`` (n_f - 1, Lv, D), ``u_d`` (n_d - 1, Lv, D) membranes (at least one
    row), ``foreground``, ``boundary``, ``counts`` (Tc, 1 + P): the decoders' input spikes, then each
    population's.
    """

    def __init__(
        self,
        *,
        parameters: tuple[dict[str, np.ndarray], dict[str, Any], dict[str, Any]],
        tc: int,
        max_video: int,
        max_text: int,
        record: bool = False,
        **kwargs,
    ) -> None:
        architecture = parameters[2]
        hidden = architecture["hidden_dim"]
        populations = max(1, len(decoder_populations(architecture)))
        record_shape = (populations, max_video, hidden) if record else None
        super().__init__(**process_params(parameters, tc, max_video, max_text, record_shape), **kwargs)
        self.features = InPort(shape=(packet_size(architecture, max_video, max_text),))
        self.s_in = InPort(shape=(max_video + max_text, hidden))
        self.record = OutPort(shape=(populations, max_video, hidden))
        self.lengths = Var(shape=(2,), init=0)
        for head in ("f", "d"):
            rows = max(1, architecture[f"{head}_layers"] - 1)
            setattr(self, f"u_{head}", Var(shape=(rows, max_video, hidden), init=0))
        self.foreground = Var(shape=(max_video, 1), init=0)
        self.boundary = Var(shape=(max_video, 2), init=0)
        self.counts = Var(shape=(tc, 1 + len(decoder_populations(architecture))), init=0)
