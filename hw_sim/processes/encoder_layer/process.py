"""One spiking encoder layer of SpikingVTG (attention, self-output, intermediate, output) as one Lava process."""

from __future__ import annotations

from typing import Any

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var

from hw_sim.processes.common import packet_size, process_params, report_size, threshold_vars, weight_name
from spiking.populations import ENCODER_POPULATIONS

LINEAR = ("q", "k", "v", "so", "int", "out")  # the 1-bit (or float) linear maps, each a weight and a bias Var


class EncoderLayer(AbstractProcess):
    """Six populations of ternary LIF neurons fused into one process (one OS process per layer).

    With x = s_in[t] and LIF(I): u <- gamma u + I, s = [u >= Phi] - [u <= -Phi], u <- u - Vth s (Phi = r Vth):

    .. math::

        q = W_q x + b_q, \\quad s_k = LIF(W_k x + b_k), \\quad s_v = LIF(W_v x + b_v)

        s_{attn} = LIF(\\text{ReLU}(q s_k^T) s_v / L)  \\text{ per head, real keys only}

        s_{so} = LIF(W_{so} s_{attn} + b_{so} + x), \\quad s_{int} = LIF(act(W_{int} s_{so} + b_{int}))

        s\\_out = LIF(W_{out} s_{int} + b_{out} + s_{so})

    Weights are the layer's (1-bit: beta folded into thresholds and biases, export/fixed_point.py), held
    in Vars that the model reads at every step (``get`` reads them on a running network, ``set`` changes
    them). B queries run side by side (the leading axis of every port and state Var), each with its own
    token mask.

    Ports: ``features`` (B, packet) (each query's first two entries are its real lengths),
    ``s_in`` (B, L, D), ``s_out`` (B, L, D), ``report`` (flat): this step's counts (B, 6), then the
    spikes (B, 6, L, max(D, F)) when recording.
    Vars, state: ``lengths`` (B, 2), membranes ``u_k``, ``u_v``, ``u_attn``, ``u_so``, ``u_out`` (B, L, D)
    and ``u_int`` (B, L, F), ``counts`` (B, Tc, 6) spikes per step and population on the real tokens.
    Vars, parameters: ``w_q``, ``w_k``, ``w_v``, ``w_so`` (D, D), ``w_int`` (F, D), ``w_out`` (D, F) (fixed:
    the signs; float: the weights), their biases ``b_q`` .. ``b_out``, and ``threshold``, ``fire`` (6,) in
    the order of :data:`ENCODER_POPULATIONS` (fixed: Theta and Phi; float: Vth and r Vth).
    """

    def __init__(
        self,
        *,
        index: int,
        parameters: tuple[dict[str, np.ndarray], dict[str, Any], dict[str, Any]],
        tc: int,
        max_video: int,
        max_text: int,
        batch: int = 1,
        record: bool = False,
        **kwargs,
    ) -> None:
        arrays, _, architecture = parameters
        hidden, ffn = architecture["hidden_dim"], architecture["ffn_dim"]
        length = max_video + max_text
        record_shape = (batch, len(ENCODER_POPULATIONS), length, max(hidden, ffn)) if record else None
        key = f"layer{index}"
        places = {}
        for name in LINEAR:
            weight, bias = weight_name(arrays, f"{key}.{name}"), f"{key}.{name}.bias"
            setattr(self, f"w_{name}", Var(shape=arrays[weight].shape, init=arrays[weight]))
            setattr(self, f"b_{name}", Var(shape=arrays[bias].shape, init=arrays[bias]))
            places[weight], places[bias] = (f"w_{name}", None), (f"b_{name}", None)
        places.update(threshold_vars(self, parameters, [f"{key}.{name}" for name in ENCODER_POPULATIONS]))
        params = process_params(parameters, tc, batch, max_video, max_text, record_shape, places)
        super().__init__(**params, index=index, **kwargs)
        self.features = InPort(shape=(batch, packet_size(architecture, max_video, max_text)))
        self.s_in = InPort(shape=(batch, length, hidden))
        self.s_out = OutPort(shape=(batch, length, hidden))
        self.report = OutPort(shape=(report_size(batch, len(ENCODER_POPULATIONS), 0, record_shape),))
        self.lengths = Var(shape=(batch, 2), init=0)
        for name in ENCODER_POPULATIONS:
            setattr(self, f"u_{name}", Var(shape=(batch, length, ffn if name == "int" else hidden), init=0))
        self.counts = Var(shape=(batch, tc, len(ENCODER_POPULATIONS)), init=0)
