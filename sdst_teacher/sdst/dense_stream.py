"""The dense learning stream D (Sec. 3.3.2, Eq. 3-4): frame-level refinement for highlight detection.

    D^l := beta^l D^l + (1 - beta^l) V^l                 (Eq. 3), beta^l in [0, 1], zero-initialised, per level
    D^{l+1} = PFFN(SA(CA(D^l, T^l, T^l)))               (Eq. 4)

CA injects the text (T^l without the CLS token: the batch's text tokens), SA models time with the clips'
sinusoidal encoding on its queries and keys, and every module is a post-norm residual block with DropPath.
The input projections of Eq. 2 live in :class:`~sdst_teacher.sdst.layer.SDSTLayer`; beta lives in the model,
one per level, because Eq. 3 makes it level-dependent even when the layers are shared.
"""

from __future__ import annotations

import torch
from torch import nn

from sdst_teacher.sdst.blocks import AttentionBlock, FeedForwardBlock
from sdst_teacher.sdst.position import clip_encoding


class DenseStream(nn.Module):
    """Eq. 4 on a gated dense embedding; returns every intermediate signal the sparse stream may be conditioned on."""

    def __init__(self, dim: int, num_heads: int, ffn_ratio: int, droppath: float):
        super().__init__()
        self.cross_attention = AttentionBlock(dim, num_heads, droppath)
        self.self_attention = AttentionBlock(dim, num_heads, droppath)
        self.ffn = FeedForwardBlock(dim, ffn_ratio, droppath)

    @staticmethod
    def gate(dense: torch.Tensor, video: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """Eq. 3: beta D + (1 - beta) V with beta = clamp(theta, 0, 1); dense, video (B, L, D), theta () -> (B, L, D).

        theta starts at 0, on the edge of [0, 1]: with a plain clamp, the first step that pushes it below 0 would
        freeze beta at 0 for good (zero gradient outside the interval). The clamp is therefore applied in the
        forward pass only (straight-through), so beta can leave 0 whenever the loss later asks for it.
        """
        beta = theta + (theta.clamp(0.0, 1.0) - theta).detach()  # value clamp(theta), gradient 1
        return beta * dense + (1.0 - beta) * video

    def forward(
        self,
        dense: torch.Tensor,
        text: torch.Tensor,
        text_pad: torch.Tensor,
        video_pad: torch.Tensor,
        need_weights: bool,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """dense (B, L, D) already gated by Eq. 3, text (B, Lq, D), text_pad (B, Lq) and video_pad (B, L) True on
        padding -> ({"ca", "sa", "ffn"}: each (B, L, D), "ffn" being D^{l+1}), SA map (B, H, L, L) or None."""
        after_ca, _ = self.cross_attention(dense, text, text_pad)  # (B, L, D)
        pos = clip_encoding(dense.shape[1], dense.shape[2], dense.device)[None]  # (1, L, D)
        after_sa, attention = self.self_attention(
            after_ca, after_ca, video_pad, pos_q=pos, pos_k=pos, need_weights=need_weights
        )  # (B, L, D), (B, H, L, L)
        after_ffn = self.ffn(after_sa)  # (B, L, D)
        return {"ca": after_ca, "sa": after_sa, "ffn": after_ffn}, attention
