"""Reference-based Deformable Self-Attention (RDSA, Sec. 3.3.4, Eq. 10-11).

Deformable CA predicts where to look from the decoder queries alone, which know nothing of the video
(the offsets collapse, Sec. 6.2). RDSA instead builds the query from the dense embeddings themselves, read
at key spots of each reference, so that query and keys live in the same space (a self-attention):

    X_Q = CNN(D^l)[l, c, r]  in R^{M x 3F}          (Eq. 10)
    Q = MLP(X_Q)  in R^{M x 64}                     (Eq. 10's W_Q^def; Sec. A: "an MLP ... to 64")
    Delta = G_Delta(Q),  A = G_A(Q)                 (Eq. 11)

then Eq. 9 as in :class:`DeformableAttention`. l, c, r are the reference's left edge c - w/2, centre c and
right edge c + w/2, read by bilinear sampling. The CNN (Sec. A: two 1-D convolutions of hidden size 256
with a LayerNorm and a ReLU between them) gives each clip the context of its neighbours; ``use_cnn=False``
and ``points`` in {("c",), ("l", "r"), ("l", "c", "r")} are Tab. M's ablations.
"""

from __future__ import annotations

import torch
from torch import nn

from sdst_teacher.sdst.blocks import MLP
from sdst_teacher.sdst.deformable_attention import DeformableAttention
from sdst_teacher.sdst.sampling import sample_1d

POINT_OFFSETS = {"l": -0.5, "c": 0.0, "r": 0.5}  # position = c + offset * w


class ContextCNN(nn.Module):
    """Conv1d(k=3) -> LayerNorm -> ReLU -> Conv1d(k=3) over time, keeping the length (Sec. A)."""

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.conv1 = nn.Conv1d(dim, hidden_dim, kernel_size=3, padding=1)
        self.norm = nn.LayerNorm(hidden_dim)
        self.conv2 = nn.Conv1d(hidden_dim, dim, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, D, L) -> (B, D, L)."""
        h = self.conv1(x).transpose(1, 2)  # (B, L, hidden)
        h = torch.relu(self.norm(h)).transpose(1, 2)  # (B, hidden, L)
        return self.conv2(h)


class RDSA(nn.Module):
    """Eq. 10-11 then Eq. 9: deformable attention whose query is sampled from CNN(D) at the reference's l, c, r."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        num_points: int,
        latent_dim: int,
        points: tuple[str, ...],
        use_cnn: bool,
        cnn_hidden: int,
    ):
        super().__init__()
        self.points = points
        self.cnn = ContextCNN(dim, cnn_hidden) if use_cnn else nn.Identity()
        self.query_proj = MLP(len(points) * dim, latent_dim, latent_dim, depth=2)  # W_Q^def (Eq. 10)
        self.attention = DeformableAttention(latent_dim, dim, num_heads, num_points)

    def key_positions(self, references: torch.Tensor) -> torch.Tensor:
        """Normalised positions of the sampled key spots: references (B, M, 2) -> (B, M, len(points))."""
        offsets = torch.tensor([POINT_OFFSETS[p] for p in self.points], device=references.device)  # (n,)
        return references[..., :1] + offsets * references[..., 1:]

    def forward(
        self,
        hidden: torch.Tensor,
        query_pos: torch.Tensor,
        references: torch.Tensor,
        dense: torch.Tensor,
        valid: torch.Tensor,
        span: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """references (B, M, 2), dense (B, L, D), valid (B, L) True on real clips, span (B,) the video's length
        in clips -> S (B, M, D), offsets (B, M, H, P), weights (B, M, H, P).

        ``hidden`` and ``query_pos`` are not used: RDSA's query comes from the video only (Eq. 10); they are
        accepted so the sparse stream calls every video-attention variant the same way.
        """
        mask = valid[:, None, :].to(dense.dtype)  # (B, 1, L)
        # Zero the padding before and after the CNN so neither the convolution nor the sampling reads it.
        context = self.cnn(dense.transpose(1, 2) * mask) * mask  # (B, D, L)
        positions = self.key_positions(references) * span[:, None, None]  # (B, M, n) in clip units
        spots = sample_1d(context, positions)  # (B, D, M, n)
        query = spots.permute(0, 2, 3, 1).flatten(2)  # (B, M, n * D), the concatenation [l, c, r]
        return self.attention(self.query_proj(query), references, dense, valid, span)
