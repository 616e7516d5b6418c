"""Spiking multi-head self-attention of SpikingVTG (paper Sec. 4.2, Eq. 7; SpikingBERT's attention).

At every timestep, from the layer's input spikes x[t] (B, L, D)::

    q[t]   = W_q x[t] + b_q                               real-valued (no neuron), as in SpikingBERT
    s_k[t] = LIF_k(W_k x[t] + b_k),  s_v[t] = LIF_v(W_v x[t] + b_v)       ternary spikes
    base:  alpha[t] = softmax(q[t] s_k[t]^T / sqrt(d_h))  over the real keys
    NF:    alpha[t] = ReLU(q[t] s_k[t]^T) / L              (Eq. 7, L = number of real tokens; no softmax)
    s_attn[t] = LIF_attn(alpha[t] s_v[t])                   heads concatenated back to D

Padded keys get zero weight in both kernels. In steady-state mode the neurons return rates and the
same code computes the equilibrium attention of Eq. 4 (SpikingBERT's steady-state approximation:
the product of rates stands for the rate of the product).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from spiking.neuron import TernaryLIF
from spiking.quant import make_linear


def attention_weights(scores: torch.Tensor, key_mask: torch.Tensor, normalization_free: bool) -> torch.Tensor:
    """Attention weights from raw scores q k^T (B, H, L, L) and the real keys (B, L) -> (B, H, L, L).

    Base: softmax(scores / sqrt(d_h)) over real keys. NF (Eq. 7): ReLU(scores) / L_b with L_b the
    number of real tokens of sample b, a local operation (no normalisation across keys).
    """
    keys = key_mask[:, None, None, :]  # (B, 1, 1, L)
    if normalization_free:
        length = key_mask.sum(-1).clamp(min=1).to(scores.dtype)[:, None, None, None]  # (B, 1, 1, 1)
        return torch.relu(scores) * keys / length
    return torch.softmax(scores.masked_fill(~keys, float("-inf")), dim=-1)


class SpikingSelfAttention(nn.Module):
    """Multi-head attention with real queries, spiking keys and values, and a spiking output.

    Neurons: ``k_lif``, ``v_lif`` (keys, values) and ``attn_lif`` (the attention output alpha s_v).
    """

    def __init__(self, hidden: int, heads: int, gamma: float, threshold: float, normalization_free: bool, binary: bool):
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.normalization_free = normalization_free
        self.query = make_linear(hidden, hidden, binary)
        self.key = make_linear(hidden, hidden, binary)
        self.value = make_linear(hidden, hidden, binary)
        self.k_lif = TernaryLIF(gamma, threshold)
        self.v_lif = TernaryLIF(gamma, threshold)
        self.attn_lif = TernaryLIF(gamma, threshold)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.heads, self.head_dim).transpose(1, 2)  # (B, H, L, dh)

    def forward(self, x: torch.Tensor, token_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Input spikes x (B, L, D), real tokens (B, L) -> attention spikes (B, L, D), weights (B, H, L, L)."""
        batch, length, hidden = x.shape
        q = self._split(self.query(x))  # (B, H, L, dh) real
        k = self._split(self.k_lif(self.key(x)))  # (B, H, L, dh) spikes
        v = self._split(self.v_lif(self.value(x)))  # (B, H, L, dh) spikes
        scores = q @ k.transpose(-1, -2)  # (B, H, L, L)
        if not self.normalization_free:
            scores = scores / math.sqrt(self.head_dim)
        weights = attention_weights(scores, token_mask, self.normalization_free)  # (B, H, L, L)
        context = (weights @ v).transpose(1, 2).reshape(batch, length, hidden)  # (B, L, D)
        return self.attn_lif(context), weights
