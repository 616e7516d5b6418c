"""Token embeddings of the UniVTG-style teacher: input projections, token types and video positions.

For video clip features v_i and text token features q_j::

    x_i^v = P_v(v_i) + E_type[1]            (video tokens, position p_i added to queries and keys)
    x_j^q = P_q(q_j) + E_type[0]            (text tokens, no position, as UniVTG's default)

P is a stack of ``LayerNorm -> Dropout -> Linear (-> ReLU)`` layers (ReLU on all but the last), and the
position of clip i is the sinusoid p_{i,2k} = sin(i / 10000^{2k/D}), p_{i,2k+1} = cos(i / 10000^{2k/D}).
Positions are added to the attention's queries and keys in every layer, not to its values (DETR style).
"""

from __future__ import annotations

import math

import torch
from torch import nn

VIDEO_TYPE = 1  # token-type ids as in UniVTG: text 0, video 1
TEXT_TYPE = 0


class InputProjection(nn.Sequential):
    """``n`` layers of LayerNorm, Dropout, Linear and ReLU (no ReLU after the last) from ``in_dim`` to ``out_dim``."""

    def __init__(self, in_dim: int, out_dim: int, num_layers: int, dropout: float):
        layers: list[nn.Module] = []
        for i in range(num_layers):
            layers += [nn.LayerNorm(in_dim if i == 0 else out_dim), nn.Dropout(dropout)]
            layers.append(nn.Linear(in_dim if i == 0 else out_dim, out_dim))
            if i < num_layers - 1:
                layers.append(nn.ReLU())
        super().__init__(*layers)


def sinusoidal_positions(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """(length, dim) sinusoids of the clip index: sin on even channels, cos on odd ones."""
    position = torch.arange(length, dtype=torch.float32, device=device)[:, None]  # (L, 1)
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)  # (L, D)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: dim // 2])  # odd D has one cos channel fewer
    return table


class TokenEmbedding(nn.Module):
    """Projects both modalities to ``hidden_dim``, adds token types and returns the [video; text] layout."""

    def __init__(self, video_dim: int, text_dim: int, hidden_dim: int, num_layers: int, dropout: float):
        super().__init__()
        self.video_proj = InputProjection(video_dim, hidden_dim, num_layers, dropout)
        self.text_proj = InputProjection(text_dim, hidden_dim, num_layers, dropout)
        self.token_type = nn.Embedding(2, hidden_dim)
        nn.init.normal_(self.token_type.weight, std=0.02)

    def forward(self, video: torch.Tensor, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return tokens (B, Lv + Lq, D), video first, and their positions (B, Lv + Lq, D), zero on text."""
        video_tokens = self.video_proj(video) + self.token_type.weight[VIDEO_TYPE]  # (B, Lv, D)
        text_tokens = self.text_proj(text) + self.token_type.weight[TEXT_TYPE]  # (B, Lq, D)
        tokens = torch.cat([video_tokens, text_tokens], dim=1)  # (B, Lv + Lq, D)
        batch, num_clips, dim = video_tokens.shape
        video_pos = sinusoidal_positions(num_clips, dim, video.device).expand(batch, -1, -1)  # (B, Lv, D)
        positions = torch.cat([video_pos, torch.zeros_like(text_tokens)], dim=1)  # (B, Lv + Lq, D)
        return tokens, positions
