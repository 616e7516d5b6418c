"""One SDST layer (Eq. 1): D^{l+1}, R^{l+1}, H^{l+1} = SDST(D^l, R^l, H^l, V~^l, T~^l).

It projects the level's backbone features to the shared width (Eq. 2, two MLPs F_v: F_v -> F and
F_t: F_t -> F, with the input dropout of Table A), runs the dense stream (Eq. 3-4) and then the sparse
stream (Eq. 5-6) conditioned on the dense signal chosen by ``conditioning`` (Tab. 6). The reference update
R^{l+1} uses the shared regression head and is done by the model. With ``shared_levels`` one instance
serves all K levels (the paper); otherwise the model holds one per level (Tab. J).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sdst_teacher.sdst.blocks import MLP
from sdst_teacher.sdst.config import SDSTConfig
from sdst_teacher.sdst.dense_stream import DenseStream
from sdst_teacher.sdst.sparse_stream import SparseStream


@dataclass
class LayerOutput:
    """What one level produces; tensors are (B, L, D) for the video, (B, Lq, D) for the text, (B, M, D) for H."""

    dense: torch.Tensor  # D^{l+1}
    hidden: torch.Tensor  # H^{l+1}
    video: torch.Tensor  # V^l of Eq. 2 (aligned by Eq. 21-22)
    text: torch.Tensor  # T^l of Eq. 2
    attention: torch.Tensor | None  # the dense SA map (B, H, L, L) when asked for
    deformable: dict[str, torch.Tensor]  # offsets / weights (B, M, H, P) of RDSA or Def. CA


class SDSTLayer(nn.Module):
    """Eq. 2 projections, the dense stream and the sparse stream of one refinement level."""

    def __init__(self, config: SDSTConfig, video_dim: int, text_dim: int):
        super().__init__()
        dim = config.hidden_dim
        self.video_proj = MLP(video_dim, dim, dim, depth=2, dropout=config.dropout)  # F_v (Eq. 2)
        self.text_proj = MLP(text_dim, dim, dim, depth=2, dropout=config.dropout)  # F_t (Eq. 2)
        self.dense_stream = DenseStream(dim, config.num_heads, config.ffn_ratio, config.droppath)
        self.sparse_stream = SparseStream(config)
        self.conditioning = config.conditioning

    def forward(
        self,
        dense: torch.Tensor,
        beta: torch.Tensor,
        hidden: torch.Tensor,
        query_pos: torch.Tensor,
        references: torch.Tensor,
        video: torch.Tensor,
        text: torch.Tensor,
        video_pad: torch.Tensor,
        text_pad: torch.Tensor,
        span: torch.Tensor,
        need_weights: bool,
    ) -> LayerOutput:
        """dense (B, L, D) = D^l, beta () the level's gate, hidden and query_pos (B, M, D), references (B, M, 2),
        video (B, L, Fv) and text (B, Lq, Ft) the level's backbone features, pads True on padding, span (B,)."""
        video = self.video_proj(video)  # (B, L, D), V^l
        text = self.text_proj(text)  # (B, Lq, D), T^l
        gated = self.dense_stream.gate(dense, video, beta)  # (B, L, D), Eq. 3
        signals, attention = self.dense_stream(gated, text, text_pad, video_pad, need_weights)
        signals["raw"] = video
        condition = signals[self.conditioning]  # (B, L, D), the red arrow of Fig. 2a
        hidden, deformable = self.sparse_stream(
            hidden, query_pos, references, text, text_pad, condition, video_pad, span
        )  # (B, M, D)
        return LayerOutput(signals["ffn"], hidden, video, text, attention, deformable)
