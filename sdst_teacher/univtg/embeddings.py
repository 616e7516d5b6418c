"""Token embeddings of the UniVTG-style teacher: input projections, token types and video positions.

For video clip features v_i and text token features q_j::

    x_i^v = P_v(v_i) + E_type[1]            (video tokens, position p_i added to queries and keys)
    x_j^q = P_q(q_j) + E_type[0]            (text tokens, no position, as UniVTG's default)

P is a stack of ``LayerNorm -> Dropout -> Linear (-> ReLU)`` layers (ReLU on all but the last), and the
position of clip i is the sinusoid p_{i,2k} = sin(i / 10000^{2k/D}), p_{i,2k+1} = cos(i / 10000^{2k/D}).
Positions are added to the attention's queries and keys in every layer, not to its values (DETR style).

UniVTG's own choices (``positions: normalized``, ``video_tef: true``): the position of clip i of a video
of n real clips is the same sinusoid of 2 pi (i + 1) / n instead of i (every padded clip gets n's), and
each real clip's features get the temporal endpoint feature (i / n, (i + 1) / n) appended (zeros on
padded clips, as UniVTG pads after appending it).
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


def normalized_positions(video_mask: torch.Tensor, dim: int) -> torch.Tensor:
    """(B, Lv, dim) sinusoids of 2 pi c_i / (n + 1e-6), c_i = number of real clips up to and including i.

    c_i = i + 1 on real clips and n on padded ones (a running count over the mask), n the video's real
    clips; channel 2k is sin(x / 10000^{2k/dim}) and 2k+1 its cos, as :func:`sinusoidal_positions`.
    """
    count = video_mask.to(torch.float32).cumsum(dim=1)  # (B, Lv)
    angle = count / (count[:, -1:] + 1e-6) * (2 * math.pi)  # (B, Lv); the last count is n (padding at the end)
    channel = torch.arange(dim, device=video_mask.device)
    # both channels of a sin/cos pair share one frequency, computed as a power like UniVTG's, for bit-closeness
    period = 10000.0 ** (2 * torch.div(channel, 2, rounding_mode="floor").to(torch.float32) / dim)  # (dim,)
    phase = angle[:, :, None] / period  # (B, Lv, dim)
    table = phase.clone()
    table[..., 0::2] = phase[..., 0::2].sin()
    table[..., 1::2] = phase[..., 1::2].cos()
    return table  # (B, Lv, dim)


def temporal_endpoints(video_mask: torch.Tensor) -> torch.Tensor:
    """(B, Lv, 2): (i / n, (i + 1) / n) on the real clips of a video of n real clips, 0 on padded clips."""
    num_clips = video_mask.sum(dim=1, keepdim=True).clamp(min=1).to(torch.float32)  # (B, 1)
    index = torch.arange(video_mask.shape[1], device=video_mask.device, dtype=torch.float32)[None]  # (1, Lv)
    start = index / num_clips  # (B, Lv)
    tef = torch.stack([start, start + 1.0 / num_clips], dim=-1)  # (B, Lv, 2)
    return tef * video_mask[..., None].to(tef.dtype)


class TokenEmbedding(nn.Module):
    """Projects both modalities to ``hidden_dim``, adds token types and returns the [video; text] layout.

    ``video_tef`` appends :func:`temporal_endpoints` to the video features (the projection reads
    ``video_dim + 2`` channels); ``positions`` is ``index`` or ``normalized`` (module docstring).
    """

    def __init__(
        self,
        video_dim: int,
        text_dim: int,
        hidden_dim: int,
        num_layers: int,
        dropout: float,
        video_tef: bool = False,
        positions: str = "index",
    ):
        super().__init__()
        self.video_tef = video_tef
        self.positions = positions
        self.video_proj = InputProjection(video_dim + (2 if video_tef else 0), hidden_dim, num_layers, dropout)
        self.text_proj = InputProjection(text_dim, hidden_dim, num_layers, dropout)
        self.token_type = nn.Embedding(2, hidden_dim)
        nn.init.normal_(self.token_type.weight, std=0.02)

    def forward(
        self, video: torch.Tensor, text: torch.Tensor, video_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return tokens (B, Lv + Lq, D), video first, and their positions (B, Lv + Lq, D), zero on text."""
        if self.video_tef:
            video = torch.cat([video, temporal_endpoints(video_mask).to(video.dtype)], dim=-1)  # (B, Lv, Dv + 2)
        video_tokens = self.video_proj(video) + self.token_type.weight[VIDEO_TYPE]  # (B, Lv, D)
        text_tokens = self.text_proj(text) + self.token_type.weight[TEXT_TYPE]  # (B, Lq, D)
        tokens = torch.cat([video_tokens, text_tokens], dim=1)  # (B, Lv + Lq, D)
        batch, num_clips, dim = video_tokens.shape
        if self.positions == "normalized":
            video_pos = normalized_positions(video_mask, dim).to(tokens.dtype)  # (B, Lv, D)
        else:
            video_pos = sinusoidal_positions(num_clips, dim, video.device).expand(batch, -1, -1)  # (B, Lv, D)
        positions = torch.cat([video_pos, torch.zeros_like(text_tokens)], dim=1)  # (B, Lv + Lq, D)
        return tokens, positions
