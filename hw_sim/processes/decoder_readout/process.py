"""Both spiking 1-D convolution decoders of SpikingVTG and their read-out as one Lava process."""

from __future__ import annotations

from typing import Any

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var

from hw_sim.processes.common import packet_size, process_params, report_size, threshold_vars, weight_name
from spiking.populations import decoder_populations


class DecoderReadout(AbstractProcess):
    """The f and d decoders on the last encoder layer's spikes of the real clips, and their read-outs.

    With h_0 = s_in[t] on the clips (0 on padding) and IF(I): u <- u + I, s = [u >= Phi] - [u <= -Phi],
    u <- u - Vth s (gamma = 1):

    .. math::

        h_j = IF_j(\\text{Conv}_j(h_{j-1})) \\odot m_v, \\quad j = 1..n-1; \\qquad
        y \\mathrel{+}= \\text{Conv}_n(h_{n-1})

    ``foreground`` (Lv, 1) and ``boundary`` (Lv, 2) accumulate y over the steps the decoders read, Tc - k
    after a warm-up of k (integer currents of units beta_n 2^-F in fixed point; the runner divides by
    Tc - k and rescales).

    B queries run side by side (the leading axis of every port and state Var), each with its own masks.

    Ports: ``features`` (B, packet) (each query's first two entries are its real lengths),
    ``s_in`` (B, L, D), ``report`` (flat): this step's counts (B, 1 + P), the read-outs so far
    ``foreground`` and ``boundary`` (B, Lv, 3), then the spikes (B, P, Lv, D) when recording.
    Vars, state: ``lengths`` (B, 2), ``u_f`` (B, n_f - 1, Lv, D), ``u_d`` (B, n_d - 1, Lv, D) membranes
    (at least one row), ``foreground`` (B, Lv, 1), ``boundary`` (B, Lv, 2), ``counts`` (B, Tc, 1 + P):
    the decoders' input spikes, then each population's.
    Vars, parameters (the bundle's values, read by the model at every step, so ``set`` takes effect):
    ``w_f`` (n_f, C_out, C_in, k) and ``b_f`` (n_f, C_out) the f head's kernels and biases, layer j in
    row j (zero-padded to the largest layer: the read-out layer has 1 output channel), ``w_d``, ``b_d``
    the same for d (2 read-out channels); ``threshold`` and ``fire`` (P,) per IF population (fixed:
    Theta and Phi; float: Vth and r Vth).
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
        names = decoder_populations(architecture)
        populations = max(1, len(names))
        record_shape = (batch, populations, max_video, hidden) if record else None
        places = {}
        for head in ("f", "d"):
            keys = [f"decoder.{head}.{j}" for j in range(architecture[f"{head}_layers"])]
            kernels = [arrays[weight_name(arrays, key)] for key in keys]
            out, inputs = max(k.shape[0] for k in kernels), max(k.shape[1] for k in kernels)
            weights = np.zeros((len(keys), out, inputs, kernels[0].shape[2]), kernels[0].dtype)
            biases = np.zeros((len(keys), out), arrays[f"{keys[0]}.bias"].dtype)
            for j, (key, kernel) in enumerate(zip(keys, kernels)):
                weights[j, : kernel.shape[0], : kernel.shape[1]] = kernel
                biases[j, : kernel.shape[0]] = arrays[f"{key}.bias"]
                rows, columns = slice(0, kernel.shape[0]), slice(0, kernel.shape[1])
                places[weight_name(arrays, key)] = (f"w_{head}", (j, rows, columns))
                places[f"{key}.bias"] = (f"b_{head}", (j, rows))
            setattr(self, f"w_{head}", Var(shape=weights.shape, init=weights))
            setattr(self, f"b_{head}", Var(shape=biases.shape, init=biases))
        places.update(threshold_vars(self, parameters, names))
        params = process_params(parameters, tc, batch, max_video, max_text, record_shape, places)
        super().__init__(**params, **kwargs)
        self.features = InPort(shape=(batch, packet_size(architecture, max_video, max_text)))
        self.s_in = InPort(shape=(batch, max_video + max_text, hidden))
        self.report = OutPort(shape=(report_size(batch, 1 + len(names), 3 * batch * max_video, record_shape),))
        self.lengths = Var(shape=(batch, 2), init=0)
        for head in ("f", "d"):
            rows = max(1, architecture[f"{head}_layers"] - 1)
            setattr(self, f"u_{head}", Var(shape=(batch, rows, max_video, hidden), init=0))
        self.foreground = Var(shape=(batch, max_video, 1), init=0)
        self.boundary = Var(shape=(batch, max_video, 2), init=0)
        self.counts = Var(shape=(batch, tc, 1 + len(names)), init=0)
