"""One spiking encoder layer of SpikingVTG (attention, self-output, intermediate, output) as one Lava process."""

from __future__ import annotations

from typing import Any

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var

from hw_sim.processes.common import packet_size, process_params

POPULATIONS = ("k", "v", "attn", "so", "int", "out")


class EncoderLayer(AbstractProcess):
    """Six populations of ternary LIF neurons fused into one process (one OS process per layer).

    With x = s_in[t] and LIF(I): u <- gamma u + I, s = [u >= Vth] - [u <= -Vth], u <- u - Vth s:

    .. math::

        q = W_q x + b_q, \\quad s_k = LIF(W_k x + b_k), \\quad s_v = LIF(W_v x + b_v)

        s_{attn} = LIF(\\text{ReLU}(q s_k^T) s_v / L)  \\text{ per head, real keys only}

        s_{so} = LIF(W_{so} s_{attn} + b_{so} + x), \\quad s_{int} = LIF(act(W_{int} s_{so} + b_{int}))

        s\\_out = LIF(W_{out} s_{int} + b_{out} + s_{so})

    Weights are the layer's (1-bit: beta folded into thresholds, export/fixed_point.py) and reach the
    model as proc_params, fixed at compile time.

    Ports: ``features`` (the injected packet; its first two entries are the real lengths),
    ``s_in`` (L, D), ``s_out`` (L, D), ``record`` (6, L, max(D, F)).
    Vars: ``lengths`` (2,), membranes ``u_k``, ``u_v``, ``u_attn``, ``u_so``, ``u_out`` (L, D) and
    ``u_int`` (L, F), ``counts`` (Tc, 6) spikes per step and population on the real tokens.
    """

    def __init__(
        self,
        *,
        index: int,
        parameters: tuple[dict[str, np.ndarray], dict[str, Any], dict[str, Any]],
        tc: int,
        max_video: int,
        max_text: int,
        record: bool = False,
        **kwargs,
    ) -> None:
        architecture = parameters[2]
        hidden, ffn = architecture["hidden_dim"], architecture["ffn_dim"]
        length = max_video + max_text
        record_shape = (len(POPULATIONS), length, max(hidden, ffn)) if record else None
        super().__init__(**process_params(parameters, tc, max_video, max_text, record_shape), index=index, **kwargs)
        self.features = InPort(shape=(packet_size(architecture, max_video, max_text),))
        self.s_in = InPort(shape=(length, hidden))
        self.s_out = OutPort(shape=(length, hidden))
        self.record = OutPort(shape=(len(POPULATIONS), length, max(hidden, ffn)))
        self.lengths = Var(shape=(2,), init=0)
        for name in POPULATIONS:
            setattr(self, f"u_{name}", Var(shape=(length, ffn if name == "int" else hidden), init=0))
        self.counts = Var(shape=(tc, len(POPULATIONS)), init=0)
