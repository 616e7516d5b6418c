"""The sparse learning stream S (Sec. 3.3.3, Eq. 5-6): refines the decoder query embeddings H for MR.

    H^l = SA(CA(H^l, T^l, T^l))                          (Eq. 5)
    H^l = PFFN(RDSA(R^l, H^l, D^{l+1}))                  (Eq. 6)

The modules run in ``order`` (default ``ca, sa, def, ffn``; Tab. 7 drops modules, Tab. N permutes them),
where ``def`` is the video attention chosen by ``attention``: RDSA (Eq. 10-11), Def. CA (Eq. 7-9) or a
standard CA over all clips (Eq. 24-25, Tab. 5). Each module is a post-norm residual block with DropPath;
the positional query of the references is added to the queries (and SA's keys), as in DAB-DETR [23].
"""

from __future__ import annotations

import torch
from torch import nn

from sdst_teacher.sdst.blocks import AttentionBlock, DropPath, FeedForwardBlock
from sdst_teacher.sdst.config import RDSA_POINTS, SDSTConfig
from sdst_teacher.sdst.deformable_attention import DeformableCrossAttention
from sdst_teacher.sdst.position import clip_encoding
from sdst_teacher.sdst.rdsa import RDSA


class SparseStream(nn.Module):
    """Eq. 5-6 in a configurable order, with a configurable video attention."""

    def __init__(self, config: SDSTConfig):
        super().__init__()
        dim, heads, droppath = config.hidden_dim, config.num_heads, config.droppath
        self.order = config.sparse_order
        self.attention_kind = config.sparse_attention
        self.blocks = nn.ModuleDict()
        if "ca" in self.order:
            self.blocks["ca"] = AttentionBlock(dim, heads, droppath)
        if "sa" in self.order:
            self.blocks["sa"] = AttentionBlock(dim, heads, droppath)
        if "def" in self.order:
            if config.sparse_attention == "standard_ca":
                self.blocks["def"] = AttentionBlock(dim, heads, droppath)
            else:
                self.blocks["def"] = DeformableBlock(config)
        if "ffn" in self.order:
            self.blocks["ffn"] = FeedForwardBlock(dim, config.ffn_ratio, droppath)

    def forward(
        self,
        hidden: torch.Tensor,
        query_pos: torch.Tensor,
        references: torch.Tensor,
        text: torch.Tensor,
        text_pad: torch.Tensor,
        dense: torch.Tensor,
        video_pad: torch.Tensor,
        span: torch.Tensor,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """hidden, query_pos (B, M, D), references (B, M, 2), text (B, Lq, D), text_pad (B, Lq), dense (B, L, D)
        the conditioning signal, video_pad (B, L), span (B,) clips -> H (B, M, D) and the deformable offsets and
        weights (B, M, H, P) under "offsets" / "weights" when a deformable attention ran."""
        extras: dict[str, torch.Tensor] = {}
        for name in self.order:
            block = self.blocks[name]
            if name == "ca":
                hidden, _ = block(hidden, text, text_pad, pos_q=query_pos)  # (B, M, D), Eq. 5's CA
            elif name == "sa":
                # (B, M, D), Eq. 5's SA: proposals exchange information, told apart by their references
                hidden, _ = block(hidden, hidden, None, pos_q=query_pos, pos_k=query_pos)
            elif name == "ffn":
                hidden = block(hidden)  # (B, M, D), Eq. 6's PFFN
            elif self.attention_kind == "standard_ca":
                pos = clip_encoding(dense.shape[1], dense.shape[2], dense.device)[None]  # (1, L, D)
                hidden, _ = block(hidden, dense, video_pad, pos_q=query_pos, pos_k=pos)  # (B, M, D), every clip
            else:
                hidden, extras["offsets"], extras["weights"] = block(
                    hidden, query_pos, references, dense, ~video_pad, span
                )  # (B, M, D), Eq. 9 with Eq. 8 (Def. CA) or Eq. 10-11 (RDSA)
        return hidden, extras


class DeformableBlock(nn.Module):
    """Post-norm residual around RDSA or Def. CA: H = LN(H + DropPath(S)), S from Eq. 9."""

    def __init__(self, config: SDSTConfig):
        super().__init__()
        dim = config.hidden_dim
        if config.sparse_attention == "rdsa":
            self.attention = RDSA(
                dim,
                config.num_heads,
                config.deformable_points,
                config.rdsa_latent_dim,
                RDSA_POINTS[config.rdsa_points],
                config.rdsa_cnn,
                config.rdsa_cnn_hidden,
            )
        else:
            self.attention = DeformableCrossAttention(
                dim, config.num_heads, config.deformable_points, config.rdsa_latent_dim
            )
        self.drop_path = DropPath(config.droppath)
        self.norm = nn.LayerNorm(dim)

    def forward(
        self,
        hidden: torch.Tensor,
        query_pos: torch.Tensor,
        references: torch.Tensor,
        dense: torch.Tensor,
        valid: torch.Tensor,
        span: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> H (B, M, D), offsets (B, M, H, P), weights (B, M, H, P)."""
        sampled, offsets, weights = self.attention(hidden, query_pos, references, dense, valid, span)
        return self.norm(hidden + self.drop_path(sampled)), offsets, weights
