"""Input neurons and saliency feedback gating of SpikingVTG as one Lava process."""

from __future__ import annotations

from typing import Any

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var

from hw_sim.processes.common import packet_size, process_params, report_size, threshold_vars, weight_name


class InputSFG(AbstractProcess):
    """Projects a query's features, drives the input neurons, and gates the video by SFG.

    Per query (first step): V = W_v x_v + b_v + P, Q = W_t x_t + b_t, M = Q^T phi(Q W_p).
    Per step t, with g[t] the gate (g0 = ``model.initial_gate`` on real clips at t = 0):

    .. math::

        u[t+\\delta] = \\gamma u[t] + [V g[t]; Q] \\odot m, \\quad
        s[t+1] = [u \\ge \\Phi] - [u \\le -\\Phi], \\quad u \\leftarrow u - V_{th} s

        a_{N_v}[t] = \\text{ASR of } a\\_in \\text{ on the clips}, \\quad
        F_s = \\cos(a_{N_v}, M), \\quad g[t+1] = \\text{minmax}(F_s)

    ``s_out`` sends s[t+1] before ``a_in`` receives the last encoder layer's spikes of the same step
    (the feedback loop's one-step delay). Fixed-point arithmetic: export/fixed_point.py.

    B queries run side by side (the leading axis of every port and state Var), each with its own
    lengths and masks: one Lava step advances all of them, which spreads the per-step handshake over B.

    Ports: ``features`` (B, packet): per query [n_video, n_text, video.flat, text.flat], from an
    Injector; ``s_out`` (B, L, D) input spikes, ``a_in`` (B, L, D) last layer's spikes, ``report``
    (flat): this step's counts (B,), score and gate (B, Lv), then the spikes (B, 1, L, D) when recording.
    Vars, state: ``lengths`` (B, 2) real clips and tokens, ``u`` (B, L, D), ``trace`` (B, Lv, D) the ASR
    trace, ``score`` (B, Lv) F_s, ``gate`` (B, Lv) g, ``counts`` (B, Tc, 1) spikes per step on real tokens.
    Vars, parameters (the bundle's values, read by the model at every step, so ``set`` takes effect):
    ``w_video`` (D, Dv), ``b_video`` (clips, D), ``w_text`` (D, Dt), ``b_text`` (D,), ``w_pool`` (D,) the
    pooling vector of M, ``threshold`` (1,) and ``fire`` (1,) (fixed: Theta and Phi; float: Vth and r Vth).
    """

    def __init__(
        self,
        *,
        parameters: tuple[dict[str, np.ndarray], dict[str, Any], dict[str, Any]],
        tc: int,
        max_video: int,
        max_text: int,
        batch: int = 1,
        record: bool = False,
        **kwargs,
    ) -> None:
        arrays, _, architecture = parameters
        hidden = architecture["hidden_dim"]
        length = max_video + max_text
        record_shape = (batch, 1, length, hidden) if record else None
        places = {}
        for var, key in (("w_video", weight_name(arrays, "input.video")), ("b_video", "input.video.bias"),
                         ("w_text", weight_name(arrays, "input.text")), ("b_text", "input.text.bias"),
                         ("w_pool", "sfg.pool")):  # fmt: skip
            setattr(self, var, Var(shape=arrays[key].shape, init=arrays[key]))
            places[key] = (var, None)
        places.update(threshold_vars(self, parameters, ["input"]))
        params = process_params(parameters, tc, batch, max_video, max_text, record_shape, places)
        super().__init__(**params, **kwargs)
        self.features = InPort(shape=(batch, packet_size(architecture, max_video, max_text)))
        self.s_out = OutPort(shape=(batch, length, hidden))
        self.a_in = InPort(shape=(batch, length, hidden))
        self.report = OutPort(shape=(report_size(batch, 1, 2 * batch * max_video, record_shape),))
        self.lengths = Var(shape=(batch, 2), init=0)
        self.u = Var(shape=(batch, length, hidden), init=0)
        self.trace = Var(shape=(batch, max_video, hidden), init=0)
        self.score = Var(shape=(batch, max_video), init=0)
        self.gate = Var(shape=(batch, max_video), init=0)
        self.counts = Var(shape=(batch, tc, 1), init=0)
