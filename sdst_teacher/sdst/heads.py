"""Prediction heads (Sec. 3.4, Sec. A, Table A), applied to the outputs of every refinement level.

- Saliency (Eq. 16): Y^s = cos(D^K, T^pool), T^pool an attention pooling ("Adaptive-Pooling", Sec. C.1) of T.
- Class: a 1-layer MLP on H giving the logit of p (Eq. 17).
- Regression: a 3-layer MLP on H giving the update of the references (DAB-DETR, see queries.py).
- Actionness (Eq. 20): RoIAlign of size 16 of D^K over each predicted segment (widened by ``roi_scale``,
  0 in Table A), then a 3-layer MLP and a sigmoid, following TadTR [24].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sdst_teacher.sdst.blocks import MLP
from sdst_teacher.sdst.roi_pooling import roi_pool_1d
from sdst_teacher.sdst.segments import cw_to_se


class TextPooling(nn.Module):
    """T^pool = sum_j softmax_j(T_j w) T_j over the real tokens: (B, Lq, D), (B, Lq) pad -> (B, D)."""

    def __init__(self, dim: int):
        super().__init__()
        self.score = nn.Linear(dim, 1)

    def forward(self, text: torch.Tensor, text_pad: torch.Tensor) -> torch.Tensor:
        scores = self.score(text).squeeze(-1).masked_fill(text_pad, float("-inf"))  # (B, Lq)
        return torch.einsum("bl,bld->bd", scores.softmax(-1), text)  # (B, D)


def saliency_scores(dense: torch.Tensor, text_pool: torch.Tensor) -> torch.Tensor:
    """Eq. 16: cosine of each clip's embedding with the pooled text; dense (B, L, D), text_pool (B, D) -> (B, L)."""
    return F.cosine_similarity(dense, text_pool[:, None, :], dim=-1)


class ActionnessHead(nn.Module):
    """RoIAlign(size) of the dense embeddings over each segment, flattened, then a 3-layer MLP and a sigmoid."""

    def __init__(self, dim: int, roi_size: int, roi_scale: float):
        super().__init__()
        self.roi_size, self.roi_scale = roi_size, roi_scale
        self.mlp = MLP(dim * roi_size, dim, 1, depth=3)

    def forward(self, dense: torch.Tensor, spans: torch.Tensor, span: torch.Tensor) -> torch.Tensor:
        """dense (B, L, D), spans (B, M, 2) normalised c-w, span (B,) video length in clips -> (B, M) in [0, 1]."""
        widened = torch.stack([spans[..., 0], spans[..., 1] * (1.0 + self.roi_scale)], dim=-1)  # (B, M, 2)
        segments = cw_to_se(widened) * span[:, None, None]  # (B, M, 2) in clip units
        pooled = roi_pool_1d(dense.transpose(1, 2), segments, self.roi_size)  # (B, M, D, S)
        return self.mlp(pooled.flatten(2)).squeeze(-1).sigmoid()  # (B, M)
