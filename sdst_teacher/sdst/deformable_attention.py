"""Deformable attention over the dense stream (Eq. 7-9) and its cross-attention form (Def. CA, Tab. 5).

Given a query embedding Q per decoder query (how Q is made is what distinguishes Def. CA from RDSA),

    K = X_K W_K^def                                    (Eq. 7)
    Delta = G_Delta(Q),  A = softmax_p(G_A(Q))         (Eq. 8), per head, P points
    S = sum_p A_{:,p} K[c + (w / 2) * Delta_{:,p}]     (Eq. 9)

with c = R[:, 0], w = R[:, 1] the centre and width of each reference. Eq. 9 prints ``c + w * Delta``; the
factor 1/2 makes the offsets of -1 and +1 land on the reference's left and right edges, which is how
Sec. 6.2 and Fig. 4 read them ("-1 and +1 indicating the estimated left- and right-most boundaries").

Heads start at different places (Fig. 4 and A): G_Delta's weights are zero and its bias puts heads 0, 1, 2
(then again 3, 4, 5, ...) around the left edge, the right edge and the centre, their P points spread
over +-0.25 around it; G_A starts uniform, as in Deformable DETR [50].
"""

from __future__ import annotations

import torch
from torch import nn

from sdst_teacher.sdst.sampling import sample_1d

INITIAL_HEAD_OFFSETS = (-1.0, 1.0, 0.0)  # left edge, right edge, centre (Fig. 4 and A)


class DeformableAttention(nn.Module):
    """Eq. 7-9: aggregate P bilinearly sampled keys per head around each reference, weighted by A."""

    def __init__(self, query_dim: int, dim: int, num_heads: int, num_points: int):
        super().__init__()
        self.num_heads, self.num_points = num_heads, num_points
        self.key_proj = nn.Linear(dim, dim)  # W_K^def (Eq. 7)
        self.offsets = nn.Linear(query_dim, num_heads * num_points)  # G_Delta (Eq. 8)
        self.weights = nn.Linear(query_dim, num_heads * num_points)  # G_A (Eq. 8)
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.key_proj.weight)
        nn.init.xavier_uniform_(self.out_proj.weight)
        nn.init.zeros_(self.key_proj.bias)
        nn.init.zeros_(self.out_proj.bias)
        nn.init.zeros_(self.offsets.weight)
        base = torch.tensor([INITIAL_HEAD_OFFSETS[h % len(INITIAL_HEAD_OFFSETS)] for h in range(num_heads)])
        spread = torch.linspace(-0.25, 0.25, num_points) if num_points > 1 else torch.zeros(1)
        with torch.no_grad():
            self.offsets.bias.copy_((base[:, None] + spread[None, :]).flatten())  # (H * P,)
        nn.init.zeros_(self.weights.weight)
        nn.init.zeros_(self.weights.bias)

    @staticmethod
    def sampling_positions(references: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Normalised positions c + (w / 2) * Delta of Eq. 9: references (B, M, 2), offsets (B, M, H, P) -> same."""
        centre, width = references[..., 0], references[..., 1]  # (B, M)
        return centre[..., None, None] + 0.5 * width[..., None, None] * offsets

    def forward(
        self,
        query: torch.Tensor,
        references: torch.Tensor,
        dense: torch.Tensor,
        valid: torch.Tensor,
        span: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """query (B, M, Dq), references (B, M, 2) normalised c-w, dense (B, L, D), valid (B, L) True on real
        clips, span (B,) the video's length in clips -> S (B, M, D), offsets (B, M, H, P), weights (B, M, H, P)."""
        batch, num_queries, _ = query.shape
        heads, points = self.num_heads, self.num_points
        offsets = self.offsets(query).view(batch, num_queries, heads, points)  # (B, M, H, P)
        weights = self.weights(query).view(batch, num_queries, heads, points).softmax(-1)  # (B, M, H, P)
        positions = self.sampling_positions(references, offsets) * span[:, None, None, None]  # (B, M, H, P) clips
        keys = self.key_proj(dense) * valid[..., None]  # (B, L, D); padding reads as zeros, like outside the video
        head_dim = keys.shape[-1] // heads
        keys = keys.view(batch, -1, heads, head_dim).permute(0, 2, 3, 1).flatten(0, 1)  # (B*H, D/H, L)
        positions = positions.permute(0, 2, 1, 3).flatten(0, 1)  # (B*H, M, P)
        sampled = sample_1d(keys, positions)  # (B*H, D/H, M, P)
        sampled = sampled.view(batch, heads, head_dim, num_queries, points)  # (B, H, D/H, M, P)
        mixed = torch.einsum("bhcmp,bmhp->bmhc", sampled, weights).flatten(2)  # (B, M, D)
        return self.out_proj(mixed), offsets, weights


class DeformableCrossAttention(nn.Module):
    """Def. CA (Eq. 7-9): offsets and weights predicted from the decoder queries, Q = (H + P_R) W_Q^def."""

    def __init__(self, dim: int, num_heads: int, num_points: int, latent_dim: int):
        super().__init__()
        self.query_proj = nn.Linear(dim, latent_dim)  # W_Q^def (Eq. 7)
        self.attention = DeformableAttention(latent_dim, dim, num_heads, num_points)

    def forward(
        self,
        hidden: torch.Tensor,
        query_pos: torch.Tensor,
        references: torch.Tensor,
        dense: torch.Tensor,
        valid: torch.Tensor,
        span: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """hidden, query_pos (B, M, D), references (B, M, 2), dense (B, L, D), valid (B, L), span (B,)
        -> see :meth:`DeformableAttention.forward`."""
        return self.attention(self.query_proj(hidden + query_pos), references, dense, valid, span)
