"""Post-norm transformer encoder layer that returns its attention probabilities (for CLRM).

With x the layer input, p the positions (zero on text tokens) and m the key padding mask::

    A   = softmax((x + p) W_q ((x + p) W_k)^T / sqrt(D / H) + log m)   per head, (B, H, L, L)
    y   = LayerNorm(x + DropPath(concat_h(A_h x W_v,h) W_o))
    out = LayerNorm(y + DropPath(W_2 GELU(W_1 y)))

as UniVTG's ``forward_post``. Padded keys get probability exactly 0, so every row of A sums to 1 over
the real tokens. The probabilities are returned before attention dropout, so they stay a distribution
in training mode too; dropout only thins the mixture of values.
"""

from __future__ import annotations

import torch
from torch import nn


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero a whole sample's residual branch with probability p, rescale the rest by 1/(1-p)."""
    if p == 0.0 or not training:
        return x
    keep = torch.rand(x.shape[0], *([1] * (x.dim() - 1)), device=x.device) >= p  # (B, 1, 1)
    return x * keep / (1.0 - p)


class SelfAttention(nn.Module):
    """Multi-head self-attention whose queries and keys see positions and whose values do not."""

    def __init__(self, dim: int, num_heads: int, dropout: float):
        super().__init__()
        self.num_heads = num_heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        return x.view(batch, length, self.num_heads, dim // self.num_heads).transpose(1, 2)  # (B, H, L, D/H)

    def forward(
        self, x: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x, positions (B, L, D); mask (B, L) True on real tokens -> output (B, L, D), probabilities (B, H, L, L)."""
        with_pos = x + positions
        q = self._split(self.query(with_pos))  # (B, H, L, D/H)
        k = self._split(self.key(with_pos))  # (B, H, L, D/H)
        v = self._split(self.value(x))  # (B, H, L, D/H)
        scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5  # (B, H, L, L)
        scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
        probs = scores.softmax(dim=-1)  # (B, H, L, L)
        mixed = self.dropout(probs) @ v  # (B, H, L, D/H)
        mixed = mixed.transpose(1, 2).flatten(2)  # (B, L, D)
        return self.out(mixed), probs


class EncoderLayer(nn.Module):
    """One post-norm encoder layer (attention, then GELU feed-forward), each with a residual and LayerNorm."""

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, dropout: float, droppath: float):
        super().__init__()
        self.attention = SelfAttention(dim, num_heads, dropout)
        self.norm1 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ffn_dim, dim))
        self.norm2 = nn.LayerNorm(dim)
        self.droppath = droppath
        for parameter in self.parameters():  # UniVTG initialises its encoder's matrices Xavier-uniform
            if parameter.dim() > 1:
                nn.init.xavier_uniform_(parameter)

    def forward(
        self, x: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x, positions (B, L, D); mask (B, L) -> output (B, L, D), attention probabilities (B, H, L, L)."""
        attended, probs = self.attention(x, positions, mask)
        x = self.norm1(x + drop_path(attended, self.droppath, self.training))  # (B, L, D)
        x = self.norm2(x + drop_path(self.ffn(x), self.droppath, self.training))  # (B, L, D)
        return x, probs
