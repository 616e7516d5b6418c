"""One spiking encoder layer of SpikingVTG (paper Sec. 4.2, Fig. 1; SpikingBERT's encoder layer).

Per timestep, from input spikes x[t] (B, L, D)::

    s_attn = SpikingSelfAttention(x)                                   (see spiking/attention.py)
    s_so   = LIF_so(LN(W_so s_attn + b_so + x))                        self-output with residual
    s_int  = LIF_int(act(W_int s_so + b_int))                          intermediate, act = GELU or ReLU
             (rate-driven: LIF_int(RDC(act(W_int a_so + b_int))), a_so the self-output's running ASR)
    s_out  = LIF_out(LN(W_out s_int + b_out + s_so))                   output with residual

LN is LayerNorm in the base model and the identity in the NF variants (Sec. 4.6). Every linear is
1-bit in 1-bit NF. RDC is :class:`spiking.neuron.RateDrivenCurrent` (``model.rate_driven``). In
steady-state mode the neurons return clamp(I / Vth, -1, 1) and the same code is
the layer's equilibrium map of Eq. 4 (a_out* as a function of a_in*).
"""

from __future__ import annotations

import torch
from torch import nn

from spiking.attention import SpikingSelfAttention
from spiking.neuron import RateDrivenCurrent, TernaryLIF
from spiking.quant import make_linear

ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU}


class SpikingEncoderLayer(nn.Module):
    """Attention, self-output, intermediate and output sub-layers, each ending in ternary LIF neurons.

    Neurons (the activity probes' names): ``attention.k_lif``, ``attention.v_lif``,
    ``attention.attn_lif``, ``so_lif``, ``int_lif``, ``out_lif``.
    """

    def __init__(
        self,
        hidden: int,
        heads: int,
        ffn: int,
        gamma: float,
        threshold: float,
        activation: str,
        normalization_free: bool,
        binary: bool,
        rate_driven: bool = False,
    ):
        super().__init__()
        self.attention = SpikingSelfAttention(hidden, heads, gamma, threshold, normalization_free, binary)
        self.self_output = make_linear(hidden, hidden, binary)
        self.self_norm = nn.Identity() if normalization_free else nn.LayerNorm(hidden)
        self.so_lif = TernaryLIF(gamma, threshold)
        self.intermediate = make_linear(hidden, ffn, binary)
        self.activation = ACTIVATIONS[activation]()
        self.int_lif = TernaryLIF(gamma, threshold)
        self.int_current = RateDrivenCurrent(gamma) if rate_driven else None
        self.output = make_linear(ffn, hidden, binary)
        self.output_norm = nn.Identity() if normalization_free else nn.LayerNorm(hidden)
        self.out_lif = TernaryLIF(gamma, threshold)

    def forward(self, x: torch.Tensor, token_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Input spikes (B, L, D), real tokens (B, L) -> output spikes (B, L, D), attention (B, H, L, L)."""
        s_attn, weights = self.attention(x, token_mask)  # (B, L, D), (B, H, L, L)
        s_so = self.so_lif(self.self_norm(self.self_output(s_attn) + x))  # (B, L, D)
        if self.int_current is None:
            s_int = self.int_lif(self.activation(self.intermediate(s_so)))  # (B, L, F)
        else:  # the activation of the self-output's running rate, as in the steady state (Eq. 4)
            a_so = s_so if self.so_lif.steady_state else self.so_lif.rate  # (B, L, D)
            s_int = self.int_lif(self.int_current(self.activation(self.intermediate(a_so))))  # (B, L, F)
        s_out = self.out_lif(self.output_norm(self.output(s_int) + s_so))  # (B, L, D)
        return s_out, weights
