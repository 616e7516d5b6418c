"""Prediction heads of the UniVTG-style teacher: conv heads for f and d, and cosine saliency.

Given the encoded video tokens H_v (B, Lv, D) and text tokens H_q (B, Lq, D)::

    f_i = Conv_f(H_v)_i                              foreground logit of clip i
    d_i = n sigmoid(Conv_d(H_v)_i) = (ds_i, de_i)    offsets in clip units, in [0, n] for n real clips
    M   = H_q^T softmax(H_q w_p)                     attention-pooled sentence vector (B, D)
    s_i = cos(H_v,i, M)                              saliency in [-1, 1]

Conv is a stack of 1-D convolutions with ReLU between them (UniVTG's ``Conv``). As in UniVTG the
offsets are predicted as sigmoid fractions of the video's length, which keeps the regression on the
same scale whatever the video's length (its loss weights assume this); they are returned in clip units
(the ARCHITECTURE.md convention) by scaling with the number of real clips n.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvHead(nn.Module):
    """``num_layers`` 1-D convolutions over clips (same length out), ReLU between them.

    Padded clips are zeroed before every convolution, so a real clip next to padding sees exactly the
    zeros that the convolution's own padding would give: outputs on real clips do not depend on padding.
    ``mask_padding=False`` convolves the padded clips' tokens as they are, as UniVTG does (its outputs on
    a short video's last clips then depend on the longest video of the batch).
    """

    def __init__(self, dim: int, out_dim: int, num_layers: int, kernel: int, mask_padding: bool = True):
        super().__init__()
        self.mask_padding = mask_padding
        widths = [dim] * num_layers + [out_dim]
        self.convs = nn.ModuleList(
            nn.Conv1d(widths[i], widths[i + 1], kernel, padding=kernel // 2) for i in range(num_layers)
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, Lv, D), mask (B, Lv) True on real clips -> (B, Lv, out_dim)."""
        keep = mask[:, None, :].to(x.dtype) if self.mask_padding else torch.ones_like(x[:, :1, :1])  # (B, 1, Lv)
        x = x.transpose(1, 2)  # (B, D, Lv)
        for i, conv in enumerate(self.convs):
            x = conv(x * keep)
            if i < len(self.convs) - 1:
                x = F.relu(x)
        return x.transpose(1, 2)  # (B, Lv, out_dim)


class BoundaryHead(nn.Module):
    """(ds_i, de_i) = n sigmoid(Conv_d(H_v)_i): distances to the moment's start and end, in clip units."""

    def __init__(self, dim: int, num_layers: int, kernel: int, mask_padding: bool = True):
        super().__init__()
        self.conv = ConvHead(dim, 2, num_layers, kernel, mask_padding)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, Lv, D), mask (B, Lv) -> (B, Lv, 2) in [0, n_b] for the n_b real clips of video b."""
        num_clips = mask.sum(dim=1).to(x.dtype)[:, None, None]  # (B, 1, 1)
        return self.conv(x, mask).sigmoid() * num_clips  # (B, Lv, 2)


class AttentionPool(nn.Module):
    """M = X^T softmax(X w_p) over the real tokens: one vector per sequence (UniVTG's ``WeightedPool``)."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(dim, 1))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, L, D), mask (B, L) -> (B, D)."""
        logits = (x @ self.weight).squeeze(-1)  # (B, L)
        alpha = logits.masked_fill(~mask, float("-inf")).softmax(dim=-1)  # (B, L)
        return torch.einsum("bl,bld->bd", alpha, x)  # (B, D)


class SaliencyHead(nn.Module):
    """s_i = cos(h_i, M): each clip's encoded token against the attention-pooled sentence vector."""

    def __init__(self, dim: int):
        super().__init__()
        self.pool = AttentionPool(dim)

    def forward(
        self, video: torch.Tensor, video_mask: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return saliency (B, Lv), 0 on padded clips, and the sentence vectors M (B, D)."""
        sentence = self.pool(text, text_mask)  # (B, D)
        saliency = F.cosine_similarity(video, sentence[:, None, :], dim=-1)  # (B, Lv)
        return saliency.masked_fill(~video_mask, 0.0), sentence
