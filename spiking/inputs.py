"""Input projections of SpikingVTG: backbone features to the core's hidden size D (paper Sec. 4.3).

    V = W_v video + b_v + P       (B, Lv, D), P the sinusoidal clip positions of the Transformer
    Q = W_t text + b_t            (B, Lq, D)

The paper projects both modalities into a shared space of size D and is silent on positions; the
clip positions follow UniVTG (the teacher whose representations CLRM matches), which adds them to
the video tokens. Both are real-valued and computed once per query: over the Tc timesteps they are
a constant input current (the input neurons' bias b_1 of Eq. 3 is the projections' bias). SFG gates V
whole, b_v and P included, where Eq. 3 adds b_1 outside the gate: a departure measured in
docs/STUDENT_FIDELITY.md ("What SFG gates") and kept. The projections are 1-bit in 1-bit NF like every
other weight matrix of the model.

``host_layers = n`` (config ``input_mlp`` and ``input_mlp_layers``) puts n real-valued layers before each
projection,

    x <- ReLU(W_h LN(x) + b_h)       (B, L, D_in), per modality, n times

as the layers of UniVTG's input projection (LayerNorm, Linear, ReLU). Like the features themselves they are
computed once per query, off the spiking core: every export target applies them on the host
(export/host_input.py). Measured on the demo data (README "Student
fidelity"): the students' boundary regression barely learns without it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from spiking.quant import make_linear


def sinusoidal_positions(length: int, dim: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """P[i, 2k] = sin(i / 10000^(2k/D)), P[i, 2k+1] = cos(i / 10000^(2k/D)) -> (length, dim)."""
    position = torch.arange(length, device=device, dtype=dtype)[:, None]  # (L, 1)
    frequency = torch.exp(torch.arange(0, dim, 2, device=device, dtype=dtype) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device, dtype=dtype)  # (L, D)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return table


HOST_NORM_EPS = 1e-5  # the host layers' LayerNorm epsilon (PyTorch's default), also applied by export/host_input.py


def host_mlp(dim: int, layers: int) -> nn.Sequential:
    """x -> ReLU(W LN(x) + b), ``layers`` times, dim -> dim: the real-valued host layers before a projection.

    Modules 3j, 3j + 1, 3j + 2 are layer j's LayerNorm, Linear and ReLU; ``layers = 0`` is the identity.
    """
    stages = [(nn.LayerNorm(dim, eps=HOST_NORM_EPS), nn.Linear(dim, dim), nn.ReLU()) for _ in range(layers)]
    return nn.Sequential(*[module for stage in stages for module in stage])


class InputProjection(nn.Module):
    """Video and text features (last backbone level) -> V (B, Lv, D) and Q (B, Lq, D)."""

    def __init__(self, video_dim: int, text_dim: int, hidden: int, binary: bool, host_layers: int = 0):
        super().__init__()
        self.video_host = host_mlp(video_dim, host_layers)
        self.text_host = host_mlp(text_dim, host_layers)
        self.video = make_linear(video_dim, hidden, binary)
        self.text = make_linear(text_dim, hidden, binary)

    def forward(self, video: torch.Tensor, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        video, text = self.video_host(video), self.text_host(text)  # (B, Lv, Dv), (B, Lq, Dt)
        v = self.video(video)  # (B, Lv, D)
        # the table in float32 at least: under mixed precision v is bf16, whose 8 bits would give positions
        # off by up to 1 (and equal above 256), unlike evaluation's and the exports'
        table = sinusoidal_positions(v.shape[1], v.shape[2], v.device, torch.promote_types(v.dtype, torch.float32))
        v = (v + table).to(v.dtype)  # (B, Lv, D)
        return v, self.text(text)  # (B, Lv, D), (B, Lq, D)
