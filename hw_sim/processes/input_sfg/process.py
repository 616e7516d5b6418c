"""Input neurons and saliency feedback gating of SpikingVTG as one Lava process."""

from __future__ import annotations

from typing import Any

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var

from hw_sim.processes.common import packet_size, process_params


class InputSFG(AbstractProcess):
    """Projects a query's features, drives the input neurons, and gates the video by SFG.

    Per query (first step): V = W_v x_v + b_v + P, Q = W_t x_t + b_t, M = Q^T phi(Q W_p).
    Per step t, with g[t] the gate (1 on real clips at t = 0):

    .. math::

        u[t+\\delta] = \\gamma u[t] + [V g[t]; Q] \\odot m, \\quad
        s[t+1] = [u \\ge V_{th}] - [u \\le -V_{th}], \\quad u \\leftarrow u - V_{th} s

        a_{N_v}[t] = \\text{ASR of } a\\_in \\text{ on the clips}, \\quad
        F_s = \\cos(a_{N_v}, M), \\quad g[t+1] = \\text{minmax}(F_s)

    ``s_out`` sends s[t+1] before ``a_in`` receives the last encoder layer's spikes of the same step
    (the feedback loop's one-step delay). Fixed-point arithmetic: export/fixed_point.py.

    Ports: ``features`` (packed [n_video, n_text, video.flat, text.flat], from an Injector),
    ``s_out`` (L, D) input spikes, ``a_in`` (L, D) last layer's spikes, ``record`` (1, L, D).
    Vars: ``lengths`` (2,) real clips and tokens, ``u`` (L, D), ``trace`` (Lv, D) the ASR trace,
    ``score`` (Lv,) F_s, ``gate`` (Lv,) g, ``counts`` (Tc, 1) spikes per step on real tokens.
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
        hidden = parameters[2]["hidden_dim"]
        length = max_video + max_text
        record_shape = (1, length, hidden) if record else None
        super().__init__(**process_params(parameters, tc, max_video, max_text, record_shape), **kwargs)
        self.features = InPort(shape=(packet_size(parameters[2], max_video, max_text),))
        self.s_out = OutPort(shape=(length, hidden))
        self.a_in = InPort(shape=(length, hidden))
        self.record = OutPort(shape=(1, length, hidden))
        self.lengths = Var(shape=(2,), init=0)
        self.u = Var(shape=(length, hidden), init=0)
        self.trace = Var(shape=(max_video, hidden), init=0)
        self.score = Var(shape=(max_video,), init=0)
        self.gate = Var(shape=(max_video,), init=0)
        self.counts = Var(shape=(tc, 1), init=0)
